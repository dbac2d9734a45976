package pas

import (
	"context"
	"encoding/json"
	"errors"
	"hemopa/cmd/hemopa/internal/davinci"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// testStore is the contract every Store implementation meets.
func testStore(t *testing.T, st Store) {
	ctx := context.Background()
	if _, err := st.Load(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Load of an unknown key: %v, want ErrNotFound", err)
	}
	a := &Record{Key: "k1", Claim: []Identifier{{System: "s", Value: "A"}, {Value: "B"}}, Created: time.Unix(100, 0).UTC(),
		Outcome: "complete", Response: json.RawMessage(`{"resourceType":"Bundle"}`), Inquiry: json.RawMessage(`{}`),
		Items: []ItemRecord{{Sequence: 1, Decision: "approve", Determination: json.RawMessage(`{"decision":"approve"}`)}}}
	b := &Record{Key: "k2", Claim: []Identifier{{Value: "A"}}, Created: time.Unix(200, 0).UTC(), Response: json.RawMessage(`{}`)}
	c := &Record{Key: "k3", Claim: []Identifier{{Value: "A\x00x"}}, Response: json.RawMessage(`{}`)}
	for _, r := range []*Record{a, b, c} {
		if err := st.Save(ctx, r.Key, r); err != nil {
			t.Fatal(err)
		}
	}
	got, err := st.Load(ctx, "k1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Outcome != "complete" || string(got.Response) != `{"resourceType":"Bundle"}` || !got.Created.Equal(a.Created) ||
		len(got.Items) != 1 || string(got.Items[0].Determination) != `{"decision":"approve"}` {
		t.Errorf("Load returned %+v", got)
	}
	keys := func(rs []*Record) []string {
		var ks []string
		for _, r := range rs {
			ks = append(ks, r.Key)
		}
		slices.Sort(ks)
		return ks
	}
	for value, want := range map[string][]string{"A": {"k1", "k2"}, "B": {"k1"}, "C": nil, "A\x00x": {"k3"}} {
		rs, err := st.ListByClaim(ctx, value)
		if err != nil {
			t.Fatal(err)
		}
		if got := keys(rs); !slices.Equal(got, want) {
			t.Errorf("ListByClaim(%q) = %v, want %v", value, got, want)
		}
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := st.Save(cancelled, "k4", a); err == nil {
		t.Error("Save with a cancelled context succeeded")
	}
	testAuthorizations(t, st)
}

// testAuthorizations: an authorization granted at order time is found by
// patient, order and drug; recording it twice is fine; a later one for the
// same order replaces it.
func testAuthorizations(t *testing.T, st Store) {
	ctx := context.Background()
	if _, err := st.OrderAuthorization(ctx, "p", "MedicationRequest/m", "Hemgenix"); !errors.Is(err, ErrNoAuthorization) {
		t.Fatalf("unknown authorization: %v, want ErrNoAuthorization", err)
	}
	a := davinci.OrderAuthorization{ID: "HEMOPA-1", Patient: "p", Order: "MedicationRequest/m", Drug: "Hemgenix",
		Policy: "label-aligned-hemgenix", Issued: "2026-11-24", Expires: "2027-05-23", DeterminationKey: "k"}
	for range 2 {
		if err := st.RecordAuthorization(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := st.OrderAuthorization(ctx, "p", "MedicationRequest/m", "Hemgenix"); err != nil || *got != a {
		t.Errorf("OrderAuthorization = %+v, %v; want %+v", got, err, a)
	}
	for _, k := range [][3]string{{"q", "MedicationRequest/m", "Hemgenix"}, {"p", "MedicationRequest/n", "Hemgenix"}, {"p", "MedicationRequest/m", "Beqvez"}} {
		if _, err := st.OrderAuthorization(ctx, k[0], k[1], k[2]); !errors.Is(err, ErrNoAuthorization) {
			t.Errorf("OrderAuthorization%v: %v, want ErrNoAuthorization", k, err)
		}
	}
	b := a
	b.ID = "HEMOPA-2"
	if err := st.RecordAuthorization(ctx, b); err != nil {
		t.Fatal(err)
	}
	if got, err := st.OrderAuthorization(ctx, "p", "MedicationRequest/m", "Hemgenix"); err != nil || got.ID != "HEMOPA-2" {
		t.Errorf("after a later authorization: %+v, %v", got, err)
	}
}

func TestMemStore(t *testing.T) { testStore(t, NewMemStore()) }

func TestBoltStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "pas.db")
	st, err := OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	testStore(t, st)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	// Reopened, the records are there.
	st, err = OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rs, err := st.ListByClaim(context.Background(), "A")
	if err != nil || len(rs) != 2 {
		t.Fatalf("after reopening: %d records, %v", len(rs), err)
	}
	if a, err := st.OrderAuthorization(context.Background(), "p", "MedicationRequest/m", "Hemgenix"); err != nil || a.ID != "HEMOPA-2" {
		t.Fatalf("after reopening: authorization %+v, %v", a, err)
	}
	// A second opener of the same file fails instead of hanging.
	if _, err := OpenBolt(path); err == nil {
		t.Error("a second open of a held store succeeded")
	}
}

package davinci

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"hemopa/rules"
)

func det(d rules.Decision, days int) *rules.Determination {
	out := &rules.Determination{Policy: "p", PolicyVersion: "2026-01-01", Drug: "Hemgenix", AsOf: "2026-11-24", Decision: d}
	if days > 0 {
		out.ApprovalDays = &days
	}
	if d == rules.Pend {
		out.Missing = []string{"1.A: FIX activity"}
	}
	return out
}

func TestPASOutcome(t *testing.T) {
	errs := []PASError{{ItemSequence: 1, Reason: "33"}}
	for _, tc := range []struct {
		items []PASItem
		errs  []PASError
		want  string
	}{
		{[]PASItem{{Sequence: 1, Det: det(rules.Approve, 0)}}, nil, "complete"},
		{[]PASItem{{Sequence: 1, Det: det(rules.Deny, 0)}, {Sequence: 2, Det: det(rules.NotCovered, 0)}}, nil, "complete"},
		{[]PASItem{{Sequence: 1, Det: det(rules.Pend, 0)}}, nil, "partial"},
		{[]PASItem{{Sequence: 1, Det: det(rules.Approve, 0)}, {Sequence: 2, NotReviewed: "x"}}, nil, "partial"},
		{[]PASItem{{Sequence: 1, Det: det(rules.Approve, 0)}}, errs, "partial"},
		{[]PASItem{{Sequence: 1, NotReviewed: "x"}}, errs, "error"},
		{[]PASItem{{Sequence: 1, NotReviewed: "x"}}, nil, "partial"},
	} {
		if got := PASOutcome(tc.items, tc.errs); got != tc.want {
			t.Errorf("%+v %v: %s, want %s", tc.items, tc.errs, got, tc.want)
		}
	}
}

func TestPASClaimResponse(t *testing.T) {
	r := PASResponse{
		ID: "k", PreAuthRef: "HEMOPA-K", AsOf: "2026-11-24",
		Identifier: []json.RawMessage{json.RawMessage(`{"system":"s","value":"v"}`)},
		Subject:    Subject{Patient: "Patient/p", Insurer: "Organization/i", Requestor: "PractitionerRole/r", Created: time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)},
		Request:    O("reference", "http://x/Claim/c"),
		Items: []PASItem{
			{Sequence: 3, Det: det(rules.Approve, 180)},
			{Sequence: 4, Det: det(rules.Approve, 180), FollowsItem: 3},
			{Sequence: 7, NotReviewed: "not a gene therapy"},
		},
		Errors: []PASError{{ItemSequence: 3, Reason: "33", ReasonText: "Input Errors", Rule: "units", Text: "2 units", Element: "2000F-SV2", Path: "Bundle.entry[0].resource.item[0].quantity"}},
	}
	cr := r.ClaimResponse()
	a, err := JSON(cr, false)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Encode(cr)
	if err != nil {
		t.Fatal(err)
	}
	if string(a) != string(b) {
		t.Fatalf("Encode differs from JSON:\n%s\n%s", a, b)
	}
	var v struct {
		Outcome       string
		PreAuthRef    string
		PreAuthPeriod struct{ Start, End string }
		Request       struct{ Reference string }
		Item          []struct {
			ItemSequence int
			NoteNumber   []int
		}
		Error []struct {
			ItemSequence int
			Code         struct {
				Coding []struct{ System, Code string }
			}
		}
		ProcessNote []struct {
			Number int
			Text   string
		}
	}
	if err := json.Unmarshal(a, &v); err != nil {
		t.Fatal(err)
	}
	if v.Outcome != "partial" || v.PreAuthRef != "HEMOPA-K" || v.PreAuthPeriod.End != "2027-05-23" || v.Request.Reference != "http://x/Claim/c" {
		t.Errorf("header: %+v", v)
	}
	if len(v.Item) != 3 || v.Item[0].ItemSequence != 3 || v.Item[2].ItemSequence != 7 {
		t.Errorf("items: %+v", v.Item)
	}
	for _, it := range v.Item {
		for _, n := range it.NoteNumber {
			if n < 1 || n > len(v.ProcessNote) || v.ProcessNote[n-1].Number != n {
				t.Errorf("item %d: note %d does not exist", it.ItemSequence, n)
			}
		}
	}
	if !strings.Contains(v.ProcessNote[v.Item[2].NoteNumber[0]-1].Text, "not a gene therapy") {
		t.Errorf("notes: %+v", v.ProcessNote)
	}
	if len(v.Error) != 1 || v.Error[0].ItemSequence != 3 || v.Error[0].Code.Coding[0].System != X12RejectReason {
		t.Errorf("errors: %+v", v.Error)
	}
	codes := map[int]string{}
	for _, it := range r.Items {
		codes[it.Sequence], _ = PASReviewAction(it)
	}
	if codes[3] != "A1" || codes[4] != "A1" || codes[7] != "A4" {
		t.Errorf("review actions %v", codes)
	}
}

func TestEncodeMatchesJSON(t *testing.T) {
	v := O("a", "x\"<y>&\u00e9\n", "b", A(1, true, 2.5, json.Number("1.0"), O("c", json.RawMessage("{ \"z\" : [1, 2] }"))), "d", A())
	a, _ := JSON(v, false)
	b, err := Encode(v)
	if err != nil || string(a) != string(b) {
		t.Errorf("Encode %s (%v), JSON %s", b, err, a)
	}
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hemopa/cmd/hemopa/internal/testenv"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"hemopa/cmd/hemopa/internal/pipeline"
	"hemopa/fhir"
)

// search is one planned search, split.
type search struct {
	typ string
	q   url.Values
	raw string
}

func splitPlan(t *testing.T, plan []string) []search {
	t.Helper()
	var out []search
	for _, s := range plan {
		typ, q, _ := strings.Cut(s, "?")
		v, err := url.ParseQuery(q)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		out = append(out, search{typ: typ, q: v, raw: s})
	}
	return out
}

// catalogFloor is the first day of the longest window the policies use,
// computed here straight from the catalog's FactWindows.
func catalogFloor(t *testing.T, spec string, asOf time.Time) time.Time {
	t.Helper()
	pols := testenv.Policies(t, spec)
	floor := asOf
	for _, p := range pols {
		for _, w := range p.FactWindows() {
			if !w.IsZero() && w.Start(asOf).Before(floor) {
				floor = w.Start(asOf)
			}
		}
	}
	if floor.Equal(asOf) {
		t.Fatalf("%s: no windowed fact in the catalog", spec)
	}
	return floor
}

const categorySystem = "http://terminology.hl7.org/CodeSystem/observation-category"

// TestFetchPlanBreadth: the live batch asks for the whole record, not only
// for the codes the tables know — no search filters by code; Observations
// not categorised vital signs (laboratory, imaging, exam, any other category
// or none) over the whole record because the policies read inhibitor titers
// as histories; vital signs from the start of the longest window of the
// selected policies, plus undated ones; and every resource type where
// diagnoses, medicines, procedures, claims, attestations and reports are
// written, with no status or date filter.
func TestFetchPlanBreadth(t *testing.T) {
	p, err := pipeline.New()
	if err != nil {
		t.Fatal(err)
	}
	vitals := categorySystem + "|vital-signs"
	for _, tc := range []struct {
		spec string
		asOf time.Time
	}{
		{"all", time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)},
		{"ucare-hemgenix", time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)},
		{"label-aligned-hemgenix", time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)},
		{"label-aligned-hemgenix", time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC)},
		{"ny-pharmacy-109-roctavian", time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)},
	} {
		t.Run(tc.spec+"@"+tc.asOf.Format("2006-01-02"), func(t *testing.T) {
			pols := testenv.Policies(t, tc.spec)
			plan := splitPlan(t, fetchPlan(p.Mapper, pols, "pat 1", tc.asOf))
			floor := "ge" + catalogFloor(t, tc.spec, tc.asOf).Format("2006-01-02")
			if plan[0].raw != "Patient?_id=pat+1" {
				t.Errorf("first search %q, want the Patient (id escaped)", plan[0].raw)
			}
			seen := map[string]int{}
			var obs []string // each Observation search, as "<category filter> <date filter>"
			for _, s := range plan {
				seen[s.typ]++
				if s.typ != "Patient" && s.q.Get("patient") != "pat 1" {
					t.Errorf("%s: not for the patient", s.raw)
				}
				if s.q.Has("code") {
					t.Errorf("%s: filtered by code", s.raw)
				}
				if s.q.Get("status") != "" || s.q.Get("clinical-status") != "" {
					t.Errorf("%s: filters by status (the mapping judges statuses)", s.raw)
				}
				if s.typ != "Patient" && s.q.Get("_count") != "1000" {
					t.Errorf("%s: _count %q, want 1000", s.raw, s.q.Get("_count"))
				}
				switch {
				case s.typ == "Observation":
					cat := "category=" + s.q.Get("category")
					if s.q.Has("category:not") {
						cat = "category:not=" + s.q.Get("category:not")
					}
					date := "date=" + s.q.Get("date")
					if s.q.Has("date:missing") {
						date = "date:missing=" + s.q.Get("date:missing")
					}
					obs = append(obs, cat+" "+date)
				case s.q.Has("date"):
					t.Errorf("%s: a date filter on a whole-record type", s.raw)
				}
			}
			want := []string{"category:not=" + vitals + " date=", "category=" + vitals + " date=" + floor, "category=" + vitals + " date:missing=true"}
			if !slices.Equal(obs, want) {
				t.Errorf("Observation searches\n%q\nwant\n%q", obs, want)
			}
			for _, typ := range []string{"Patient", "Claim", "Condition", "DiagnosticReport", "DocumentReference", "ExplanationOfBenefit",
				"MedicationAdministration", "MedicationDispense", "MedicationRequest", "MedicationStatement", "Procedure", "QuestionnaireResponse"} {
				if seen[typ] != 1 {
					t.Errorf("%d searches of %s, want 1", seen[typ], typ)
				}
			}
			for _, s := range plan {
				if strings.HasPrefix(s.typ, "Medication") && !slices.Contains(s.q["_include"], s.typ+":medication") {
					t.Errorf("%s: the referenced Medication is not included", s.raw)
				}
			}
		})
	}
}

// TestFetchPlanScopes: the scopes asked for cover every type the plan reads,
// including what _include brings.
func TestFetchPlanScopes(t *testing.T) {
	p, err := pipeline.New()
	if err != nil {
		t.Fatal(err)
	}
	pols := testenv.Policies(t, "all")
	types := planTypes(fetchPlan(p.Mapper, pols, "p1", time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)))
	for _, want := range []string{"Claim", "DiagnosticReport", "DocumentReference", "Medication", "MedicationDispense", "Observation",
		"Patient", "Practitioner", "PractitionerRole", "QuestionnaireResponse"} {
		if !slices.Contains(types, want) {
			t.Errorf("scopes %v lack %s", types, want)
		}
	}
}

// TestFetchPatientPageCap: a search with more pages than the client's cap
// fails the fetch (ErrTooManyPages, nothing returned) — a truncated record
// is never decided on.
func TestFetchPatientPageCap(t *testing.T) {
	var srv *httptest.Server
	page := func(n int) map[string]any {
		return map[string]any{"resourceType": "Bundle", "type": "searchset",
			"link":  []any{map[string]any{"relation": "next", "url": fmt.Sprintf("%s/fhir?_getpages=s&_getpagesoffset=%d", srv.URL, n*20)}},
			"entry": []any{map[string]any{"resource": map[string]any{"resourceType": "Observation", "id": fmt.Sprintf("o%d", n)}}}}
	}
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/fhir+json")
		if r.Method == http.MethodPost {
			var req struct{ Entry []any }
			_ = json.NewDecoder(r.Body).Decode(&req)
			var entries []any
			for range req.Entry {
				entries = append(entries, map[string]any{"response": map[string]any{"status": "200 OK"}, "resource": page(1)})
			}
			_ = json.NewEncoder(w).Encode(map[string]any{"resourceType": "Bundle", "type": "batch-response", "entry": entries})
			return
		}
		var n int
		fmt.Sscan(r.URL.Query().Get("_getpagesoffset"), &n)
		_ = json.NewEncoder(w).Encode(page(n/20 + 1))
	}))
	defer srv.Close()
	c, err := fhir.NewClient(srv.URL+"/fhir", fhir.WithMaxPages(3), fhir.WithRetryMax(0))
	if err != nil {
		t.Fatal(err)
	}
	p, err := pipeline.New()
	if err != nil {
		t.Fatal(err)
	}
	pols := testenv.Policies(t, "ucare-hemgenix")
	conn := &liveConn{fhir: c, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	raws, err := fetchPatient(context.Background(), conn, p, pols, "p1", time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC))
	if !errors.Is(err, fhir.ErrTooManyPages) || raws != nil {
		t.Fatalf("fetch past the page cap: %d resources, err %v; want ErrTooManyPages and nothing", len(raws), err)
	}
}

package serve

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"hemopa/cmd/hemopa/internal/pipeline"
)

const obsCategorySystem = "http://terminology.hl7.org/CodeSystem/observation-category"

// TestPrefetchTemplatesBreadth: the templates every service advertises ask
// for the whole record — Observations by category whatever the code, every
// other Observation (optional: :not), and every resource type where
// diagnoses, medicines (with the Medication named), procedures, claims,
// attestations and reports are written — with CDS Hooks 2.0 tokens only, no
// date bound, no status filter and no _count.
func TestPrefetchTemplatesBreadth(t *testing.T) {
	var d struct {
		Services []struct {
			ID       string
			Prefetch map[string]string
		}
	}
	raw, err := json.Marshal(discovery(prefetchKeys(testPipeline(t).Mapper.LabCodes())))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	tokenRe := regexp.MustCompile(`\{\{[^}]*\}\}`)
	for _, s := range d.Services {
		if len(s.Prefetch) == 0 {
			continue // encounter hooks: no order, no record read
		}
		byType := map[string][]url.Values{}
		for key, tmpl := range s.Prefetch {
			for _, tok := range tokenRe.FindAllString(tmpl, -1) {
				if tok != "{{context.patientId}}" && tok != "{{userPractitionerId}}" {
					t.Errorf("%s %s: token %s is not a CDS Hooks 2.0 prefetch token", s.ID, key, tok)
				}
			}
			typ, q, _ := strings.Cut(tmpl, "?")
			v, err := url.ParseQuery(q)
			if err != nil {
				t.Fatalf("%s %s: %v", s.ID, key, err)
			}
			for _, p := range []string{"date", "_count", "_lastUpdated"} {
				if v.Has(p) {
					t.Errorf("%s %s: %q bounds the search", s.ID, key, tmpl)
				}
			}
			if v.Has("status") && typ != "Coverage" {
				t.Errorf("%s %s: %q filters by status (the mapping judges statuses)", s.ID, key, tmpl)
			}
			byType[typ] = append(byType[typ], v)
		}
		// Observations by category, whatever the code.
		var categories []string
		var not []string
		for _, v := range byType["Observation"] {
			if v.Has("category") {
				if v.Has("code") {
					t.Errorf("%s: category search filtered by code: %v", s.ID, v)
				}
				for _, tok := range strings.Split(v.Get("category"), ",") {
					sys, code, _ := strings.Cut(tok, "|")
					if sys != obsCategorySystem {
						t.Errorf("%s: category system %q", s.ID, sys)
					}
					categories = append(categories, code)
				}
			}
			for _, tok := range v["category:not"] {
				_, code, _ := strings.Cut(tok, "|")
				not = append(not, code)
			}
		}
		slices.Sort(categories)
		slices.Sort(not)
		want := []string{"exam", "imaging", "laboratory", "vital-signs"}
		if !slices.Equal(categories, want) {
			t.Errorf("%s: Observation categories %v, want %v", s.ID, categories, want)
		}
		if !slices.Equal(not, want) {
			t.Errorf("%s: the other-Observations search excludes %v, want %v", s.ID, not, want)
		}
		for _, typ := range []string{"Condition", "MedicationStatement", "MedicationRequest", "MedicationAdministration", "MedicationDispense",
			"Procedure", "ExplanationOfBenefit", "Claim", "QuestionnaireResponse", "DiagnosticReport", "DocumentReference"} {
			vs := byType[typ]
			if len(vs) != 1 || vs[0].Get("patient") != "{{context.patientId}}" {
				t.Errorf("%s: %s searches %v, want one for the patient", s.ID, typ, vs)
				continue
			}
			if strings.HasPrefix(typ, "Medication") && !slices.Contains(vs[0]["_include"], typ+":medication") {
				t.Errorf("%s: %s does not include the Medication it names", s.ID, typ)
			}
		}
	}
	required := map[string]bool{}
	for _, k := range prefetchKeys(nil) {
		required[k.Name] = !k.Optional
	}
	if !required["observationsByCategory"] || !required["observations"] || !required["conditions"] {
		t.Error("the Observation and Condition keys must be required")
	}
}

// pagedEHR serves searchsets by resource type; pages > 1 chain next links
// for that many pages. It records the queries it was asked.
type pagedEHR struct {
	*httptest.Server
	mu      sync.Mutex
	asked   []string
	pages   map[string]int // resource type → number of pages (default 1)
	entries map[string][]any
}

func newPagedEHR(t *testing.T) *pagedEHR {
	e := &pagedEHR{pages: map[string]int{}, entries: map[string][]any{}}
	e.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		typ := strings.TrimPrefix(r.URL.Path, "/fhir/")
		page := 1
		if p := r.URL.Query().Get("page"); p != "" {
			fmt.Sscan(p, &page)
			typ = r.URL.Query().Get("type")
		}
		e.mu.Lock()
		e.asked = append(e.asked, typ+"?"+r.URL.RawQuery)
		n := max(e.pages[typ], 1)
		entries := e.entries[typ]
		e.mu.Unlock()
		b := map[string]any{"resourceType": "Bundle", "type": "searchset", "entry": entries}
		if page < n {
			b["link"] = []any{map[string]any{"relation": "next", "url": fmt.Sprintf("%s/fhir?type=%s&page=%d", e.URL, typ, page+1)}}
		}
		w.Header().Set("Content-Type", "application/fhir+json")
		_ = json.NewEncoder(w).Encode(b)
	}))
	t.Cleanup(e.Close)
	return e
}

func (e *pagedEHR) queries(typ string) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, q := range e.asked {
		if strings.HasPrefix(q, typ+"?") {
			out = append(out, q)
		}
	}
	return out
}

// hookWith edits b-approve's order-sign request: f changes its prefetch; a
// non-empty ehr sets fhirServer and a token.
func hookWith(t *testing.T, ehr string, f func(prefetch map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(hookRequest(t, "b-approve", hookOrderSign, "ucare"), &m); err != nil {
		t.Fatal(err)
	}
	f(m["prefetch"].(map[string]any))
	delete(m, "fhirServer")
	if ehr != "" {
		m["fhirServer"] = ehr + "/fhir"
		m["fhirAuthorization"] = map[string]any{"access_token": "t", "token_type": "Bearer", "expires_in": 300, "scope": "user/*.read", "subject": "cds"}
	}
	b, _ := json.Marshal(m)
	return b
}

// onePageOfSeveral is a prefetch searchset with a next link.
func onePageOfSeveral(resources ...map[string]any) map[string]any {
	var entries []any
	for _, r := range resources {
		entries = append(entries, map[string]any{"resource": r})
	}
	return map[string]any{"resourceType": "Bundle", "type": "searchset", "entry": entries,
		"link": []any{map[string]any{"relation": "next", "url": "https://ehr.example.org/fhir?_getpages=x"}}}
}

// TestPrefetchNeverTruncated: a prefetch that holds one page of several, or
// a fetched search with more pages than the service reads, is never used as
// if it were the whole record — the service fetches it whole or answers 412,
// for optional keys too; a missing key still behaves as before (fetched, or
// 412 when required and unfetchable, skipped when optional and unfetchable).
func TestPrefetchNeverTruncated(t *testing.T) {
	unknown := map[string]any{"resourceType": "Observation", "id": "obs-unknown", "status": "final",
		"category": []any{map[string]any{"coding": []any{map[string]any{"system": obsCategorySystem, "code": "imaging"}}}},
		"code":     map[string]any{"text": "Liver elastography"}, "subject": map[string]any{"reference": "Patient/pat-b-approve"}}
	ts := newTestServer(t, serverOpts{})
	for _, tc := range []struct {
		name    string
		key     string
		ehr     bool
		pages   int // pages the EHR holds for the key's type
		prefix  string
		want    int
		fetched bool // the EHR was asked for the key's search
	}{
		{"required key truncated, no fhirServer", "observationsByCategory", false, 1, "Observation", http.StatusPreconditionFailed, false},
		{"optional key truncated, no fhirServer", "procedures", false, 1, "Procedure", http.StatusPreconditionFailed, false},
		{"required key truncated, fetched whole", "observationsByCategory", true, 1, "Observation", http.StatusOK, true},
		{"optional key truncated, fetched whole", "procedures", true, 1, "Procedure", http.StatusOK, true},
		{"optional key missing, more pages than read", "procedures", true, 25, "Procedure", http.StatusPreconditionFailed, true},
		{"optional key missing, no fhirServer", "procedures", false, 1, "Procedure", http.StatusOK, false},
		{"required key missing, no fhirServer", "observationsByCategory", false, 1, "Observation", http.StatusPreconditionFailed, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ehr := newPagedEHR(t)
			ehr.pages[tc.prefix] = tc.pages
			ehr.entries["Observation"] = []any{map[string]any{"resource": unknown}}
			base := ""
			if tc.ehr {
				base = ehr.URL
			}
			body := hookWith(t, base, func(p map[string]any) {
				if strings.Contains(tc.name, "missing") {
					delete(p, tc.key)
				} else {
					p[tc.key] = onePageOfSeveral(unknown)
				}
			})
			status, resp, _ := ts.do(t, "POST", "/cds-services/hemopa-order-sign", body, "")
			if status != tc.want {
				t.Fatalf("status %d, want %d: %s", status, tc.want, resp)
			}
			asked := ehr.queries(tc.prefix)
			if tc.fetched != (len(asked) > 0) {
				t.Errorf("EHR asked %v (fetched=%v wanted)", asked, tc.fetched)
			}
			if len(asked) > 0 && tc.key == "observationsByCategory" && !strings.Contains(asked[0], "category=") {
				t.Errorf("refetch %q is not the category search", asked[0])
			}
			if status == http.StatusPreconditionFailed && !strings.Contains(string(resp), tc.key) {
				t.Errorf("412 does not name the key %s: %s", tc.key, resp)
			}
		})
	}
}

// TestMissingOptionalPrefetchIsAGap: an optional key the EHR neither sent nor
// lets hemopa fetch is not an empty record. Without the claims history a
// patient who would be approved is pended, and the missing line names the key.
func TestMissingOptionalPrefetchIsAGap(t *testing.T) {
	ts := newTestServer(t, serverOpts{})
	send := func(drop string) (map[string][]string, []string) {
		var req map[string]any
		if err := json.Unmarshal(hookRequest(t, "b-approve", hookOrderSign, "ucare"), &req); err != nil {
			t.Fatal(err)
		}
		delete(req, "fhirServer")
		if drop != "" {
			delete(req["prefetch"].(map[string]any), drop)
		}
		body, _ := json.Marshal(req)
		status, resp, _ := ts.do(t, "POST", "/cds-services/hemopa-"+hookOrderSign, body, "")
		if status != http.StatusOK {
			t.Fatalf("drop %q: status %d: %s", drop, status, resp)
		}
		var hr hookResponse
		if err := json.Unmarshal(resp, &hr); err != nil || len(hr.SystemActions) != 1 {
			t.Fatalf("drop %q: %v %s", drop, err, resp)
		}
		return coverageInfo(t, hr.SystemActions[0].Resource), []string{string(resp)}
	}
	if ci, _ := send(""); !slices.Contains(ci["covered"], "covered") {
		t.Fatalf("baseline: covered %v, want covered (b-approve under UCare)", ci["covered"])
	}
	for _, key := range []string{"claims", "procedures", "medicationAdministrations"} {
		ci, resp := send(key)
		if slices.Contains(ci["covered"], "covered") || !slices.Contains(ci["info-needed"], "OTH") {
			t.Errorf("without prefetch %s: covered %v, info-needed %v — want conditional, pended", key, ci["covered"], ci["info-needed"])
		}
		if !strings.Contains(resp[0], "prefetch "+key) {
			t.Errorf("without prefetch %s: the response does not name the missing key", key)
		}
	}
}

// TestPrefetchHasSiteCodes: the observations template lists the codes of the
// server's own mapper — the embedded tables and a site code map alike.
func TestPrefetchHasSiteCodes(t *testing.T) {
	dir := t.TempDir()
	codemap := filepath.Join(dir, "site.yaml")
	if err := os.WriteFile(codemap, []byte("observations:\n  - {system: http://lab.example.org, code: FIX1, fact: fix_activity}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := pipeline.New(pipeline.WithCodeMap(codemap))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := ParseConfig(nil, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		p    *pipeline.Pipeline
		site bool
	}{{"built-in tables", testPipeline(t), false}, {"site code map", p, true}} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(t.Context(), cfg, WithPipeline(tc.p), WithInsecureDev(), WithLogger(slog.New(slog.DiscardHandler)))
			if err != nil {
				t.Fatal(err)
			}
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/cds-services", nil))
			var d struct {
				Services []struct{ Prefetch map[string]string }
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &d); err != nil || len(d.Services) == 0 {
				t.Fatalf("discovery %d: %v %s", rec.Code, err, rec.Body)
			}
			for _, svc := range d.Services {
				if len(svc.Prefetch) == 0 {
					continue // encounter hooks: no order, no record read
				}
				_, q, _ := strings.Cut(svc.Prefetch["observations"], "?")
				v, _ := url.ParseQuery(q)
				codes := strings.Split(v.Get("code"), ",")
				if !slices.Contains(codes, "http://loinc.org|777-3") {
					t.Errorf("the embedded tables' platelet code is not asked for: %v", codes)
				}
				if got := slices.Contains(codes, "http://lab.example.org|FIX1"); got != tc.site {
					t.Errorf("site code FIX1 in the template: %v, want %v", got, tc.site)
				}
			}
		})
	}
}

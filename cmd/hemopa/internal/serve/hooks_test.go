package serve

import (
	"encoding/json"
	"flag"
	"hemopa/cmd/hemopa/internal/testenv"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"hemopa/cmd/hemopa/internal/pipeline"
	"hemopa/rules"
)

var update = flag.Bool("update", false, "rewrite the committed fixtures in testdata/serve")

var (
	pipeOnce sync.Once
	pipe     *pipeline.Pipeline
)

func testPipeline(t testing.TB) *pipeline.Pipeline {
	pipeOnce.Do(func() {
		var err error
		if pipe, err = pipeline.New(); err != nil {
			panic(err)
		}
	})
	return pipe
}

// cliDecision is what `hemopa evaluate --bundle patient.json --policy id
// --as-of 2026-11-24` decides.
func cliDecision(t testing.TB, patient, policy string) rules.Decision {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "testdata", "patients", patient+".json"))
	if err != nil {
		t.Fatal(err)
	}
	pols := testenv.Policies(t, policy)
	day, _ := time.Parse("2006-01-02", asOf)
	dets, _, err := testPipeline(t).DecideJSON(data, pols, day, "")
	if err != nil {
		t.Fatal(err)
	}
	return dets[0].Decision
}

func TestInfernoHookRequests(t *testing.T) {
	ts := newTestServer(t, serverOpts{})
	for _, tc := range []struct{ fixture, service string }{
		{"order_sign_hook_request.json", "hemopa-order-sign"},
		{"order_select_hook_request.json", "hemopa-order-select"},
	} {
		t.Run(tc.fixture, func(t *testing.T) {
			status, body, hdr := ts.do(t, "POST", "/cds-services/"+tc.service, infernoFixture(t, tc.fixture), "")
			if status != http.StatusOK {
				t.Fatalf("status %d: %s", status, body)
			}
			if ct := hdr.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type %q", ct)
			}
			// The diet order and the amoxicillin order are no gene therapy: no cards, no actions.
			if got := strings.TrimSpace(string(body)); got != `{"cards":[]}` {
				t.Errorf("body %s, want {\"cards\":[]}", got)
			}
		})
	}
	if logs := ts.logs.String(); strings.Contains(logs, "SAMPLE_TOKEN") {
		t.Error("the fhirAuthorization token reached the logs")
	}
}

func TestDiscovery(t *testing.T) {
	ts := newTestServer(t, serverOpts{})
	status, body, _ := ts.do(t, "GET", "/cds-services", nil, "")
	if status != http.StatusOK {
		t.Fatalf("status %d: %s", status, body)
	}
	var d struct {
		Services []struct {
			Hook, ID, Title, Description string
			Prefetch                     map[string]string
		}
	}
	if err := json.Unmarshal(body, &d); err != nil {
		t.Fatal(err)
	}
	var hooks []string
	for _, s := range d.Services {
		hooks = append(hooks, s.Hook)
		if s.ID == "" || s.Title == "" || s.Description == "" {
			t.Errorf("service %+v lacks id, title or description", s)
		}
		if s.Hook == hookEncStart || s.Hook == hookEncDischarge {
			if len(s.Prefetch) != 0 {
				t.Errorf("%s assesses no order but asks for prefetch %v", s.ID, s.Prefetch)
			}
			continue
		}
		for _, k := range []string{"patient", "coverage", "observations", "conditions", "medicationStatements", "questionnaireResponses", "practitionerRoles"} {
			if !strings.Contains(s.Prefetch[k], "{{") {
				t.Errorf("%s: prefetch %s = %q, want a template", s.ID, k, s.Prefetch[k])
			}
		}
		if _, ok := s.Prefetch["serviceRequests"]; ok != (s.Hook == hookAppointment) {
			t.Errorf("%s: serviceRequests prefetch %v, want it on appointment-book only", s.ID, ok)
		}
		if s.Prefetch["patient"] != "Patient/{{context.patientId}}" {
			t.Errorf("%s: prefetch patient %q", s.ID, s.Prefetch["patient"])
		}
		if !strings.Contains(s.Prefetch["observations"], "http://loinc.org|3187-2") {
			t.Errorf("%s: observations prefetch lacks factor IX activity", s.ID)
		}
	}
	slices.Sort(hooks)
	if want := []string{"appointment-book", "encounter-discharge", "encounter-start", "order-dispatch", "order-select", "order-sign"}; !slices.Equal(hooks, want) {
		t.Errorf("hooks %v, want %v", hooks, want)
	}
}

// wantExtension is the CRD rendering of a decision (see davinci.CoverageInfoFor).
func wantExtension(decision rules.Decision, primary bool) map[string]string {
	switch decision {
	case rules.Approve:
		return map[string]string{"covered": "covered", "pa-needed": "auth-needed"}
	case rules.Pend:
		w := map[string]string{"covered": "conditional", "pa-needed": "auth-needed", "info-needed": "OTH"}
		if primary {
			w["doc-needed"], w["doc-purpose"] = "clinical", "withpa"
			w["questionnaire"] = "http://hemopa.org/fhir/Questionnaire/hemopa-attestations|1.0.0"
		}
		return w
	case rules.Deny:
		return map[string]string{"covered": "conditional", "pa-needed": "auth-needed", "info-needed": "OTH"}
	}
	return map[string]string{"covered": "not-covered"}
}

// TestSampleHooks sends every sample patient, under every test payer, to
// order-sign and order-select, and checks the coverage information against
// the CLI's decision for the policy the config picks.
func TestSampleHooks(t *testing.T) {
	ts := newTestServer(t, serverOpts{})
	for _, patient := range samplePatients(t) {
		drug := "Hemgenix"
		switch {
		case strings.HasPrefix(patient, "a-"):
			drug = "Roctavian"
		case strings.HasPrefix(patient, "b-beqvez-"):
			drug = "Beqvez"
		}
		for _, payer := range []string{"ucare", "ny", "bcbsms", "other"} {
			policy := payerPolicy(payer, drug)
			want := cliDecision(t, patient, policy)
			for _, hook := range []string{hookOrderSign, hookOrderSelect} {
				t.Run(patient+"/"+payer+"/"+hook, func(t *testing.T) {
					status, body, _ := ts.do(t, "POST", "/cds-services/hemopa-"+hook, hookRequest(t, patient, hook, payer), "")
					if status != http.StatusOK {
						t.Fatalf("status %d: %s", status, body)
					}
					var resp hookResponse
					if err := json.Unmarshal(body, &resp); err != nil {
						t.Fatal(err)
					}
					if len(resp.Cards) != 1 || len(resp.SystemActions) != 1 {
						t.Fatalf("%d cards, %d systemActions: %s", len(resp.Cards), len(resp.SystemActions), body)
					}
					act := resp.SystemActions[0]
					if act.Type != "update" || !strings.Contains(act.Description, policy) {
						t.Errorf("systemAction %s %q, want update under %s", act.Type, act.Description, policy)
					}
					ci := coverageInfo(t, act.Resource)
					for k, v := range wantExtension(want, hook == hookOrderSign) {
						if !slices.Contains(ci[k], v) {
							t.Errorf("%s under %s (%s): %s = %v, want %s", patient, policy, want, k, ci[k], v)
						}
					}
					for _, k := range []string{"doc-needed", "questionnaire", "pa-needed", "info-needed"} {
						if _, ok := wantExtension(want, hook == hookOrderSign)[k]; !ok && len(ci[k]) > 0 {
							t.Errorf("%s under %s (%s): unexpected %s %v", patient, policy, want, k, ci[k])
						}
					}
					if len(ci["coverage"]) != 1 || !strings.HasPrefix(ci["coverage"][0], "Coverage/cov-pat-") {
						t.Errorf("coverage %v", ci["coverage"])
					}
					if len(ci["coverage-assertion-id"]) != 1 || len(ci["coverage-assertion-id"][0]) != 32 || len(ci["date"]) != 1 || ci["date"][0] != asOf {
						t.Errorf("coverage-assertion-id %v, date %v", ci["coverage-assertion-id"], ci["date"])
					}
					checkCard(t, resp, want, hook == hookOrderSign, drug)
				})
			}
		}
	}
}

func checkCard(t *testing.T, resp hookResponse, want rules.Decision, primary bool, drug string) {
	t.Helper()
	c := resp.Cards[0]
	if len([]rune(c.Summary)) >= 140 || !strings.HasPrefix(c.Summary, drug+": ") {
		t.Errorf("summary %q", c.Summary)
	}
	wantIndicator := map[rules.Decision]string{rules.Approve: "info", rules.Pend: "warning", rules.Deny: "warning", rules.NotCovered: "critical"}[want]
	if c.Indicator != wantIndicator {
		t.Errorf("indicator %q, want %q", c.Indicator, wantIndicator)
	}
	if c.Source.Label == "" || c.Source.Topic.Code != "coverage-info" || c.UUID == "" || c.Detail == "" {
		t.Errorf("card source/uuid/detail: %+v", c)
	}
	if strings.Contains(strings.ToLower(c.Source.Label), "hemopa") {
		t.Errorf("source.label %q: the insurer, not the product (CRD resp-4)", c.Source.Label)
	}
	var smart, absolute int
	for _, l := range c.Links {
		switch l.Type {
		case "smart":
			smart++
			var app map[string]any
			if err := json.Unmarshal([]byte(l.AppContext), &app); err != nil || app["order"] == nil || app["questionnaire"] == nil {
				t.Errorf("smart link appContext %q", l.AppContext)
			}
		case "absolute":
			absolute++
			if l.AppContext != "" {
				t.Error("absolute link with appContext")
			}
		}
	}
	if absolute != 1 {
		t.Errorf("%d absolute links, want the policy", absolute)
	}
	if smart != 0 {
		t.Errorf("%d smart links: DTR is launched from the coverage information, not a card link (CRD 2.x)", smart)
	}
}

// TestNamedSamples pins the three cases the product is known by.
func TestNamedSamples(t *testing.T) {
	ts := newTestServer(t, serverOpts{})
	for _, tc := range []struct {
		patient, summary string
		ext              map[string]string
	}{
		{"b-approve", "Hemgenix: PA needed — criteria met", map[string]string{"covered": "covered", "pa-needed": "auth-needed"}},
		{"b-pend-stale", "Hemgenix: PA needed — 12 items missing", map[string]string{"covered": "conditional", "doc-needed": "clinical",
			"questionnaire": "http://hemopa.org/fhir/Questionnaire/hemopa-attestations|1.0.0"}},
		{"b-prior-gene", "Hemgenix: not covered under ucare-hemgenix", map[string]string{"covered": "not-covered"}},
	} {
		t.Run(tc.patient, func(t *testing.T) {
			status, body, _ := ts.do(t, "POST", "/cds-services/hemopa-order-sign", hookRequest(t, tc.patient, hookOrderSign, "ucare"), "")
			if status != http.StatusOK {
				t.Fatalf("status %d: %s", status, body)
			}
			var resp hookResponse
			if err := json.Unmarshal(body, &resp); err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(resp.Cards[0].Summary, tc.summary) {
				t.Errorf("summary %q, want %q…", resp.Cards[0].Summary, tc.summary)
			}
			ci := coverageInfo(t, resp.SystemActions[0].Resource)
			for k, v := range tc.ext {
				if !slices.Contains(ci[k], v) {
					t.Errorf("%s = %v, want %s", k, ci[k], v)
				}
			}
			if tc.patient == "b-prior-gene" && len(ci["pa-needed"]) > 0 {
				t.Error("not-covered with pa-needed")
			}
		})
	}
}

// TestCommittedHookFixtures keeps testdata/serve/hooks in step with the
// generator (go test -run CommittedHookFixtures -update rewrites them).
func TestCommittedHookFixtures(t *testing.T) {
	ts := newTestServer(t, serverOpts{})
	for _, name := range []string{"b-approve", "b-pend-stale", "b-prior-gene"} {
		path := filepath.Join(repoRoot(t), "testdata", "serve", "hooks", "order-sign-"+name+".json")
		gen := hookRequest(t, name, hookOrderSign, "ucare")
		if *update {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, gen, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (go test ./cmd/hemopa/internal/serve -run CommittedHookFixtures -update)", err)
		}
		if string(got) != string(gen) {
			t.Errorf("%s is stale: rerun with -update", path)
		}
		if status, body, _ := ts.do(t, "POST", "/cds-services/hemopa-order-sign", got, ""); status != http.StatusOK {
			t.Errorf("%s: status %d: %s", name, status, body)
		}
	}
}

// TestHookErrors covers the 4xx answers; each is an OperationOutcome.
func TestHookErrors(t *testing.T) {
	ts := newTestServer(t, serverOpts{})
	good := hookRequest(t, "b-approve", hookOrderSign, "ucare")
	edit := func(f func(m map[string]any)) []byte {
		var m map[string]any
		if err := json.Unmarshal(good, &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		b, _ := json.Marshal(m)
		return b
	}
	prefetch := func(m map[string]any) map[string]any { return m["prefetch"].(map[string]any) }
	context := func(m map[string]any) map[string]any { return m["context"].(map[string]any) }
	for _, tc := range []struct {
		name    string
		service string
		body    []byte
		status  int
	}{
		{"malformed JSON", "hemopa-order-sign", []byte(`{"hook": "order-sign",`), 400},
		{"not an object", "hemopa-order-sign", []byte(`[1,2]`), 400},
		{"wrong type", "hemopa-order-sign", []byte(`{"hook": 3}`), 400},
		{"unknown service", "nope", good, 404},
		{"hook mismatch", "hemopa-order-select", good, 422},
		{"no hookInstance", "hemopa-order-sign", edit(func(m map[string]any) { delete(m, "hookInstance") }), 422},
		{"no patientId", "hemopa-order-sign", edit(func(m map[string]any) { delete(context(m), "patientId") }), 422},
		{"draftOrders not a Bundle", "hemopa-order-sign", edit(func(m map[string]any) { context(m)["draftOrders"] = map[string]any{"resourceType": "List"} }), 422},
		{"fhirAuthorization without fhirServer", "hemopa-order-sign", edit(func(m map[string]any) {
			delete(m, "fhirServer")
			m["fhirAuthorization"] = map[string]any{"access_token": "x", "token_type": "Bearer"}
		}), 422},
		{"prefetch not a resource", "hemopa-order-sign", edit(func(m map[string]any) { prefetch(m)["conditions"] = 7 }), 422},
		{"missing prefetch, no fhirServer to read it", "hemopa-order-sign", edit(func(m map[string]any) { delete(prefetch(m), "observations") }), 412},
		{"patient prefetch null", "hemopa-order-sign", edit(func(m map[string]any) { prefetch(m)["patient"] = nil }), 412},
		{"order names an unknown Coverage", "hemopa-order-sign", edit(func(m map[string]any) {
			order := context(m)["draftOrders"].(map[string]any)["entry"].([]any)[0].(map[string]any)["resource"].(map[string]any)
			order["insurance"] = []any{map[string]any{"reference": "Coverage/elsewhere"}}
		}), 400},
		{"order for another patient", "hemopa-order-sign", edit(func(m map[string]any) {
			order := context(m)["draftOrders"].(map[string]any)["entry"].([]any)[0].(map[string]any)["resource"].(map[string]any)
			order["subject"] = map[string]any{"reference": "Patient/someone-else"}
		}), 422},
		{"invalid FHIR in the record", "hemopa-order-sign", edit(func(m map[string]any) {
			prefetch(m)["conditions"] = map[string]any{"resourceType": "Bundle", "type": "searchset",
				"entry": []any{map[string]any{"resource": map[string]any{"resourceType": "Condition", "id": "c1", "onsetDateTime": "yesterday"}}}}
		}), 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body, _ := ts.do(t, "POST", "/cds-services/"+tc.service, tc.body, "")
			if status != tc.status {
				t.Fatalf("status %d, want %d: %s", status, tc.status, body)
			}
			var oo struct {
				ResourceType string
				Issue        []struct{ Severity, Code, Diagnostics string }
			}
			if err := json.Unmarshal(body, &oo); err != nil || oo.ResourceType != "OperationOutcome" || len(oo.Issue) == 0 || oo.Issue[0].Diagnostics == "" {
				t.Errorf("body is not an OperationOutcome with diagnostics: %s", body)
			}
		})
	}
}

// TestFetchMissingPrefetch reads an absent prefetch key from the EHR with
// the hook's fhirAuthorization token — and answers 412 when the EHR refuses.
func TestFetchMissingPrefetch(t *testing.T) {
	const secret = "ehr-access-token-do-not-log"
	var mu sync.Mutex
	var gotAuth []string
	// The EHR serves what the prefetch would have held, by resource type.
	var sample map[string]any
	_ = json.Unmarshal(hookRequest(t, "b-approve", hookOrderSign, "ucare"), &sample)
	byType := map[string]any{}
	for _, k := range []string{"observations", "conditions"} {
		byType[map[string]string{"observations": "Observation", "conditions": "Condition"}[k]] = sample["prefetch"].(map[string]any)[k].(map[string]any)["entry"]
	}
	var refuse atomic.Bool
	ehr := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		gotAuth = append(gotAuth, r.Header.Get("Authorization"))
		mu.Unlock()
		if refuse.Load() {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		entries, ok := byType[strings.TrimPrefix(r.URL.Path, "/fhir/")]
		if !ok || r.URL.Query().Get("patient") != "pat-b-approve" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/fhir+json")
		_ = json.NewEncoder(w).Encode(map[string]any{"resourceType": "Bundle", "type": "searchset", "entry": entries})
	}))
	defer ehr.Close()
	ts := newTestServer(t, serverOpts{})
	body := func() []byte {
		var m map[string]any
		_ = json.Unmarshal(hookRequest(t, "b-approve", hookOrderSign, "ucare"), &m)
		delete(m["prefetch"].(map[string]any), "observations")
		delete(m["prefetch"].(map[string]any), "conditions")
		m["fhirServer"] = ehr.URL + "/fhir"
		m["fhirAuthorization"] = map[string]any{"access_token": secret, "token_type": "Bearer", "expires_in": 300, "scope": "user/Observation.read", "subject": "cds"}
		b, _ := json.Marshal(m)
		return b
	}()
	status, resp, _ := ts.do(t, "POST", "/cds-services/hemopa-order-sign", body, "")
	if status != http.StatusOK {
		t.Fatalf("status %d: %s", status, resp)
	}
	var hr hookResponse
	_ = json.Unmarshal(resp, &hr)
	if ci := coverageInfo(t, hr.SystemActions[0].Resource); !slices.Contains(ci["covered"], "covered") {
		t.Errorf("with the fetched labs b-approve should be covered: %v", ci)
	}
	mu.Lock()
	if len(gotAuth) != 2 || gotAuth[0] != "Bearer "+secret || gotAuth[1] != "Bearer "+secret {
		t.Errorf("EHR saw Authorization %q", gotAuth)
	}
	mu.Unlock()

	refuse.Store(true)
	status, resp, _ = ts.do(t, "POST", "/cds-services/hemopa-order-sign", body, "")
	if status != http.StatusPreconditionFailed {
		t.Fatalf("EHR refusing: status %d, want 412: %s", status, resp)
	}
	if strings.Contains(string(resp), secret) || strings.Contains(ts.logs.String(), secret) {
		t.Error("the fhirAuthorization token leaked into a response or the logs")
	}
}

func TestFeedback(t *testing.T) {
	ts := newTestServer(t, serverOpts{})
	body := []byte(`{"feedback":[{"card":"9368d37b-283f-44a0-93ea-547cebab93ed","outcome":"overridden","overrideReason":{"reason":{"code":"x"},"userComment":"Patient Jane Doe declined"},"outcomeTimestamp":"2026-11-24T10:00:00Z"}]}`)
	status, resp, _ := ts.do(t, "POST", "/cds-services/hemopa-order-sign/feedback", body, "")
	if status != http.StatusOK {
		t.Fatalf("status %d: %s", status, resp)
	}
	if strings.Contains(ts.logs.String(), "Jane") {
		t.Error("feedback free text reached the logs")
	}
}

package serve

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"hemopa/cmd/hemopa/internal/testenv"
)

// packageRequest is a $questionnaire-package input for a sample patient:
// the Coverage, the draft order and the record as the hemopa bundle
// parameter (optionally extra questionnaire canonicals).
func packageRequest(t testing.TB, patient, payer string, questionnaires ...string) []byte {
	t.Helper()
	var hook map[string]any
	if err := json.Unmarshal(hookRequest(t, patient, hookOrderSign, payer), &hook); err != nil {
		t.Fatal(err)
	}
	prefetch := hook["prefetch"].(map[string]any)
	order := hook["context"].(map[string]any)["draftOrders"].(map[string]any)["entry"].([]any)[0].(map[string]any)["resource"]
	cov := prefetch["coverage"].(map[string]any)["entry"].([]any)[0].(map[string]any)["resource"]
	var entries []any
	for _, k := range prefetchKeys(nil) { // names only
		switch v := prefetch[k.Name].(type) {
		case map[string]any:
			if v["resourceType"] == "Bundle" {
				entries = append(entries, v["entry"].([]any)...)
			} else {
				entries = append(entries, map[string]any{"resource": v})
			}
		}
	}
	params := []any{
		map[string]any{"name": "coverage", "resource": cov},
		map[string]any{"name": "order", "resource": order},
		map[string]any{"name": "bundle", "resource": map[string]any{"resourceType": "Bundle", "type": "collection", "entry": entries}},
	}
	for _, q := range questionnaires {
		params = append(params, map[string]any{"name": "questionnaire", "valueCanonical": q})
	}
	b, err := json.MarshalIndent(map[string]any{"resourceType": "Parameters", "parameter": params}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

type packageOut struct {
	ResourceType string
	Parameter    []struct {
		Name     string
		Resource json.RawMessage
	}
}

type qrItem struct {
	LinkID string `json:"linkId"`
	Answer []struct {
		ValueBoolean *bool `json:"valueBoolean"`
		Extension    []struct {
			URL       string
			Extension []struct{ URL, ValueCode string }
		}
	} `json:"answer"`
}

// neededLinks are the attestation linkIds the CLI's determination needs.
func neededLinks(t testing.TB, patient, policy string) []string {
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
	var out []string
	for _, n := range dets[0].Needs {
		for _, l := range n.LinkIDs {
			if !slices.Contains(out, l) {
				out = append(out, l)
			}
		}
	}
	sort.Strings(out)
	return out
}

func TestQuestionnairePackage(t *testing.T) {
	ts := newTestServer(t, serverOpts{})
	for _, tc := range []struct {
		patient    string
		answered   map[string]bool // at least these, with these values
		unanswered []string        // nil: the CLI's needs
	}{
		// Stale labs and no attestations: every needed attestation is asked;
		// a FibroScan below 9 kPa answers advanced-liver-disease "no".
		{"b-pend-stale", map[string]bool{"advanced-liver-disease": false}, nil},
		// All attested in an earlier QuestionnaireResponse: nothing to ask.
		{"b-approve", map[string]bool{"prior-gene-therapy": false, "hiv-uncontrolled": false, "factor-exposure-days-150": true}, []string{}},
		// A gene therapy claim answers prior-gene-therapy "yes", whatever was attested.
		{"b-prior-gene", map[string]bool{"prior-gene-therapy": true}, []string{}},
	} {
		t.Run(tc.patient, func(t *testing.T) {
			status, body, hdr := ts.do(t, "POST", "/fhir/Questionnaire/$questionnaire-package", packageRequest(t, tc.patient, "ucare"), "")
			if status != http.StatusOK {
				t.Fatalf("status %d: %s", status, body)
			}
			if ct := hdr.Get("Content-Type"); ct != "application/fhir+json" {
				t.Errorf("Content-Type %q", ct)
			}
			var out packageOut
			if err := json.Unmarshal(body, &out); err != nil || out.ResourceType != "Parameters" || len(out.Parameter) != 1 || out.Parameter[0].Name != "packagebundle" {
				t.Fatalf("not Parameters with one packagebundle: %s", body)
			}
			var bundle struct {
				ResourceType, Type string
				Entry              []struct{ Resource json.RawMessage }
			}
			_ = json.Unmarshal(out.Parameter[0].Resource, &bundle)
			if bundle.Type != "collection" || len(bundle.Entry) != 2 {
				t.Fatalf("package bundle: %s", out.Parameter[0].Resource)
			}
			var q struct{ ResourceType, URL, Version string }
			_ = json.Unmarshal(bundle.Entry[0].Resource, &q)
			if q.ResourceType != "Questionnaire" || q.URL != "http://hemopa.org/fhir/Questionnaire/hemopa-attestations" || q.Version != "1.0.0" {
				t.Errorf("first entry: %+v", q)
			}
			var qr struct {
				ResourceType, Status, Questionnaire string
				Subject                             struct{ Reference string }
				Extension                           []struct {
					URL            string
					ValueReference struct{ Reference string }
				}
				Item []qrItem
			}
			_ = json.Unmarshal(bundle.Entry[1].Resource, &qr)
			if qr.ResourceType != "QuestionnaireResponse" || qr.Status != "in-progress" || qr.Questionnaire != "http://hemopa.org/fhir/Questionnaire/hemopa-attestations|1.0.0" || !strings.HasPrefix(qr.Subject.Reference, "Patient/pat-") {
				t.Errorf("QR: %+v", qr)
			}
			var ctx []string
			for _, e := range qr.Extension {
				if e.URL == "http://hl7.org/fhir/us/davinci-dtr/StructureDefinition/qr-context" {
					ctx = append(ctx, e.ValueReference.Reference)
				}
			}
			if len(ctx) != 2 || !strings.HasPrefix(ctx[0], "Coverage/") || !strings.HasPrefix(ctx[1], "MedicationRequest/") {
				t.Errorf("qr-context %v", ctx)
			}
			answered := map[string]bool{}
			var unanswered []string
			for _, it := range qr.Item {
				if len(it.Answer) == 0 {
					unanswered = append(unanswered, it.LinkID)
					continue
				}
				a := it.Answer[0]
				if a.ValueBoolean == nil || len(a.Extension) != 1 || a.Extension[0].URL != "http://hl7.org/fhir/us/davinci-dtr/StructureDefinition/information-origin" ||
					len(a.Extension[0].Extension) != 1 || a.Extension[0].Extension[0].ValueCode != "auto" {
					t.Errorf("answer of %s is not a boolean marked information-origin auto: %+v", it.LinkID, a)
					continue
				}
				answered[it.LinkID] = *a.ValueBoolean
			}
			for l, v := range tc.answered {
				if got, ok := answered[l]; !ok || got != v {
					t.Errorf("%s: answered %v (present %v), want %v", l, got, ok, v)
				}
			}
			want := tc.unanswered
			if want == nil {
				want = neededLinks(t, tc.patient, "ucare-hemgenix")
				if len(want) == 0 {
					t.Fatal("the CLI needs no attestation: the case proves nothing")
				}
			}
			sort.Strings(unanswered)
			if !slices.Equal(unanswered, want) && !(len(want) == 0 && len(unanswered) == 0) {
				t.Errorf("unanswered %v, want %v", unanswered, want)
			}
			for _, l := range unanswered {
				if _, ok := answered[l]; ok {
					t.Errorf("%s both answered and not", l)
				}
			}
		})
	}
}

func TestQuestionnairePackageErrors(t *testing.T) {
	ts := newTestServer(t, serverOpts{})
	const path = "/fhir/Questionnaire/$questionnaire-package"
	// An unknown Questionnaire is a warning in outcome, not a failure.
	status, body, _ := ts.do(t, "POST", path, packageRequest(t, "b-pend-stale", "ucare", "http://example.org/Questionnaire/other|2"), "")
	var out packageOut
	if err := json.Unmarshal(body, &out); status != 200 || err != nil || len(out.Parameter) != 2 || out.Parameter[1].Name != "outcome" ||
		!strings.Contains(string(out.Parameter[1].Resource), "other|2") {
		t.Errorf("unknown questionnaire: %d %s", status, body)
	}
	noCoverage := []byte(`{"resourceType":"Parameters","parameter":[{"name":"questionnaire","valueCanonical":"x"}]}`)
	for _, tc := range []struct {
		name   string
		body   []byte
		status int
	}{
		{"not JSON", []byte(`{`), 400},
		{"not Parameters", []byte(`{"resourceType":"Bundle"}`), 400},
		{"no coverage", noCoverage, 422},
		{"no gene therapy order", []byte(`{"resourceType":"Parameters","parameter":[{"name":"coverage","resource":{"resourceType":"Coverage","id":"c","status":"active","beneficiary":{"reference":"Patient/p"},"payor":[{"display":"UCare"}]}}]}`), 422},
	} {
		if status, body, _ := ts.do(t, "POST", path, tc.body, ""); status != tc.status || !strings.Contains(string(body), "OperationOutcome") {
			t.Errorf("%s: %d %s, want %d", tc.name, status, body, tc.status)
		}
	}
}

// TestCommittedPackageFixture keeps testdata/serve/dtr in step (-update).
func TestCommittedPackageFixture(t *testing.T) {
	path := filepath.Join(repoRoot(t), "testdata", "serve", "dtr", "questionnaire-package-b-pend-stale.json")
	gen := packageRequest(t, "b-pend-stale", "ucare")
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
		t.Fatalf("%v (go test ./cmd/hemopa/internal/serve -run CommittedPackageFixture -update)", err)
	}
	if string(got) != string(gen) {
		t.Errorf("%s is stale: rerun with -update", path)
	}
}

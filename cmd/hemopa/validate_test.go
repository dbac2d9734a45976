package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"hemopa/cmd/hemopa/internal/pipeline"
	"hemopa/cmd/hemopa/internal/serve"
	"hemopa/fhir/fhirtest"
)

// EnvEmitDir names a directory where TestEmittedFHIRIsValid also writes every
// document it validated (one NAME.json each), for the integration test that
// sends them to a real FHIR server's $validate.
const EnvEmitDir = "HEMOPA_EMIT_DIR"

// TestEmittedFHIRIsValid: every FHIR resource the product emits — PAS
// $submit and $inquire responses (Bundles, ClaimResponses with and without
// errors, the Parameters wrapping, OperationOutcomes of rejections), CRD
// order-sign/select/dispatch responses (every resource they carry: today the
// systemActions' orders; cards carry no suggestion resources yet, and would
// be checked too), the DTR $questionnaire-package (Parameters, Questionnaire,
// QuestionnaireResponse), the write-back transaction Bundles the CLI sends,
// hemopa pas submit/inquire and hemopa questionnaire — passes fhirtest's
// strict R4 check.
func TestEmittedFHIRIsValid(t *testing.T) {
	docs := emittedDocuments(t)
	if dir := os.Getenv(EnvEmitDir); dir != "" { // before the check, so a failure is there to look at too
		for name, body := range docs {
			if err := os.WriteFile(filepath.Join(dir, name+".json"), body, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	checked := fhirtest.ValidateAll(t, docs)

	// Each document carries what it should, so the check cannot pass on
	// nothing.
	want := map[string][]string{ // name prefix → resource types it must hold
		"pas-submit-":         {"Bundle", "ClaimResponse"},
		"pas-submit-wrapped":  {"Parameters", "Bundle", "ClaimResponse"},
		"pas-inquire-":        {"Bundle", "ClaimResponse"},
		"pas-error-":          {"OperationOutcome"},
		"pas-cli-":            {"Bundle", "ClaimResponse"},
		"crd-order-sign-":     {"MedicationRequest"},
		"crd-order-select-":   {"MedicationRequest"},
		"crd-order-dispatch-": {"MedicationRequest"},
		"crd-error-":          {"OperationOutcome"},
		"dtr-package-":        {"Parameters", "Questionnaire", "QuestionnaireResponse"},
		"dtr-error-":          {"OperationOutcome"},
		"writeback-b-pend":    {"Bundle", "ClaimResponse", "QuestionnaireResponse", "Task"},
		"writeback-":          {"Bundle", "ClaimResponse", "QuestionnaireResponse"},
		"questionnaire":       {"Questionnaire"},
	}
	all := map[string]int{}
	for name, rs := range checked {
		types := fhirtest.Types(rs)
		for typ, n := range types {
			all[typ] += n
		}
		matched := false
		for prefix, need := range want {
			if !strings.HasPrefix(name, prefix) {
				continue
			}
			matched = true
			for _, typ := range need {
				if types[typ] == 0 {
					t.Errorf("%s: no %s checked (checked %v)", name, typ, rs)
				}
			}
		}
		if !matched {
			t.Errorf("%s: no expectation for this document", name)
		}
	}
	if !bytes.Contains(docs["pas-submit-coding-errors"], []byte(`"error":[`)) {
		t.Errorf("pas-submit-coding-errors: no ClaimResponse.error: %.300s", docs["pas-submit-coding-errors"])
	}
	t.Logf("%d documents, resources checked by type: %v", len(docs), all)
}

// emittedDocuments produces every kind of document the product emits, by name.
func emittedDocuments(t *testing.T) map[string][]byte {
	t.Helper()
	docs := map[string][]byte{}
	add := func(name string, body []byte) {
		t.Helper()
		if _, dup := docs[name]; dup {
			t.Fatalf("document %s twice", name)
		}
		docs[name] = body
	}
	srv := newValidateServer(t)

	// PAS: every sample request, one wrapped in Parameters, inquiries, rejections.
	pasFiles, _ := filepath.Glob("../../testdata/pas/*.json")
	if len(pasFiles) < 10 {
		t.Fatalf("only %d PAS samples", len(pasFiles))
	}
	for _, f := range pasFiles {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		body := readFile(t, f)
		add("pas-submit-"+name, srv.post(t, "/fhir/Claim/$submit", body, http.StatusOK))
		add("pas-inquire-"+name, srv.post(t, "/fhir/Claim/$inquire", inquiry(t, body), http.StatusOK))
	}
	add("pas-submit-wrapped", srv.post(t, "/fhir/Claim/$submit", wrapParameters(t, "../../testdata/pas/b-pend-stale.json"), http.StatusOK))
	add("pas-submit-coding-errors", srv.post(t, "/fhir/Claim/$submit", withCodingErrors(t, "../../testdata/pas/b-approve.json"), http.StatusOK))
	for name, tc := range map[string]struct {
		path, body string
		status     int
	}{
		"not-json":     {"/fhir/Claim/$submit", `{"resourceType":`, http.StatusBadRequest},
		"not-a-bundle": {"/fhir/Claim/$submit", `{"resourceType":"Patient","id":"p"}`, http.StatusBadRequest},
		"no-claim":     {"/fhir/Claim/$submit", `{"resourceType":"Bundle","type":"collection","entry":[{"fullUrl":"http://ehr.example.org/fhir/Patient/p","resource":{"resourceType":"Patient","id":"p"}}]}`, http.StatusBadRequest},
		"inquire-none": {"/fhir/Claim/$inquire", string(inquiryFor(t, "pat-unknown", "PAS-never-submitted")), http.StatusNotFound},
	} {
		add("pas-error-"+name, srv.post(t, tc.path, []byte(tc.body), tc.status))
	}

	// hemopa pas submit / inquire print the same responses, indented.
	store := filepath.Join(t.TempDir(), "pas.db")
	for _, op := range []string{"submit", "inquire"} {
		body := readFile(t, "../../testdata/pas/b-pend-stale.json")
		if op == "inquire" {
			body = inquiry(t, body)
		}
		out, errs, code := runCLI(t, string(body), "pas", op, "--bundle", "-", "--store", store, "--as-of", sampleAsOf)
		if code != 0 {
			t.Fatalf("hemopa pas %s: exit %d: %s", op, code, errs)
		}
		add("pas-cli-"+op+"-b-pend-stale", []byte(out))
	}

	// CRD: the committed order-sign requests, and the same orders selected and dispatched.
	hookFiles, _ := filepath.Glob("../../testdata/serve/hooks/order-sign-*.json")
	if len(hookFiles) == 0 {
		t.Fatal("no hook samples")
	}
	for _, f := range hookFiles {
		name := strings.TrimPrefix(strings.TrimSuffix(filepath.Base(f), ".json"), "order-sign-")
		sign := readFile(t, f)
		add("crd-order-sign-"+name, srv.post(t, "/cds-services/hemopa-order-sign", sign, http.StatusOK))
		add("crd-order-select-"+name, srv.post(t, "/cds-services/hemopa-order-select", asOrderSelect(t, sign), http.StatusOK))
		add("crd-order-dispatch-"+name, srv.post(t, "/cds-services/hemopa-order-dispatch", asOrderDispatch(t, sign), http.StatusOK))
	}
	add("crd-error-not-json", srv.post(t, "/cds-services/hemopa-order-sign", []byte(`{"hook":`), http.StatusBadRequest))

	// DTR
	dtrFiles, _ := filepath.Glob("../../testdata/serve/dtr/*.json")
	if len(dtrFiles) == 0 {
		t.Fatal("no DTR samples")
	}
	for _, f := range dtrFiles {
		add("dtr-package-"+strings.TrimSuffix(filepath.Base(f), ".json"), srv.post(t, "/fhir/Questionnaire/$questionnaire-package", readFile(t, f), http.StatusOK))
	}
	add("dtr-error-not-parameters", srv.post(t, "/fhir/Questionnaire/$questionnaire-package", []byte(`{"resourceType":"Patient","id":"p"}`), http.StatusBadRequest))

	// Write-back: the transaction the CLI sends (approve, pend with a Task, deny).
	for _, patient := range []string{"b-approve", "b-pend-stale", "b-deny-labs", "a-deny-aav5"} {
		policy := "ucare-hemgenix"
		if strings.HasPrefix(patient, "a-") {
			policy = "ny-pharmacy-109-roctavian"
		}
		for i, tx := range writeBackTransactions(t, patient, policy) {
			add(fmt.Sprintf("writeback-%s-%d", patient, i), tx)
		}
	}

	// hemopa questionnaire
	out, errs, code := runCLI(t, "", "questionnaire")
	if code != 0 {
		t.Fatalf("hemopa questionnaire: exit %d: %s", code, errs)
	}
	add("questionnaire", []byte(out))
	return docs
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// validateServer is hemopa serve's handler (no inbound auth) on a loopback
// httptest listener, with the PAS service the CLI builds for it.
type validateServer struct {
	url    string
	client *http.Client
}

// validateConfig is a serve config with the payers and defaults of the sample data.
const validateConfig = `
public_base_url: http://127.0.0.1
payers:
  - name: UCare
    match: {system: http://hemopa.org/fhir/sid/payer, value: ucare}
    policy: ucare-hemgenix
  - name: NY Medicaid
    match: {reference: Organization/ny-medicaid}
    policies: [ny-pharmacy-109-hemgenix, ny-pharmacy-109-roctavian]
  - name: BCBS Mississippi
    match: {display: Blue Cross & Blue Shield of Mississippi}
    policies: [bcbsms-hemophilia-b-gene-therapy]
default_policy:
  Hemgenix: label-aligned-hemgenix
  Beqvez: label-aligned-beqvez
  Roctavian: ny-pharmacy-109-roctavian
rate_limit: {per_second: -1}
as_of: ` + sampleAsOf + `
pas:
  store: pas.db
`

func newValidateServer(t *testing.T) *validateServer {
	t.Helper()
	dir := t.TempDir()
	cfg, err := serve.ParseConfig([]byte(validateConfig), dir)
	if err != nil {
		t.Fatal(err)
	}
	p, err := pipeline.New(pipeline.WithCatalog(cfg.Catalog()))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	claims, err := newPASService(cfg, p, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { claims.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	s, err := serve.New(ctx, cfg, serve.WithLogger(log), serve.WithInsecureDev(), serve.WithPipeline(p), serve.WithPAS(claims))
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return &validateServer{url: ts.URL, client: ts.Client()}
}

// post sends body and returns the response body, failing unless the status is want.
func (s *validateServer) post(t *testing.T, path string, body []byte, want int) []byte {
	t.Helper()
	ct := "application/fhir+json"
	if strings.HasPrefix(path, "/cds-services/") {
		ct = "application/json"
	}
	resp, err := s.client.Post(s.url+path, ct, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != want {
		t.Fatalf("POST %s: status %d, want %d: %.400s", path, resp.StatusCode, want, b)
	}
	return b
}

// wrapParameters puts a PAS request Bundle in Parameters (parameter "resource").
func wrapParameters(t *testing.T, file string) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"resourceType": "Parameters", "parameter": []any{
		map[string]any{"name": "resource", "resource": json.RawMessage(readFile(t, file))}}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// withCodingErrors bills the first line of a PAS request as 3 units in an
// office (POS 11): the ClaimResponse then carries errors (X12 reject reasons).
func withCodingErrors(t *testing.T, file string) []byte {
	t.Helper()
	var b map[string]any
	if err := json.Unmarshal(readFile(t, file), &b); err != nil {
		t.Fatal(err)
	}
	edited := false
	for _, e := range b["entry"].([]any) {
		r := e.(map[string]any)["resource"].(map[string]any)
		if r["resourceType"] != "Claim" {
			continue
		}
		item := r["item"].([]any)[0].(map[string]any)
		item["quantity"] = map[string]any{"value": 3}
		item["locationCodeableConcept"] = map[string]any{"coding": []any{map[string]any{
			"system": "https://www.cms.gov/Medicare/Coding/place-of-service-codes/Place_of_Service_Code_Set", "code": "11"}}}
		edited = true
	}
	if !edited {
		t.Fatal("no Claim in " + file)
	}
	out, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// inquiry turns a PAS request into its $inquire: a Claim with the same
// identifier and patient, and the Patient.
func inquiry(t *testing.T, submitted []byte) []byte {
	t.Helper()
	var b struct {
		Entry []struct {
			FullURL  string          `json:"fullUrl"`
			Resource json.RawMessage `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(submitted, &b); err != nil {
		t.Fatal(err)
	}
	var identifier, patientID string
	for _, e := range b.Entry {
		var r struct {
			ResourceType, ID string
			Identifier       []struct{ System, Value string }
		}
		_ = json.Unmarshal(e.Resource, &r)
		switch r.ResourceType {
		case "Claim":
			if len(r.Identifier) > 0 && identifier == "" {
				identifier = r.Identifier[0].Value
			}
		case "Patient":
			if patientID == "" {
				patientID = r.ID
			}
		}
	}
	if identifier == "" || patientID == "" {
		t.Fatal("PAS sample without a Claim identifier or a Patient")
	}
	return inquiryFor(t, patientID, identifier)
}

// traceSystem is the Claim.identifier system of the sample PAS requests.
const traceSystem = "http://ehr.example.org/fhir/sid/pas-trace"

func inquiryFor(t *testing.T, patientID, identifier string) []byte {
	t.Helper()
	const base = "http://ehr.example.org/fhir/"
	b, err := json.Marshal(map[string]any{"resourceType": "Bundle", "type": "collection", "entry": []any{
		map[string]any{"fullUrl": base + "Claim/inq-1", "resource": map[string]any{
			"resourceType": "Claim", "id": "inq-1", "status": "active", "use": "preauthorization",
			"identifier": []any{map[string]any{"system": traceSystem, "value": identifier}},
			"patient":    map[string]any{"reference": "Patient/" + patientID},
			"created":    "2026-11-25T10:00:00Z"}},
		map[string]any{"fullUrl": base + "Patient/" + patientID, "resource": map[string]any{"resourceType": "Patient", "id": patientID}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// editJSON applies f to a hook request.
func editJSON(t *testing.T, body []byte, f func(m, ctx, prefetch, order map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	ctx, _ := m["context"].(map[string]any)
	prefetch, _ := m["prefetch"].(map[string]any)
	var order map[string]any
	if d, ok := ctx["draftOrders"].(map[string]any); ok {
		order = d["entry"].([]any)[0].(map[string]any)["resource"].(map[string]any)
	}
	if ctx == nil || prefetch == nil || order == nil {
		t.Fatal("hook sample without context, prefetch or draft order")
	}
	f(m, ctx, prefetch, order)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// asOrderSelect selects the order-sign request's draft order.
func asOrderSelect(t *testing.T, sign []byte) []byte {
	return editJSON(t, sign, func(m, ctx, _, o map[string]any) {
		m["hook"] = "order-select"
		ctx["selections"] = []string{o["resourceType"].(string) + "/" + o["id"].(string)}
	})
}

// asOrderDispatch dispatches the order-sign request's order (now active, read from the prefetch).
func asOrderDispatch(t *testing.T, sign []byte) []byte {
	return editJSON(t, sign, func(m, ctx, prefetch, o map[string]any) {
		m["hook"] = "order-dispatch"
		o["status"] = "active"
		prefetch["medicationRequests"] = map[string]any{"resourceType": "Bundle", "type": "searchset", "entry": []any{map[string]any{"resource": o}}}
		delete(ctx, "draftOrders")
		ctx["dispatchedOrders"] = []string{"MedicationRequest/" + o["id"].(string)}
		ctx["performer"] = "Organization/infusion-center"
	})
}

// writeBackTransactions runs hemopa evaluate --write-back against a small
// FHIR server that answers the fetch with a sample patient's record and
// records each transaction Bundle it is sent.
func writeBackTransactions(t *testing.T, patient, policy string) [][]byte {
	t.Helper()
	var record struct {
		Entry []struct {
			Resource json.RawMessage `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(readFile(t, "../../testdata/patients/"+patient+".json"), &record); err != nil {
		t.Fatal(err)
	}
	byType := map[string][]json.RawMessage{}
	patientID := ""
	for _, e := range record.Entry {
		var h struct{ ResourceType, ID string }
		_ = json.Unmarshal(e.Resource, &h)
		byType[h.ResourceType] = append(byType[h.ResourceType], e.Resource)
		if h.ResourceType == "Patient" {
			patientID = h.ID
		}
	}
	searchset := func(url string) map[string]any {
		typ, _, _ := strings.Cut(strings.TrimPrefix(url, "/"), "?")
		typ, _, _ = strings.Cut(typ, "/")
		var entries []any
		for _, r := range byType[typ] {
			entries = append(entries, map[string]any{"resource": r, "search": map[string]any{"mode": "match"}})
		}
		return map[string]any{"resourceType": "Bundle", "type": "searchset", "total": len(entries), "entry": entries}
	}
	var mu sync.Mutex
	var txs [][]byte
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/fhir+json")
		body, _ := io.ReadAll(r.Body)
		if r.Method == http.MethodGet {
			_ = json.NewEncoder(w).Encode(searchset(r.URL.Path[len("/fhir"):] + "?" + r.URL.RawQuery))
			return
		}
		var b struct {
			Type  string
			Entry []struct {
				Request struct{ URL string }
			}
		}
		if json.Unmarshal(body, &b) != nil {
			http.Error(w, "bad bundle", http.StatusBadRequest)
			return
		}
		var entries []any
		switch b.Type {
		case "batch":
			for _, e := range b.Entry {
				entries = append(entries, map[string]any{"response": map[string]any{"status": "200 OK"}, "resource": searchset(e.Request.URL)})
			}
		case "transaction":
			mu.Lock()
			txs = append(txs, body)
			mu.Unlock()
			for range b.Entry {
				entries = append(entries, map[string]any{"response": map[string]any{"status": "201 Created"}})
			}
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"resourceType": "Bundle", "type": b.Type + "-response", "entry": entries})
	}))
	defer fake.Close()
	_, errs, code := runCLI(t, "", "evaluate", "--fhir-server", fake.URL+"/fhir", "--patient", patientID, "--policy", policy,
		"--as-of", sampleAsOf, "--write-back", "--outbox", t.TempDir())
	if code != 0 {
		t.Fatalf("evaluate --write-back %s: exit %d: %s", patient, code, errs)
	}
	if len(txs) == 0 {
		t.Fatalf("evaluate --write-back %s sent no transaction", patient)
	}
	return slices.Clone(txs)
}

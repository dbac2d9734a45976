package serve

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"hemopa/cmd/hemopa/internal/davinci"
)

// qpackageParams is the $questionnaire-package input (DTR 2.2
// dtr-qpackage-input-parameters) plus one hemopa parameter:
//
//   - coverage (1, Coverage): the member's Coverage; its payor picks the policy.
//   - order (0..*, MedicationRequest/ServiceRequest/DeviceRequest): the gene
//     therapy order(s); the first names the drug.
//   - questionnaire (0..*, canonical): only the attestation Questionnaire
//     exists; others are answered with a warning in outcome.
//   - context (0..1, string): the CRD coverage-assertion-id; accepted, unused.
//   - bundle (0..1, Bundle; hemopa): the patient's record (any Bundle type),
//     used to pre-fill. Without it the response asks for every attestation
//     the policy needs. An order inside the bundle is used when no order
//     parameter is given.
type qpackageParams struct {
	ResourceType string `json:"resourceType"`
	Parameter    []struct {
		Name           string          `json:"name"`
		Resource       json.RawMessage `json:"resource"`
		ValueCanonical string          `json:"valueCanonical"`
		ValueString    string          `json:"valueString"`
	} `json:"parameter"`
}

// handleQuestionnairePackage answers POST /fhir/Questionnaire/$questionnaire-package.
func (s *Server) handleQuestionnairePackage(_ context.Context, _ *http.Request, body []byte, rec *record) (int, any, error) {
	rec.hook = "dtr"
	var in qpackageParams
	if err := json.Unmarshal(body, &in); err != nil {
		return 0, nil, badRequest("bad-json", "invalid Parameters JSON: %s", jsonProblem(err))
	}
	if in.ResourceType != "Parameters" {
		return 0, nil, badRequest("bad-json", "the body must be a Parameters resource")
	}
	var (
		covRaw   json.RawMessage
		orders   []resource
		record   []resource
		warnings []string
	)
	for _, p := range in.Parameter {
		switch p.Name {
		case "coverage":
			covRaw = p.Resource
		case "order":
			r, err := parseResource(p.Resource)
			if err != nil {
				return 0, nil, badRequest("bad-order", "parameter order: %v", err)
			}
			orders = append(orders, r)
		case "bundle":
			rs, err := bundleResources(p.Resource)
			if err != nil {
				return 0, nil, badRequest("bad-bundle", "parameter bundle: %v", err)
			}
			record = append(record, rs...)
		case "questionnaire":
			if c, _, _ := strings.Cut(p.ValueCanonical, "|"); c != davinci.QuestionnaireURL {
				warnings = append(warnings, "Questionnaire "+p.ValueCanonical+" does not exist here")
			}
		}
	}
	if len(covRaw) == 0 {
		return 0, nil, unprocessable("no-coverage", "parameter coverage (a Coverage resource) is required")
	}
	covRes, err := parseResource(covRaw)
	if err != nil || covRes.Type != "Coverage" {
		return 0, nil, badRequest("bad-coverage", "parameter coverage must be a Coverage resource")
	}
	cv, err := parseCoverage(covRes)
	if err != nil {
		return 0, nil, err
	}
	var companions []resource
	for _, r := range record {
		if r.Type == "Medication" {
			companions = append(companions, r)
		}
	}
	found, err := s.findOrders(orders, companions)
	if err != nil {
		return 0, nil, err
	}
	if len(found) == 0 {
		if found, err = s.findOrders(record, companions); err != nil {
			return 0, nil, err
		}
	}
	if len(found) == 0 {
		return 0, nil, unprocessable("no-order", "no Hemgenix, Beqvez or Roctavian order in parameter order or bundle")
	}
	o := &found[0]
	pol, _, err := s.cfg.policyFor(cv, o.Drug)
	if err != nil {
		return 0, nil, err
	}
	if pol == nil {
		return 0, nil, unprocessable("no-policy", "the payer of %s has no policy for %s", cv.Ref(), o.Drug)
	}
	pid, rs, err := dtrRecord(cv, o, orders, record)
	if err != nil {
		return 0, nil, err
	}
	dec, err := s.dec.decide(rs, pol, s.cfg.evalDay(), pid)
	if err != nil {
		return 0, nil, err
	}
	rec.addDecision(string(dec.Det.Decision))
	s.m.decisions.WithLabelValues("dtr", pol.ID, string(dec.Det.Decision)).Inc()
	cat := s.p.Catalog
	answered, missing := davinci.Prefill(cat, pol, dec.Det, dec.Facts)
	var orderRefs []string
	for _, f := range found {
		orderRefs = append(orderRefs, f.Ref())
	}
	qr := davinci.QuestionnaireResponse(cat, answered, missing, davinci.PackageInput{
		Patient: "Patient/" + pid, Coverage: cv.Ref(), Orders: orderRefs})
	return http.StatusOK, fhirBody{davinci.QuestionnairePackage(davinci.Questionnaire(cat), qr, warnings)}, nil
}

// dtrRecord is the record evaluated for a package: the Patient (the Coverage
// beneficiary; a stand-in when the bundle has none), the order, the other
// orders, the Coverage and the bundle, each resource once.
func dtrRecord(cv *coverage, o *order, orders, record []resource) (string, []resource, error) {
	pid, _ := refID(cv.Beneficiary.Reference, "Patient")
	var patient *resource
	for i, r := range record {
		if r.Type == "Patient" && (pid == "" || r.ID == pid) {
			patient = &record[i]
			pid = r.ID
			break
		}
	}
	if pid == "" || !validID(pid) {
		return "", nil, unprocessable("no-patient", "Coverage.beneficiary must reference the Patient (or the bundle hold one)")
	}
	var out []resource
	seen := map[string]bool{}
	add := func(r resource) {
		if r.ID != "" {
			if seen[r.Ref()] {
				return
			}
			seen[r.Ref()] = true
		}
		out = append(out, r)
	}
	if patient != nil {
		add(*patient)
	} else {
		add(resource{Type: "Patient", ID: pid, Raw: json.RawMessage(`{"resourceType":"Patient","id":"` + pid + `"}`)})
	}
	add(o.eval)
	seen[o.Ref()] = true
	for _, r := range orders {
		add(r)
	}
	add(cv.resource)
	for _, r := range record {
		add(r)
	}
	return pid, out, nil
}

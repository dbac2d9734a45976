package serve

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"hemopa/cmd/hemopa/internal/crd"
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
	pkg, err := s.crd.Package(crd.PackageRequest{Coverage: covRaw, Orders: orders, Record: record, Warnings: warnings})
	if err != nil {
		return 0, nil, err
	}
	rec.addDecision(pkg.Decision)
	s.m.decisions.WithLabelValues("dtr", pkg.Policy, pkg.Decision).Inc()
	return http.StatusOK, fhirBody{pkg.Body}, nil
}

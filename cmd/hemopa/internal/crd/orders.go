package crd

import (
	"encoding/json"
	"slices"

	"hemopa/cmd/hemopa/internal/serve/cdshooks"
)

// Order is a gene therapy order found in a request. Find them with
// Service.Orders.
type Order struct {
	resource           // as the EHR sent it (the systemAction updates it)
	eval      resource // as the mapping reads it (a DeviceRequest as a ServiceRequest)
	Drug      string   // Hemgenix, Beqvez or Roctavian
	Insurance []string // Coverage references on the order
	Subject   string   // patient reference
}

// orderFields are the fields of MedicationRequest, ServiceRequest and
// DeviceRequest an order is read from.
type orderFields struct {
	Status    string          `json:"status"`
	Subject   *reference      `json:"subject"`
	Requester json.RawMessage `json:"requester"`
	Insurance []reference     `json:"insurance"`
	Code      json.RawMessage `json:"codeCodeableConcept"` // DeviceRequest
}

type reference struct {
	Reference string `json:"reference"`
}

// geneTherapyTypes are the order types that can carry a gene therapy.
var geneTherapyTypes = []string{"MedicationRequest", "ServiceRequest", "DeviceRequest"}

// Orders returns the gene therapy orders among candidates (companions are
// Medications a MedicationRequest may reference). The drug is read by the
// mapping (HCPCS, RxNorm, NDC or name), as for a patient's record.
func (s *Service) Orders(candidates, companions []resource) ([]Order, error) {
	gene, _, err := s.Classify(candidates, companions)
	return gene, err
}

// Classify sorts the orders among candidates into the gene therapy orders
// hemopa decides and the others (Drug ""), which a primary hook still
// answers with the payer's coverage information for unmanaged items.
func (s *Service) Classify(candidates, companions []resource) (gene, other []Order, err error) {
	for _, c := range candidates {
		if !slices.Contains(geneTherapyTypes, c.Type) {
			continue
		}
		if c.ID == "" {
			return nil, nil, unprocessable("order-id", "draft %s without an id", c.Type)
		}
		var f orderFields
		if err := json.Unmarshal(c.Raw, &f); err != nil {
			return nil, nil, badRequest("bad-order", "%s: %s", c.Ref(), cdshooks.JSONProblem(err))
		}
		o := Order{resource: c, eval: project(c)}
		if f.Subject != nil {
			o.Subject = f.Subject.Reference
		}
		for _, in := range f.Insurance {
			o.Insurance = append(o.Insurance, in.Reference)
		}
		if c.Type == "DeviceRequest" {
			if len(f.Code) == 0 {
				other = append(other, o)
				continue
			}
			o.eval = deviceAsService(c, &f)
		}
		drug, err := s.orderedDrug(o.eval, o.Subject, companions)
		if err != nil {
			return nil, nil, err
		}
		if drug == "" {
			other = append(other, o)
			continue
		}
		o.Drug = drug
		gene = append(gene, o)
	}
	return gene, other, nil
}

// orderKeys are the order fields the mapping reads. Orders are evaluated as
// this projection so that a draft order's unrelated, malformed details (the
// Inferno sample's doseAndRate object) do not fail the hook.
var orderKeys = []string{"resourceType", "id", "status", "intent", "subject", "requester", "authoredOn",
	"medicationCodeableConcept", "medicationReference", "code", "category"}

// project keeps the orderKeys of a MedicationRequest or ServiceRequest.
func project(c resource) resource {
	var all map[string]json.RawMessage
	if json.Unmarshal(c.Raw, &all) != nil {
		return c
	}
	keep := make(map[string]json.RawMessage, len(orderKeys))
	for _, k := range orderKeys {
		if v, ok := all[k]; ok {
			keep[k] = v
		}
	}
	raw, err := json.Marshal(keep)
	if err != nil {
		return c
	}
	return resource{Type: c.Type, ID: c.ID, Raw: raw}
}

// deviceAsService restates a DeviceRequest as the ServiceRequest the mapping
// reads orders from (same id, status, subject, requester and code).
func deviceAsService(c resource, f *orderFields) resource {
	m := map[string]any{"resourceType": "ServiceRequest", "id": c.ID, "status": f.Status, "intent": "order",
		"code": f.Code}
	if f.Subject != nil {
		m["subject"] = f.Subject
	}
	if len(f.Requester) > 0 {
		m["requester"] = f.Requester
	}
	raw, _ := json.Marshal(m)
	return resource{Type: "ServiceRequest", ID: c.ID, Raw: raw}
}

// orderedDrug maps the order alone (with a stand-in Patient) and reads its
// requested_drug fact.
func (s *Service) orderedDrug(o resource, subject string, companions []resource) (string, error) {
	pid, ok := cdshooks.RefID(subject, "Patient")
	if !ok || !cdshooks.ValidID(pid) {
		pid = "order-subject"
	}
	rs := append([]resource{stubPatient(pid), o}, companions...)
	return s.dec.orderedDrug(rs, pid, o.Ref())
}

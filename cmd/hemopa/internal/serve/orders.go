package serve

import (
	"context"
	"encoding/json"
	"slices"
)

// order is a gene therapy order found in a hook request.
type order struct {
	resource           // as the EHR sent it (the systemAction updates it)
	eval      resource // as the mapping reads it (a DeviceRequest as a ServiceRequest)
	Drug      string   // Hemgenix, Beqvez or Roctavian
	Insurance []string // Coverage references on the order
	Subject   string   // patient reference
}

// orderFields are the fields of MedicationRequest, ServiceRequest and
// DeviceRequest the server reads.
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

// findOrders returns the gene therapy orders among candidates (companions
// are Medications a MedicationRequest may reference). The drug is read by
// the mapping (HCPCS, RxNorm, NDC or name), as for a patient's record.
func (s *Server) findOrders(candidates, companions []resource) ([]order, error) {
	var out []order
	for _, c := range candidates {
		if !slices.Contains(geneTherapyTypes, c.Type) {
			continue
		}
		if c.ID == "" {
			return nil, unprocessable("order-id", "draft %s without an id", c.Type)
		}
		var f orderFields
		if err := json.Unmarshal(c.Raw, &f); err != nil {
			return nil, badRequest("bad-order", "%s: %s", c.Ref(), jsonProblem(err))
		}
		o := order{resource: c, eval: project(c)}
		if f.Subject != nil {
			o.Subject = f.Subject.Reference
		}
		for _, in := range f.Insurance {
			o.Insurance = append(o.Insurance, in.Reference)
		}
		if c.Type == "DeviceRequest" {
			if len(f.Code) == 0 {
				continue
			}
			o.eval = deviceAsService(c, &f)
		}
		drug, err := s.orderedDrug(o.eval, o.Subject, companions)
		if err != nil {
			return nil, err
		}
		if drug == "" {
			continue
		}
		o.Drug = drug
		out = append(out, o)
	}
	return out, nil
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
func (s *Server) orderedDrug(o resource, subject string, companions []resource) (string, error) {
	pid, ok := refID(subject, "Patient")
	if !ok || !validID(pid) {
		pid = "order-subject"
	}
	stub := resource{Type: "Patient", ID: pid, Raw: json.RawMessage(`{"resourceType":"Patient","id":"` + pid + `"}`)}
	rs := append([]resource{stub, o}, companions...)
	return s.dec.orderedDrug(rs, pid, o.Ref())
}

// validID is the FHIR id syntax.
func validID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// hookOrders lists the orders a hook is about: draftOrders (order-sign), the
// selected draftOrders (order-select) or the dispatched orders (found in the
// prefetch or read from the EHR). companions are the draft Medications.
func (s *Server) hookOrders(ctx context.Context, req *HookRequest, g *gatherer) (candidates, companions []resource, err error) {
	if req.Hook == hookOrderDispatch {
		for _, ref := range req.Context.DispatchedOrders {
			r, found := findInPrefetch(req, ref)
			if !found {
				if r, err = g.readOrder(ctx, ref); err != nil {
					return nil, nil, err
				}
			}
			candidates = append(candidates, r)
		}
		return candidates, nil, nil
	}
	all, err := validBundleResources(req.Context.DraftOrders)
	if err != nil {
		return nil, nil, unprocessable("context", "context.draftOrders: %v", err)
	}
	for _, r := range all {
		switch {
		case r.Type == "Medication":
			companions = append(companions, r)
		case req.Hook == hookOrderSelect && !slices.Contains(req.Context.Selections, r.Ref()):
			// Not selected: order-select is about the selections only.
		default:
			candidates = append(candidates, r)
		}
	}
	return candidates, companions, nil
}

// findInPrefetch looks for a resource by reference in any prefetch value.
func findInPrefetch(req *HookRequest, ref string) (resource, bool) {
	for _, raw := range req.Prefetch {
		if isNull(raw) {
			continue
		}
		rs, err := validBundleResources(raw)
		if err != nil {
			continue
		}
		for _, r := range rs {
			if r.Ref() == ref {
				return r, true
			}
		}
	}
	return resource{}, false
}

package pas

import (
	"context"
	"errors"

	"hemopa/cmd/hemopa/internal/davinci"
	"hemopa/rules"
)

// ErrNoAuthorization is returned by Store.OrderAuthorization when no
// authorization was granted at order time for the order.
var ErrNoAuthorization = errors.New("pas: no authorization recorded for the order")

// authorizationKey is where an order's authorization is kept: the patient,
// the order and the drug. Recording again (the next order-sign) replaces it.
func authorizationKey(patient, order, drug string) string {
	return patient + "\x00" + order + "\x00" + drug
}

// orderRefs are the orders a Claim refers to, as Type/id: each item's
// PAS requestedService, Claim.prescription and the supportingInfo
// valueReferences that are MedicationRequests, ServiceRequests or
// DeviceRequests (resolved in the bundle when they can be).
func (r *request) orderRefs() []string {
	var refs []string
	add := func(ref string) {
		typ, id := "", ""
		if e := r.resolve(ref); e != nil {
			typ, id = e.typ, e.id
		} else if m := relativeRef.FindStringSubmatch(ref); m != nil {
			typ, id = m[1], m[2]
		}
		switch typ {
		case "MedicationRequest", "ServiceRequest", "DeviceRequest":
			if id != "" {
				refs = append(refs, typ+"/"+id)
			}
		}
	}
	items, _ := r.claim["item"].([]any)
	for _, x := range items {
		it, _ := x.(map[string]any)
		exts, _ := it["extension"].([]any)
		for _, y := range exts {
			e, _ := y.(map[string]any)
			if e["url"] == requestedServiceURL {
				add(refOf(e["valueReference"]))
			}
		}
	}
	add(refOf(r.claim["prescription"]))
	infos, _ := r.claim["supportingInfo"].([]any)
	for _, x := range infos {
		si, _ := x.(map[string]any)
		add(refOf(si["valueReference"]))
	}
	return refs
}

const requestedServiceURL = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/extension-requestedService"

// orderAuthorization is the authorization granted at order time that the
// submission's gene therapy lines are for: the same patient, one of the
// orders the Claim refers to, the line's drug, unexpired on asOf. Every gene
// therapy line must find the same one (a Claim for two authorized orders
// keeps its own preAuthRef). nil when there is none.
func (s *Service) orderAuthorization(ctx context.Context, r *request, drugs []string, asOf string) (*davinci.OrderAuthorization, error) {
	patient := r.patientMatch().ID
	orders := r.orderRefs()
	if patient == "" || len(orders) == 0 {
		return nil, nil
	}
	var found *davinci.OrderAuthorization
	for _, drug := range drugs {
		if drug == "" {
			continue
		}
		var line *davinci.OrderAuthorization
		for _, o := range orders {
			a, err := s.store.OrderAuthorization(ctx, patient, o, drug)
			if errors.Is(err, ErrNoAuthorization) {
				continue
			}
			if err != nil {
				return nil, err
			}
			if a.Expires == "" || asOf <= a.Expires {
				line = a
				break
			}
		}
		if line == nil || (found != nil && found.ID != line.ID) {
			return nil, nil
		}
		found = line
	}
	return found, nil
}

// allApproved reports whether the Claim has gene therapy lines and every one
// of them was decided approve.
func (ls *lines) allApproved() bool {
	n := 0
	for i, d := range ls.drugs {
		if d == "" {
			continue
		}
		if det := ls.items[i].Det; det == nil || det.Decision != rules.Approve {
			return false
		}
		n++
	}
	return n > 0
}

// RecordAuthorization records an authorization granted at order time in the
// service's store (crd.Authorizations), for a later $submit of the order.
func (s *Service) RecordAuthorization(ctx context.Context, a davinci.OrderAuthorization) error {
	return s.store.RecordAuthorization(ctx, a)
}

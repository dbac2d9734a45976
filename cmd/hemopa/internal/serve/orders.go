package serve

import (
	"context"
	"encoding/json"
	"slices"
)

// hookOrders lists the orders a hook is about: draftOrders (order-sign), the
// selected draftOrders (order-select), the dispatched orders (order-dispatch:
// context.order or context.dispatchedOrders) or the appointments' basedOn
// (appointment-book), the last two found in the context or the prefetch or
// read from the EHR. encounter-start and encounter-discharge carry no order.
// companions are the draft Medications.
func (s *Server) hookOrders(ctx context.Context, req *HookRequest, g *gatherer) (candidates, companions []resource, err error) {
	switch req.Hook {
	case hookOrderDispatch:
		candidates, err = resolveOrders(ctx, req, g, nil, req.Context.DispatchedRefs())
		return candidates, nil, err
	case hookAppointment:
		return appointmentOrders(ctx, req, g)
	case hookEncStart, hookEncDischarge:
		return nil, nil, nil
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

// appointmentOrders are the orders the booked Appointments are based on
// (appointment-book); an Appointment without an order basis has nothing to
// assess. The context's Bundle may carry the orders beside the Appointments.
func appointmentOrders(ctx context.Context, req *HookRequest, g *gatherer) (candidates, companions []resource, err error) {
	all, err := validBundleResources(req.Context.Appointments)
	if err != nil {
		return nil, nil, unprocessable("context", "context.appointments: %v", err)
	}
	var refs []string
	for _, r := range all {
		switch r.Type {
		case "Appointment":
			for _, ref := range basedOn(r) {
				if !slices.Contains(refs, ref) {
					refs = append(refs, ref)
				}
			}
		case "Medication":
			companions = append(companions, r)
		}
	}
	candidates, err = resolveOrders(ctx, req, g, all, refs)
	return candidates, companions, err
}

// basedOn lists an Appointment's order references: basedOn.reference
// (ServiceRequest in R4) and the alternate-reference extension CRD uses for
// MedicationRequest and DeviceRequest. Other types cannot carry a gene
// therapy and are not read.
func basedOn(appt resource) []string {
	var a struct {
		BasedOn []struct {
			Reference string `json:"reference"`
			Extension []struct {
				URL            string `json:"url"`
				ValueReference *struct {
					Reference string `json:"reference"`
				} `json:"valueReference"`
			} `json:"extension"`
		} `json:"basedOn"`
	}
	if json.Unmarshal(appt.Raw, &a) != nil {
		return nil
	}
	var refs []string
	add := func(ref string) {
		for _, t := range []string{"ServiceRequest", "MedicationRequest", "DeviceRequest"} {
			if id, ok := refID(ref, t); ok && validID(id) {
				refs = append(refs, t+"/"+id)
				return
			}
		}
	}
	for _, b := range a.BasedOn {
		add(b.Reference)
		for _, e := range b.Extension {
			if e.URL == alternateReferenceURL && e.ValueReference != nil {
				add(e.ValueReference.Reference)
			}
		}
	}
	return refs
}

// alternateReferenceURL is the FHIR extension CRD puts on Appointment.basedOn
// to point at a MedicationRequest or DeviceRequest.
const alternateReferenceURL = "http://hl7.org/fhir/StructureDefinition/alternate-reference"

// resolveOrders finds each referenced order in local (resources the context
// carries), then the prefetch, then reads it from the EHR.
func resolveOrders(ctx context.Context, req *HookRequest, g *gatherer, local []resource, refs []string) ([]resource, error) {
	var out []resource
	for _, ref := range refs {
		if i := slices.IndexFunc(local, func(r resource) bool { return r.Ref() == ref }); i >= 0 {
			out = append(out, local[i])
			continue
		}
		r, found := findInPrefetch(req, ref)
		if !found {
			var err error
			if r, err = g.readOrder(ctx, ref); err != nil {
				return nil, err
			}
		}
		out = append(out, r)
	}
	return out, nil
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

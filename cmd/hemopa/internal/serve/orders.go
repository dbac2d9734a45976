package serve

import (
	"context"
	"slices"
)

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

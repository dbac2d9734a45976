package pas

import "hemopa/cmd/hemopa/internal/router"

// payerOf reads the payer: the focal (else first) Claim.insurance Coverage's
// first payor, else Claim.insurer.
// The router matches it against the configured payers.
func (r *request) payerOf() router.Payor {
	ref := ""
	if ins, ok := r.claim["insurance"].([]any); ok {
		var pick map[string]any
		for _, x := range ins {
			m, _ := x.(map[string]any)
			if m == nil {
				continue
			}
			if pick == nil {
				pick = m
			}
			if focal, _ := m["focal"].(bool); focal {
				pick = m
				break
			}
		}
		if cov := r.resolve(refOf(pick["coverage"])); cov != nil && cov.typ == "Coverage" {
			if payors, ok := cov.object()["payor"].([]any); ok && len(payors) > 0 {
				ref = refOf(payors[0])
			}
		}
	}
	if ref == "" {
		ref = refOf(r.claim["insurer"])
	}
	p := router.Payor{Reference: ref}
	if e := r.resolve(ref); e != nil && e.typ == "Organization" {
		p.Display, _ = e.object()["name"].(string)
		for _, id := range identifiersOf(e.object()["identifier"]) {
			p.Identifiers = append(p.Identifiers, router.Identifier{System: id.System, Value: id.Value})
		}
	}
	return p
}

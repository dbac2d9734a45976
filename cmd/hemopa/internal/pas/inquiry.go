package pas

import (
	"slices"
)

// patientMatch is the inquiry's (or submission's) patient.
// A logical reference (Claim.patient.identifier, no Patient entry) matches by
// that identifier.
func (r *request) patientMatch() PatientMatch {
	e := r.resolve(refOf(r.claim["patient"]))
	if e == nil || e.typ != "Patient" {
		p, _ := r.claim["patient"].(map[string]any)
		return PatientMatch{Identifiers: identifiersOf([]any{p["identifier"]})}
	}
	return PatientMatch{ID: e.id, Identifiers: identifiersOf(e.object()["identifier"])}
}

func (m PatientMatch) matches(o PatientMatch) bool {
	if len(m.Identifiers) > 0 && len(o.Identifiers) > 0 {
		for _, a := range m.Identifiers {
			for _, b := range o.Identifiers {
				if sameIdentifier(a, b) {
					return true
				}
			}
		}
		return false
	}
	return m.ID != "" && m.ID == o.ID
}

func sameIdentifier(a, b Identifier) bool {
	return a.Value == b.Value && (a.System == "" || b.System == "" || a.System == b.System)
}

func (r *Record) matchesClaim(id Identifier) bool {
	return slices.ContainsFunc(r.Claim, func(c Identifier) bool { return sameIdentifier(c, id) })
}

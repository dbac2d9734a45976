package pas

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"hemopa/rules"
)

// Payer is who pays for the claim, as the request names it: the focal
// Coverage's payor (else the Claim's insurer) Organization.
type Payer struct {
	Reference   string       // the reference as written
	Name        string       // Organization.name
	Identifiers []Identifier // Organization.identifier
}

// Matches reports whether key names this payer: an identifier value, a
// "system|value" pair or the name, compared case-insensitively.
func (p Payer) Matches(key string) bool {
	if key == "" {
		return false
	}
	if strings.EqualFold(strings.TrimSpace(p.Name), key) {
		return true
	}
	for _, id := range p.Identifiers {
		if strings.EqualFold(id.Value, key) || strings.EqualFold(id.String(), key) {
			return true
		}
	}
	return false
}

// PolicyFunc chooses the policy for a requested gene therapy (drug is the
// product name: Hemgenix, Beqvez or Roctavian) under a payer. It returns a
// policy id from the embedded catalog, or "" when no policy applies: the
// item is then not reviewed and is pended (A4) with a note. It must be safe
// for concurrent use.
type PolicyFunc func(drug string, payer Payer) (policyID string)

// defaultPolicies is the policy used for each drug when no payer rule
// applies: the payer policy written for the drug where there is one
// (UCare for Hemgenix, PHARMACY-109 for Roctavian), the label-aligned policy
// for Beqvez (the only policy whose criteria cover Beqvez; BCBSMS covers
// neither Beqvez nor Hemgenix).
var defaultPolicies = map[string]string{
	"Hemgenix":  "ucare-hemgenix",
	"Beqvez":    "label-aligned-beqvez",
	"Roctavian": "ny-pharmacy-109-roctavian",
}

// DefaultPolicies returns a copy of the drug → policy defaults.
func DefaultPolicies() map[string]string { return maps.Clone(defaultPolicies) }

// StaticPolicies builds a PolicyFunc from configuration: byPayer maps a payer
// key (see Payer.Matches) to drug → policy id; a drug the payer's map does not
// name falls back to defaults (drug → policy id; nil means DefaultPolicies).
// An empty policy id in either map means "no policy: do not review".
func StaticPolicies(byPayer map[string]map[string]string, defaults map[string]string) PolicyFunc {
	if defaults == nil {
		defaults = DefaultPolicies()
	}
	byPayer = cloneNested(byPayer)
	defaults = maps.Clone(defaults)
	keys := slices.Sorted(maps.Keys(byPayer)) // a stable choice when several keys match
	return func(drug string, payer Payer) string {
		for _, key := range keys {
			if payer.Matches(key) {
				if id, ok := byPayer[key][drug]; ok {
					return id
				}
			}
		}
		return defaults[drug]
	}
}

func cloneNested(m map[string]map[string]string) map[string]map[string]string {
	out := make(map[string]map[string]string, len(m))
	for k, v := range m {
		out[k] = maps.Clone(v)
	}
	return out
}

// checkPolicy reports whether id is a known policy that covers drug.
func checkPolicy(cat *rules.Catalog, drug, id string) (*rules.Policy, error) {
	p, err := cat.Lookup(id)
	if err != nil {
		return nil, err
	}
	for _, d := range p.Drugs {
		if strings.EqualFold(d, drug) {
			return p, nil
		}
	}
	return nil, fmt.Errorf("policy %s is for %s, not %s", id, strings.Join(p.Drugs, ", "), drug)
}

// payerOf reads the payer: the focal (else first) Claim.insurance Coverage's
// first payor, else Claim.insurer.
func (r *request) payerOf() Payer {
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
	p := Payer{Reference: ref}
	if e := r.resolve(ref); e != nil && e.typ == "Organization" {
		p.Name, _ = e.object()["name"].(string)
		p.Identifiers = identifiersOf(e.object()["identifier"])
	}
	return p
}

package serve

import (
	"encoding/json"
	"strings"
	"time"

	"hemopa/rules"
)

// coverage is the part of a Coverage the server routes on.
type coverage struct {
	resource
	Status      string     `json:"status"`
	Beneficiary reference  `json:"beneficiary"`
	Payor       []payorRef `json:"payor"`
}

type payorRef struct {
	Reference  string `json:"reference"`
	Display    string `json:"display"`
	Identifier *struct {
		System string `json:"system"`
		Value  string `json:"value"`
	} `json:"identifier"`
}

func parseCoverage(r resource) (*coverage, error) {
	c := &coverage{resource: r}
	if err := json.Unmarshal(r.Raw, c); err != nil {
		return nil, badRequest("bad-coverage", "%s: %s", r.Ref(), jsonProblem(err))
	}
	return c, nil
}

// pickCoverage chooses the Coverage an order is about: the first of the
// order's insurance references found among the coverages, else the first
// active coverage. nil means the patient has none on record.
func pickCoverage(o *order, covs []resource) (*coverage, error) {
	byID := map[string]resource{}
	for _, c := range covs {
		if c.Type == "Coverage" && c.ID != "" {
			byID[c.ID] = c
		}
	}
	for _, ref := range o.Insurance {
		if id, ok := refID(ref, "Coverage"); ok {
			if c, ok := byID[id]; ok {
				return parseCoverage(c)
			}
		}
	}
	if len(o.Insurance) > 0 {
		return nil, badRequest("unknown-coverage", "%s names a Coverage that is not in the prefetch coverage", o.Ref())
	}
	for _, c := range covs {
		if c.Type != "Coverage" {
			continue
		}
		cv, err := parseCoverage(c)
		if err != nil {
			return nil, err
		}
		if cv.Status == "" || cv.Status == "active" {
			return cv, nil
		}
	}
	return nil, nil
}

// payerOf finds the configured payer of a Coverage (nil: not listed).
func (c *Config) payerOf(cv *coverage) *Payer {
	for i := range c.Payers {
		p := &c.Payers[i]
		for _, py := range cv.Payor {
			if p.Match.matches(py) {
				return p
			}
		}
	}
	return nil
}

func (m PayerMatch) matches(p payorRef) bool {
	if m.System != "" && (p.Identifier == nil || p.Identifier.System != m.System || p.Identifier.Value != m.Value) {
		return false
	}
	if m.Reference != "" && !sameRef(p.Reference, m.Reference) {
		return false
	}
	if m.Display != "" && !strings.EqualFold(strings.TrimSpace(p.Display), m.Display) {
		return false
	}
	return true
}

// sameRef compares references by their Type/id tail.
func sameRef(a, b string) bool {
	tail := func(s string) string {
		parts := strings.Split(strings.TrimRight(s, "/"), "/")
		if len(parts) < 2 {
			return s
		}
		return parts[len(parts)-2] + "/" + parts[len(parts)-1]
	}
	return a != "" && tail(a) == tail(b)
}

// policyFor chooses the policy for a drug under a Coverage: the payer's first
// policy covering the drug, else the drug's default policy. payer is the
// payer's name ("" when the payor is not listed). A nil policy with a nil
// error means the payer is listed but nothing covers the drug; an unlisted
// payor with no default is an unknown Coverage (400).
func (c *Config) policyFor(cv *coverage, drug string) (pol *rules.Policy, payer string, err error) {
	cat := c.catalog
	p := c.payerOf(cv)
	if p != nil {
		payer = p.Name
		for _, id := range p.Policies {
			if pol, err := cat.Lookup(id); err == nil && drugCovered(pol, drug) {
				return pol, payer, nil
			}
		}
	}
	if id := c.DefaultPolicy[drug]; id != "" {
		pol, err := cat.Lookup(id)
		return pol, payer, err
	}
	if p == nil {
		return nil, "", badRequest("unknown-coverage", "%s: its payor is not one this service decides for, and no default policy covers %s", cv.Ref(), drug)
	}
	return nil, payer, nil
}

// PayerID is one identifier of a payer organization.
type PayerID struct{ System, Value string }

// PolicyID is the policy id the config picks for a drug under a payer known
// by its reference, name and identifiers — the same choice as for a
// Coverage's payor, for the PAS service. "" means no policy applies.
func (c *Config) PolicyID(drug, reference, name string, ids []PayerID) string {
	var payor []payorRef
	for _, id := range ids {
		pr := payorRef{Reference: reference, Display: name}
		pr.Identifier = &struct {
			System string `json:"system"`
			Value  string `json:"value"`
		}{id.System, id.Value}
		payor = append(payor, pr)
	}
	if len(payor) == 0 {
		payor = []payorRef{{Reference: reference, Display: name}}
	}
	pol, _, err := c.policyFor(&coverage{Payor: payor}, drug)
	if err != nil || pol == nil {
		return ""
	}
	return pol.ID
}

// FixedDay is the configured as_of day, if any.
func (c *Config) FixedDay() (time.Time, bool) { return c.asOf, !c.asOf.IsZero() }

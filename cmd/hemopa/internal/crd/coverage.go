package crd

import (
	"encoding/json"
	"errors"

	"hemopa/cmd/hemopa/internal/router"
	"hemopa/cmd/hemopa/internal/serve/cdshooks"
	"hemopa/rules"
)

// coverage is the part of a Coverage an order is routed on.
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
		return nil, badRequest("bad-coverage", "%s: %s", r.Ref(), cdshooks.JSONProblem(err))
	}
	return c, nil
}

// pickCoverage chooses the Coverage an order is about: the first of the
// order's insurance references found among the coverages, else the one
// active coverage. Several active Coverages and an order naming none of them
// is a 400 (CRD hook-13: the service cannot tell which plan the order is
// under, and taking the first would answer for a plan at random). nil means
// the patient has none on record.
func pickCoverage(o *Order, covs []resource) (*coverage, error) {
	byID := map[string]resource{}
	for _, c := range covs {
		if c.Type == "Coverage" && c.ID != "" {
			byID[c.ID] = c
		}
	}
	for _, ref := range o.Insurance {
		if id, ok := cdshooks.RefID(ref, "Coverage"); ok {
			if c, ok := byID[id]; ok {
				return parseCoverage(c)
			}
		}
	}
	if len(o.Insurance) > 0 {
		return nil, badRequest("unknown-coverage", "%s names a Coverage that is not in the prefetch coverage", o.Ref())
	}
	var active []*coverage
	for _, c := range covs {
		if c.Type != "Coverage" {
			continue
		}
		cv, err := parseCoverage(c)
		if err != nil {
			return nil, err
		}
		if cv.Status == "" || cv.Status == "active" {
			active = append(active, cv)
		}
	}
	switch len(active) {
	case 0:
		return nil, nil
	case 1:
		return active[0], nil
	}
	return nil, badRequest("several-coverages", "%s names no Coverage (insurance) and the patient has %d active Coverages: say which plan the order is under", o.Ref(), len(active))
}

// payors are the Coverage's payors as the router reads them.
func (cv *coverage) payors() []router.Payor {
	out := make([]router.Payor, len(cv.Payor))
	for i, p := range cv.Payor {
		out[i] = router.Payor{Reference: p.Reference, Display: p.Display}
		if p.Identifier != nil {
			out[i].Identifiers = []router.Identifier{{System: p.Identifier.System, Value: p.Identifier.Value}}
		}
	}
	return out
}

// policyFor routes a drug under a Coverage (see router.Route): a nil policy
// with a nil error means the payer is listed but nothing covers the drug; an
// unlisted payor with no default is an unknown Coverage (400).
func (s *Service) policyFor(cv *coverage, drug string) (pol *rules.Policy, payer string, err error) {
	pol, payer, err = s.router.Route(drug, cv.payors()...)
	if errors.Is(err, router.ErrUnrouted) {
		return nil, "", badRequest("unknown-coverage", "%s: its payor is not one this service decides for, and no default policy covers %s", cv.Ref(), drug)
	}
	return pol, payer, err
}

package rules

import "strings"

// The policy-drug family checks that the order is for one of the policy's
// drugs.
func init() {
	register(&family{name: "policy-drug", answers: map[test][]Kind{isTest(IsPolicyDrug): {KindCode}}, eval: (*evaluator).policyDrug})
}

// policyDrug checks that the order names one of the policy's drugs. With no
// drug named on record it is met (the request is taken as for the policy's
// drug). Orders that name both a drug of the policy and another drug are
// ambiguous: which therapy is requested is for a person to say.
func (e *evaluator) policyDrug(ck *Check) out {
	vals := e.f[ck.Fact]
	var stuck, match *Value
	var others []string
	for i := range vals {
		v := &vals[i]
		if !v.Readable() {
			if stuck == nil {
				stuck = v
			}
			continue
		}
		if v.Code == "" {
			continue
		}
		if e.policyDrugName(v.Code) != "" {
			if match == nil {
				match = v
			}
			continue
		}
		others = appendUnique(others, v.Code)
	}
	var evidence []string
	for i := range vals {
		if vals[i].Code != "" {
			evidence = appendUnique(evidence, vals[i].Source)
		}
	}
	switch {
	case stuck != nil:
		return e.unreadableNeed(ck, e.unreadable(stuck, ck.info.Label), stuck)
	case match != nil && len(others) > 0:
		o := blocked("the record orders "+e.policyDrugName(match.Code)+" and "+strings.Join(others, " and "),
			"the drug requested — the record orders "+e.policyDrugName(match.Code)+" and "+strings.Join(others, " and ")+" ("+strings.Join(evidence, ", ")+")")
		o.evidence = evidence
		return o
	case match != nil:
		return out{res: Met, reason: "the order is for " + e.policyDrugName(match.Code), evidence: e.evidence(match.Source)}
	case len(others) == 0:
		return out{res: Met, reason: "no order on record names a drug (taken as a request for " + e.p.Drugs[0] + ")"}
	}
	return out{res: NotMet, reason: "the order is for " + strings.Join(others, " and ") + "; this policy covers " + strings.Join(e.p.Drugs, " and "), evidence: evidence}
}

// policyDrugName is the policy's spelling of drug, or "" when the policy does
// not cover it.
func (e *evaluator) policyDrugName(drug string) string {
	for _, d := range e.p.Drugs {
		if strings.EqualFold(drug, d) {
			return d
		}
	}
	return ""
}

package mapping

import (
	"strings"
	"time"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"

	"hemopa/rules"
)

// activeClinical reads Condition.clinicalStatus. Every status is recorded: an
// inactive, resolved or in-remission diagnosis is a negative value, which
// rules read as a history where the policy asks for one (a factor inhibitor
// "ever documented"). An absent or unknown status is read as active.
var activeClinical = map[string]rules.Flag{
	"active": rules.Positive, "recurrence": rules.Positive, "relapse": rules.Positive,
	"inactive": rules.Negative, "remission": rules.Negative, "resolved": rules.Negative,
}

// notConfirmed are verification statuses that neither confirm nor refute a
// diagnosis: the diagnosis could be there, so it is unreadable, not ignored.
var notConfirmed = map[string]bool{"unconfirmed": true, "provisional": true, "differential": true}

// mapCondition reads a diagnosis. Entered-in-error and refuted conditions are
// ignored; an unconfirmed, provisional or differential one is unreadable for
// its fact; clinicalStatus says whether it is active. A code the tables do not
// know is read by the safety net: words of its text and displays
// (vocabulary.yaml) make the facts they name unreadable.
func (c *mapCall) mapCondition(e *entry) bool {
	cond := e.res.GetCondition()
	if !c.about(cond.GetSubject()) {
		return false
	}
	verification := ""
	for _, cd := range codingsOf(cond.GetVerificationStatus()) {
		switch {
		case cd.code == "entered-in-error" || cd.code == "refuted":
			return false
		case notConfirmed[cd.code]:
			verification = cd.code
		}
	}
	flag := rules.Positive
	for _, cd := range codingsOf(cond.GetClinicalStatus()) {
		if f, ok := activeClinical[cd.code]; ok {
			flag = f
		}
	}
	onset := cond.GetOnset()
	date := firstDate(dateTime(onset.GetDateTime()), dateTime(onset.GetPeriod().GetStart()), dateTime(cond.GetRecordedDate()))
	code := cond.GetCode()
	fact := c.m.conditionFactOf(code)
	text := recordText(code)
	if fact == "" {
		return c.unknownDiagnosis(e, code, date)
	}
	if verification != "" {
		c.unreadable(e, []string{fact}, text, `verification status "`+verification+`": neither confirmed nor refuted — confirm or refute the diagnosis`, date)
		return true
	}
	c.add(fact, rules.Value{Flag: flag, Date: date, Source: e.ref()})
	return true
}

// unknownDiagnosis is the safety net for a diagnosis whose code no condition
// fact knows: unless the code is known to be irrelevant, the facts its words
// name become unreadable.
func (c *mapCall) unknownDiagnosis(e *entry, code *dtpb.CodeableConcept, date time.Time) bool {
	codings := codingsOf(code)
	if c.m.knownIrrelevant(codings) {
		return false
	}
	facts := c.m.factsByText(textOf(code))
	if len(facts) == 0 {
		return false
	}
	problem := "has a diagnosis code the tables do not know — code it in ICD-10-CM or SNOMED CT, or correct it"
	if len(codings) == 0 || codings[0].code == "" {
		problem = "has no diagnosis code — code it in ICD-10-CM or SNOMED CT"
	}
	c.unreadable(e, facts, recordText(code), problem, date)
	return true
}

// claimDiagnoses reads the diagnoses of a Claim or ExplanationOfBenefit,
// dated by the claim: each one a condition fact knows is a diagnosis, read as
// codes.yaml's `claims` says (positive, or history = negative); unknown codes
// go through the safety net like a Condition's.
func (c *mapCall) claimDiagnoses(e *entry, dx []*dtpb.CodeableConcept, date time.Time) bool {
	found := false
	for _, cc := range dx {
		if cc == nil {
			continue
		}
		fact := c.m.conditionFactOf(cc)
		if fact == "" {
			if c.unknownDiagnosis(e, cc, date) {
				found = true
			}
			continue
		}
		flag := rules.Positive
		if c.m.claimsAsHistory(fact) {
			flag = rules.Negative
		}
		c.add(fact, rules.Value{Flag: flag, Date: date, Source: e.ref()})
		found = true
	}
	return found
}

// conditionFactOf is the fact the first known coding of a diagnosis names.
func (m *Mapper) conditionFactOf(cc *dtpb.CodeableConcept) string {
	for _, cd := range codingsOf(cc) {
		if fact := m.conditionFact(cd.system, cd.code); fact != "" {
			return fact
		}
	}
	return ""
}

// claimsAsHistory reports whether a claim's diagnosis of the fact is a
// history only (codes.yaml conditions[].claims: history).
func (m *Mapper) claimsAsHistory(fact string) bool {
	for _, r := range m.codes.Conditions {
		if r.Fact == fact {
			return r.Claims == "history"
		}
	}
	return false
}

func (m *Mapper) conditionFact(system, code string) string {
	switch shortSystem(system, m.codes.LocalSystem) {
	case "sct":
		return m.snomed[strings.TrimSpace(code)]
	case "icd10":
		k := strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(code), ".", ""))
		for _, p := range m.icd {
			if strings.HasPrefix(k, strings.ToUpper(p.prefix)) {
				return p.fact
			}
		}
	}
	return ""
}

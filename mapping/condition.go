package mapping

import (
	"strings"

	"hemopa/rules"
)

var activeClinical = map[string]rules.Flag{
	"active": rules.Positive, "recurrence": rules.Positive, "relapse": rules.Positive,
	"inactive": rules.Negative, "remission": rules.Negative, "resolved": rules.Negative,
}

// mapCondition reads a diagnosis. Entered-in-error and refuted conditions are
// ignored; clinicalStatus says whether it is active (absent: taken as active).
func (c *mapCall) mapCondition(e *entry) bool {
	cond := e.res.GetCondition()
	if !c.about(cond.GetSubject()) {
		return false
	}
	for _, cd := range codingsOf(cond.GetVerificationStatus()) {
		if cd.code == "entered-in-error" || cd.code == "refuted" {
			return false
		}
	}
	flag := rules.Positive
	for _, cd := range codingsOf(cond.GetClinicalStatus()) {
		if f, ok := activeClinical[cd.code]; ok {
			flag = f
		}
	}
	fact := ""
	for _, cd := range codingsOf(cond.GetCode()) {
		if fact = c.m.conditionFact(cd.system, cd.code); fact != "" {
			break
		}
	}
	if fact == "" {
		return false
	}
	onset := cond.GetOnset()
	date := firstDate(dateTime(onset.GetDateTime()), dateTime(onset.GetPeriod().GetStart()), dateTime(cond.GetRecordedDate()))
	c.add(fact, rules.Value{Flag: flag, Date: date, Source: e.ref()})
	return true
}

func (m *Mapper) conditionFact(system, code string) string {
	switch shortSystem(system, m.codes.LocalSystem) {
	case "sct":
		return m.snomed[code]
	case "icd10":
		k := strings.ToUpper(strings.ReplaceAll(code, ".", ""))
		for _, p := range m.icd {
			if strings.HasPrefix(k, p.prefix) {
				return p.fact
			}
		}
	}
	return ""
}

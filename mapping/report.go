package mapping

import (
	"strconv"
	"strings"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
)

// DiagnosticReport statuses: final, amended, corrected and appended reports
// are read; entered-in-error and cancelled ones ignored; any other status of
// a relevant report is unreadable.
var (
	validReport   = map[string]bool{"final": true, "amended": true, "corrected": true, "appended": true}
	ignoredReport = map[string]bool{"entered-in-error": true, "cancelled": true}
)

// mapDiagnosticReport accounts for a report. Its results are Observations,
// read on their own (in the bundle or contained in the report). A relevant
// report — a recognised code, or safety-net words in its code, conclusion or
// conclusion codes — whose results are not in the record, or none of whose
// results gave a value, is unreadable for every fact it could affect: its
// evidence must not vanish because it was filed as a report.
func (c *mapCall) mapDiagnosticReport(e *entry) bool {
	r := e.res.GetDiagnosticReport()
	st := status(r.GetStatus().GetValue())
	if ignoredReport[st] || !c.about(r.GetSubject()) {
		return false
	}
	facts := c.reportFacts(r.GetCode(), r.GetConclusion().GetValue(), r.GetConclusionCode())
	if len(facts) == 0 {
		return false
	}
	eff := r.GetEffective()
	date := firstDate(dateTime(eff.GetDateTime()), periodDay(eff.GetPeriod()), instant(r.GetIssued()))
	text := itemText(r.GetCode())
	if !validReport[st] {
		c.unreadable(e, facts, text, "status "+strconv.Quote(st)+": a final result is needed", date)
		return true
	}
	gave := false
	for _, ref := range r.GetResult() {
		s := refString(ref)
		res := c.resolveFrom(e, s)
		if res == nil {
			c.unreadable(e, facts, text, "result "+s+" is not in the record — include it", date)
			return true
		}
		if c.gave[res] {
			gave = true
		}
	}
	if !gave {
		c.unreadable(e, facts, text, "has no result hemopa can read — code its results or map it (--codemap)", date)
	}
	return true
}

// reportFacts are the facts a report or document could affect: its code's
// fact if recognised, else the safety net's words in its code and the other
// texts given (conclusion, description …) and coded concepts.
func (c *mapCall) reportFacts(code *dtpb.CodeableConcept, text string, concepts []*dtpb.CodeableConcept) []string {
	if r := c.ruleOf(code); r != nil {
		return []string{r.Fact}
	}
	if c.m.knownIrrelevant(codingsOf(code)) {
		return nil
	}
	var b strings.Builder
	b.WriteString(textOf(code))
	b.WriteByte(' ')
	b.WriteString(strings.ToLower(text))
	for _, cc := range concepts {
		b.WriteByte(' ')
		b.WriteString(textOf(cc))
	}
	return c.m.factsByText(b.String())
}

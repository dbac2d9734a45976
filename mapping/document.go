package mapping

import (
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
)

// mapDocumentReference accounts for a document. hemopa does not read
// documents (a scanned FibroScan report, an outside lab's PDF): a current
// document whose type, category, description or attachment titles carry
// safety-net words is unreadable for every fact it could affect, so the
// criterion asks for its result in coded form. Superseded and
// entered-in-error documents (status or docStatus) are ignored.
func (c *mapCall) mapDocumentReference(e *entry) bool {
	d := e.res.GetDocumentReference()
	if status(d.GetStatus().GetValue()) != "current" || status(d.GetDocStatus().GetValue()) == "entered-in-error" || !c.about(d.GetSubject()) {
		return false
	}
	text := d.GetDescription().GetValue()
	for _, ct := range d.GetContent() {
		text += " " + ct.GetAttachment().GetTitle().GetValue()
	}
	facts := c.reportFacts(d.GetType(), text, append([]*dtpb.CodeableConcept{}, d.GetCategory()...))
	if len(facts) == 0 {
		return false
	}
	date := firstDate(periodDay(d.GetContext().GetPeriod()), instant(d.GetDate()))
	name := firstNonEmpty(d.GetDescription().GetValue(), itemText(d.GetType()))
	for _, ct := range d.GetContent() {
		name = firstNonEmpty(name, ct.GetAttachment().GetTitle().GetValue())
	}
	c.unreadable(e, facts, name, "is a document hemopa cannot read — record its result as a coded Observation", date)
	return true
}

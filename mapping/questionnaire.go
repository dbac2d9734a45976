package mapping

import (
	"strings"

	qrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/questionnaire_response_go_proto"

	"hemopa/rules"
)

// mapQuestionnaireResponse reads the prescriber's attestations (valueBoolean,
// or a yes/no coding) from a completed or amended response.
func (c *mapCall) mapQuestionnaireResponse(e *entry, qr *qrpb.QuestionnaireResponse) bool {
	st := status(qr.GetStatus().GetValue())
	if (st != "completed" && st != "amended") || !c.about(qr.GetSubject()) {
		return false
	}
	date := dateTime(qr.GetAuthored())
	found := false
	var walk func(items []*qrpb.QuestionnaireResponse_Item)
	walk = func(items []*qrpb.QuestionnaireResponse_Item) {
		for _, it := range items {
			link := it.GetLinkId().GetValue()
			if c.m.attest[link] {
				for _, a := range it.GetAnswer() {
					if f := answerFlag(a); f != rules.NoFlag {
						c.add(rules.AttestationFact(link), rules.Value{Flag: f, Date: date, Source: e.ref()})
						found = true
					}
				}
			}
			walk(it.GetItem())
			for _, a := range it.GetAnswer() {
				walk(a.GetItem())
			}
		}
	}
	walk(qr.GetItem())
	return found
}

func answerFlag(a *qrpb.QuestionnaireResponse_Item_Answer) rules.Flag {
	v := a.GetValue()
	if b := v.GetBoolean(); b != nil {
		if b.GetValue() {
			return rules.Positive
		}
		return rules.Negative
	}
	if cd := v.GetCoding(); cd != nil {
		switch strings.ToLower(cd.GetCode().GetValue()) {
		case "y", "yes", "true", "la33-6":
			return rules.Positive
		case "n", "no", "false", "la32-8":
			return rules.Negative
		}
	}
	return rules.NoFlag
}

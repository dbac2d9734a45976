package mapping

import (
	"strings"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	qrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/questionnaire_response_go_proto"

	"hemopa/rules"
)

// mapQuestionnaireResponse reads the prescriber's attestations (valueBoolean,
// or a yes/no coding) from a completed or amended response written by a
// clinician who may attest (mayAttest). Every answer is kept, each dated by
// the response: an item answered twice, or by two responses of one day, gives
// two values of one date, and rules read disagreeing ones as unknown.
func (c *mapCall) mapQuestionnaireResponse(e *entry, qr *qrpb.QuestionnaireResponse) bool {
	st := status(qr.GetStatus().GetValue())
	if (st != "completed" && st != "amended") || !c.about(qr.GetSubject()) || !c.mayAttest(qr.GetAuthor()) {
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

// mayAttest is the rule for who may attest (issue 7 §3): the response's author
// must be a Practitioner or a PractitionerRole — the entry it resolves to in
// the bundle, else the type its reference (or Reference.type) names. A
// response by the patient, a related person, a device, an organisation or no
// one is not an attestation. When both the author and the order's requester
// are PractitionerRoles with an organization, the organisations must be the
// same (the requesting organisation's clinician); a Practitioner author is
// not checked further (a Practitioner names no organisation).
func (c *mapCall) mayAttest(author *dtpb.Reference) bool {
	typ := ""
	var role *entry
	s := refString(author)
	if t := c.resolve(s); t != nil {
		typ = t.typ
		if typ == "PractitionerRole" {
			role = t
		}
	} else if s != "" && !strings.HasPrefix(s, "#") {
		base := s
		if i := strings.Index(base, "/_history/"); i > 0 {
			base = base[:i]
		}
		if parts := strings.Split(strings.TrimRight(base, "/"), "/"); len(parts) >= 2 {
			typ = parts[len(parts)-2]
		}
	}
	if typ == "" {
		typ = author.GetType().GetValue()
	}
	if typ != "Practitioner" && typ != "PractitionerRole" {
		return false
	}
	if role != nil {
		if req := c.resolve(c.prescribe); req != nil && req.typ == "PractitionerRole" {
			a := refString(role.res.GetPractitionerRole().GetOrganization())
			b := refString(req.res.GetPractitionerRole().GetOrganization())
			ra, rb := c.resolve(a), c.resolve(b)
			if a != "" && b != "" && a != b && (ra == nil || ra != rb) {
				return false
			}
		}
	}
	return true
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

package mapping

import (
	"time"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	patpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/patient_go_proto"

	"hemopa/rules"
)

const (
	extBirthSex    = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex"
	extUSCoreSex   = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-sex"
	extClinicalSex = "http://hl7.org/fhir/StructureDefinition/patient-sexParameterForClinicalUse"
)

// mapPatient reads sex and birth date. Sex assigned at birth (US Core
// birthsex), then sex for clinical use, win over administrative gender, as
// policy 000 defines "male" by biological traits.
func (c *mapCall) mapPatient(e *entry) {
	p := e.res.GetPatient()
	src := e.ref()
	if bd := dateOf(p.GetBirthDate()); !bd.IsZero() {
		c.add("birth_date", rules.Value{Date: bd, Until: dateUntil(bd, p.GetBirthDate().GetPrecision()), Source: src})
	}
	// A deceased patient is never approved (issue 7 §5): deceasedBoolean true
	// or any deceasedDateTime is a positive event, dated when known.
	if d := p.GetDeceased(); d.GetBoolean().GetValue() || d.GetDateTime() != nil {
		c.add("deceased", rules.Value{Flag: rules.Positive, Date: dateTime(d.GetDateTime()), Source: src})
	}
	if sex := sexFromExtensions(p); sex != "" {
		c.add("sex", rules.Value{Code: sex, Source: src})
	} else if g := status(p.GetGender().GetValue()); g == "male" || g == "female" || g == "other" || g == "unknown" {
		c.add("sex", rules.Value{Code: g, Source: src})
	}
	c.chart.Read["Patient"]++
}

// dateUntil is the last day a partial date stands for: "1990" covers the
// whole year, "1990-05" the whole month; a full date (or an unknown
// precision, read as a day) stands for itself and has no Until.
func dateUntil(first time.Time, p dtpb.Date_Precision) time.Time {
	switch p {
	case dtpb.Date_YEAR:
		return time.Date(first.Year(), time.December, 31, 0, 0, 0, 0, time.UTC)
	case dtpb.Date_MONTH:
		return time.Date(first.Year(), first.Month()+1, 0, 0, 0, 0, 0, time.UTC)
	}
	return time.Time{}
}

func sexFromExtensions(p *patpb.Patient) string {
	birth, clinical := "", ""
	for _, x := range p.GetExtension() {
		switch x.GetUrl().GetValue() {
		case extBirthSex:
			switch x.GetValue().GetCode().GetValue() {
			case "M":
				birth = "male"
			case "F":
				birth = "female"
			case "UNK", "ASKU", "OTH":
				birth = "unknown"
			}
		case extUSCoreSex:
			switch code := x.GetValue().GetCode().GetValue() + x.GetValue().GetCoding().GetCode().GetValue(); code {
			case "248153007", "male":
				clinical = "male"
			case "248152002", "female":
				clinical = "female"
			}
		case extClinicalSex:
			for _, sub := range x.GetExtension() {
				if sub.GetUrl().GetValue() != "value" {
					continue
				}
				for _, cd := range sub.GetValue().GetCodeableConcept().GetCoding() {
					switch cd.GetCode().GetValue() {
					case "male-typical":
						clinical = "male"
					case "female-typical":
						clinical = "female"
					}
				}
			}
		}
	}
	if birth != "" && birth != "unknown" {
		return birth
	}
	if clinical != "" {
		return clinical
	}
	return birth
}

package mapping

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	obspb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/observation_go_proto"
	patpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/patient_go_proto"
	qrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/questionnaire_response_go_proto"

	bcrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"

	"hemopa/rules"
)

type mapCall struct {
	m         *Mapper
	chart     *Chart
	patientID string
	entries   []*entry
	byKey     map[string]*entry // fullUrl and Type/id
	patient   *entry
	prescribe string // reference of the gene therapy order's requester
}

func (c *mapCall) index(b *bcrpb.Bundle) {
	c.byKey = make(map[string]*entry, len(b.GetEntry())*2)
	for _, be := range b.GetEntry() {
		if be.GetResource() == nil {
			continue
		}
		e := &entry{fullURL: be.GetFullUrl().GetValue(), res: be.GetResource()}
		e.typ, e.id = typeAndID(e.res)
		c.entries = append(c.entries, e)
		if e.fullURL != "" {
			c.byKey[e.fullURL] = e
		}
		if e.id != "" {
			c.byKey[e.typ+"/"+e.id] = e
		}
	}
}

// resolve finds a referenced entry: by fullUrl (urn:uuid or absolute), by
// relative Type/id, or by the Type/id tail of an absolute URL.
func (c *mapCall) resolve(ref string) *entry {
	if ref == "" {
		return nil
	}
	if e := c.byKey[ref]; e != nil {
		return e
	}
	if i := strings.Index(ref, "/_history/"); i > 0 {
		ref = ref[:i]
	}
	parts := strings.Split(strings.TrimRight(ref, "/"), "/")
	if len(parts) >= 2 {
		return c.byKey[parts[len(parts)-2]+"/"+parts[len(parts)-1]]
	}
	return nil
}

func (c *mapCall) pickPatient() error {
	var patients []*entry
	for _, e := range c.entries {
		if e.typ == "Patient" {
			patients = append(patients, e)
		}
	}
	switch {
	case c.patientID != "":
		for _, p := range patients {
			if p.id == c.patientID {
				c.patient = p
			}
		}
		if c.patient == nil {
			return fmt.Errorf("no Patient with id %q in the bundle (%d Patient entries)", c.patientID, len(patients))
		}
	case len(patients) == 1:
		c.patient = patients[0]
	case len(patients) == 0:
		return fmt.Errorf("the bundle holds no Patient resource")
	default:
		return fmt.Errorf("the bundle holds %d Patient resources: choose one with --patient", len(patients))
	}
	c.chart.Patient = c.patient.ref()
	return nil
}

// about reports whether a subject/patient reference points at our patient. A
// missing reference is taken as the bundle's patient.
func (c *mapCall) about(r *dtpb.Reference) bool {
	s := refString(r)
	if s == "" {
		return true
	}
	if e := c.resolve(s); e != nil {
		return e == c.patient
	}
	// A reference to a patient outside the bundle: compare the id.
	parts := strings.Split(s, "/")
	return len(parts) >= 2 && parts[len(parts)-2] == "Patient" && parts[len(parts)-1] == c.patient.id && c.patient.id != ""
}

func (c *mapCall) add(fact string, v rules.Value) { c.chart.Facts.Add(fact, v) }

func (c *mapCall) mapAll() {
	c.mapPatient(c.patient)
	// Orders first: they name the requested drug and the prescriber.
	for _, e := range c.entries {
		switch e.typ {
		case "MedicationRequest", "ServiceRequest", "Claim":
			c.mapOrder(e)
		}
	}
	for _, e := range c.entries {
		ok := true
		switch e.typ {
		case "Observation":
			ok = c.mapObservation(e, e.res.GetObservation())
		case "Condition":
			ok = c.mapCondition(e)
		case "QuestionnaireResponse":
			ok = c.mapQuestionnaireResponse(e, e.res.GetQuestionnaireResponse())
		case "MedicationRequest", "MedicationStatement", "MedicationAdministration":
			ok = c.mapMedication(e)
		case "Procedure":
			ok = c.mapProcedure(e)
		case "Claim", "ExplanationOfBenefit":
			ok = c.mapClaim(e)
		default:
			continue
		}
		if ok {
			c.chart.Read[e.typ]++
		} else {
			c.chart.Ignored++
		}
	}
	c.mapPrescriber()
}

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
		c.add("birth_date", rules.Value{Date: bd, Source: src})
	}
	if sex := sexFromExtensions(p); sex != "" {
		c.add("sex", rules.Value{Code: sex, Source: src})
	} else if g := status(p.GetGender().GetValue()); g == "male" || g == "female" || g == "other" || g == "unknown" {
		c.add("sex", rules.Value{Code: g, Source: src})
	}
	c.chart.Read["Patient"]++
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

var validObservation = map[string]bool{"final": true, "amended": true, "corrected": true}

func (c *mapCall) mapObservation(e *entry, o *obspb.Observation) bool {
	if !validObservation[status(o.GetStatus().GetValue())] || !c.about(o.GetSubject()) {
		return false
	}
	var rule *obsRule
	for _, cd := range codingsOf(o.GetCode()) {
		if rule = c.m.obsByCode[c.m.codeKey(cd.system, cd.code)]; rule != nil {
			break
		}
	}
	if rule == nil {
		return false
	}
	eff := o.GetEffective()
	date := firstDate(dateTime(eff.GetDateTime()), periodDay(eff.GetPeriod()), instant(eff.GetInstant()), instant(o.GetIssued()))
	v := rules.Value{Date: date, Source: e.ref()}
	fact := c.m.readValue(rule, o, &v)
	if fact == "" {
		return false
	}
	c.add(fact, v)
	return true
}

var titerRe = regexp.MustCompile(`^\s*(<=|>=|<|>)?\s*1\s*:\s*([0-9]+(?:\.[0-9]+)?)\s*$`)
var numRe = regexp.MustCompile(`^\s*(<=|>=|<|>)?\s*([0-9]+(?:\.[0-9]+)?)\s*$`)
var stageRe = regexp.MustCompile(`(?i)\bF\s*([0-4])\b`)

// readValue fills v from the Observation's value and returns the fact it
// belongs to ("" to skip it: no value at all).
func (m *Mapper) readValue(rule *obsRule, o *obspb.Observation, v *rules.Value) string {
	fact := rule.Fact
	kind := rule.info.Kind
	val := o.GetValue()
	switch {
	case val.GetQuantity() != nil:
		q := val.GetQuantity()
		num, err := strconv.ParseFloat(q.GetValue().GetValue(), 64)
		if err != nil {
			v.Problem = "value " + strconv.Quote(q.GetValue().GetValue()) + " is not a number"
			return fact
		}
		v.Comparator = comparator(q.GetComparator())
		unit, raw := m.unitOf(q)
		if kind == "titer" {
			if unit != "{titer}" && unit != "" && unit != "1" {
				v.Problem = "unknown unit " + strconv.Quote(raw) + " for a titer"
				return fact
			}
			v.Num, v.HasNum, v.Unit = num, true, "{titer}"
			break
		}
		factor, ok := rule.Units[unit]
		if !ok {
			if to := rule.Reroute[unit]; to != "" {
				rule = m.obsByFact[to]
				fact, factor = rule.Fact, rule.Units[unit]
			} else {
				if raw == "" {
					v.Problem = "no unit given"
				} else {
					v.Problem = "unknown unit " + strconv.Quote(raw)
				}
				return fact
			}
		}
		v.Num, v.HasNum, v.Unit = num*factor, true, rule.info.Unit
		if p := rule.Plausible; len(p) == 2 && (v.Num < p[0] || v.Num > p[1]) {
			v.Problem = "implausible value " + q.GetValue().GetValue() + " " + raw
			return fact
		}
		v.ULN = m.uln(rule, o, unit)
	case val.GetStringValue() != nil:
		s := val.GetStringValue().GetValue()
		if mt := titerRe.FindStringSubmatch(s); mt != nil && kind == "titer" {
			n, _ := strconv.ParseFloat(mt[2], 64)
			v.Num, v.HasNum, v.Comparator, v.Unit = n, true, mt[1], "{titer}"
		} else if f := m.word(s); f != rules.NoFlag {
			v.Flag = f
		} else if kind == "code" && fact == "fibrosis_stage" && stageRe.MatchString(s) {
			v.Code = "F" + stageRe.FindStringSubmatch(s)[1]
		} else if numRe.MatchString(s) && kind != "result" {
			v.Problem = "value " + strconv.Quote(s) + " has no unit"
		} else {
			v.Problem = "unrecognised result " + strconv.Quote(s)
		}
	case val.GetCodeableConcept() != nil:
		cc := val.GetCodeableConcept()
		if f := m.coded(cc); f != rules.NoFlag {
			v.Flag = f
		} else if fact == "fibrosis_stage" {
			for _, cd := range codingsOf(cc) {
				if sm := stageRe.FindStringSubmatch(cd.code + " " + cd.display); sm != nil {
					v.Code = "F" + sm[1]
					break
				}
			}
			if v.Code == "" {
				if sm := stageRe.FindStringSubmatch(cc.GetText().GetValue()); sm != nil {
					v.Code = "F" + sm[1]
				}
			}
			if v.Code == "" {
				v.Problem = "unrecognised fibrosis stage"
			}
		} else {
			v.Problem = "unrecognised coded result"
		}
	case val.GetRatio() != nil:
		r := val.GetRatio()
		n, err1 := strconv.ParseFloat(r.GetNumerator().GetValue().GetValue(), 64)
		d, err2 := strconv.ParseFloat(r.GetDenominator().GetValue().GetValue(), 64)
		if kind != "titer" || err1 != nil || err2 != nil || n <= 0 {
			v.Problem = "ratio value not readable as a titer"
			return fact
		}
		v.Num, v.HasNum, v.Unit = d/n, true, "{titer}"
		v.Comparator = comparator(r.GetDenominator().GetComparator())
	case val.GetBoolean() != nil:
		if val.GetBoolean().GetValue() {
			v.Flag = rules.Positive
		} else {
			v.Flag = rules.Negative
		}
	case val.GetInteger() != nil && kind == "titer":
		v.Num, v.HasNum, v.Unit = float64(val.GetInteger().GetValue()), true, "{titer}"
	case val == nil || o.GetDataAbsentReason() != nil:
		return ""
	default:
		v.Problem = "value type not readable"
	}
	if kind == "result" || kind == "titer" || rule.info.PositiveAt > 0 {
		if v.Flag == rules.NoFlag {
			for _, in := range o.GetInterpretation() {
				if f := m.coded(in); f != rules.NoFlag {
					v.Flag = f
					break
				}
			}
		}
	} else {
		v.Flag = rules.NoFlag
	}
	return fact
}

func comparator(c *dtpb.Quantity_ComparatorCode) string {
	if c == nil {
		return ""
	}
	switch status(c.GetValue()) {
	case "less-than":
		return "<"
	case "less-than-or-equal-to":
		return "<="
	case "greater-than":
		return ">"
	case "greater-than-or-equal-to":
		return ">="
	}
	return ""
}

// unitOf returns the UCUM unit of a quantity (its code when the system is UCUM,
// else its unit text) after aliases, and the unit as written.
func (m *Mapper) unitOf(q *dtpb.Quantity) (unit, raw string) {
	raw = q.GetUnit().GetValue()
	if q.GetSystem().GetValue() == "http://unitsofmeasure.org" && q.GetCode().GetValue() != "" {
		raw = q.GetCode().GetValue()
	} else if raw == "" {
		raw = q.GetCode().GetValue()
	}
	return m.alias(raw), raw
}

func (m *Mapper) alias(u string) string {
	if a, ok := m.codes.UnitAliases[u]; ok {
		return a
	}
	t := strings.TrimSpace(u)
	for k, a := range m.codes.UnitAliases {
		if strings.EqualFold(k, t) {
			return a
		}
	}
	return t
}

// uln converts referenceRange.high into the fact's unit (0 if absent or unreadable).
func (m *Mapper) uln(rule *obsRule, o *obspb.Observation, obsUnit string) float64 {
	for _, rr := range o.GetReferenceRange() {
		h := rr.GetHigh()
		if h == nil || h.GetValue() == nil {
			continue
		}
		n, err := strconv.ParseFloat(h.GetValue().GetValue(), 64)
		if err != nil {
			continue
		}
		unit := obsUnit
		if h.GetCode().GetValue() != "" || h.GetUnit().GetValue() != "" {
			raw := h.GetUnit().GetValue()
			if h.GetSystem().GetValue() == "http://unitsofmeasure.org" && h.GetCode().GetValue() != "" || raw == "" {
				raw = h.GetCode().GetValue()
			}
			unit = m.alias(raw)
		}
		if f, ok := rule.Units[unit]; ok {
			return n * f
		}
	}
	return 0
}

func (m *Mapper) word(s string) rules.Flag {
	t := strings.ToLower(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), ".")))
	for _, w := range m.codes.Negative.Words {
		if t == w {
			return rules.Negative
		}
	}
	for _, w := range m.codes.Positive.Words {
		if t == w {
			return rules.Positive
		}
	}
	return rules.NoFlag
}

func (m *Mapper) coded(cc *dtpb.CodeableConcept) rules.Flag {
	for _, cd := range codingsOf(cc) {
		k := m.codeKey(cd.system, cd.code)
		switch {
		case m.negCodes[k]:
			return rules.Negative
		case m.posCodes[k]:
			return rules.Positive
		}
	}
	if f := m.word(cc.GetText().GetValue()); f != rules.NoFlag {
		return f
	}
	for _, cd := range codingsOf(cc) {
		if f := m.word(cd.display); f != rules.NoFlag {
			return f
		}
	}
	return rules.NoFlag
}

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

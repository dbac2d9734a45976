package mapping

import (
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	obspb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/observation_go_proto"

	"hemopa/rules"
)

// Observation statuses: a result is read only when final (or amended or
// corrected); entered-in-error and cancelled are ignored; any other status of
// a relevant test (registered, preliminary, unknown) is unreadable, so a newer
// preliminary result stops older final ones.
var (
	validObservation   = map[string]bool{"final": true, "amended": true, "corrected": true}
	ignoredObservation = map[string]bool{"entered-in-error": true, "cancelled": true}
)

// valueX is what an Observation's value[x] and a component's value[x] have in
// common.
type valueX interface {
	GetQuantity() *dtpb.Quantity
	GetCodeableConcept() *dtpb.CodeableConcept
	GetStringValue() *dtpb.String
	GetBoolean() *dtpb.Boolean
	GetInteger() *dtpb.Integer
	GetRange() *dtpb.Range
	GetRatio() *dtpb.Ratio
}

// obsPart is a result: the Observation itself or one of its components.
type obsPart struct {
	code   *dtpb.CodeableConcept
	val    valueX // nil when there is no value
	absent *dtpb.CodeableConcept
	interp []*dtpb.CodeableConcept
	ranges []*obspb.Observation_ReferenceRange
}

func topPart(o *obspb.Observation) obsPart {
	p := obsPart{code: o.GetCode(), absent: o.GetDataAbsentReason(), interp: o.GetInterpretation(), ranges: o.GetReferenceRange()}
	if v := o.GetValue(); v != nil {
		p.val = v
	}
	return p
}

func componentPart(cp *obspb.Observation_Component) obsPart {
	p := obsPart{code: cp.GetCode(), absent: cp.GetDataAbsentReason(), interp: cp.GetInterpretation(), ranges: cp.GetReferenceRange()}
	if v := cp.GetValue(); v != nil {
		p.val = v
	}
	return p
}

func (c *mapCall) ruleOf(cc *dtpb.CodeableConcept) *obsRule {
	for _, cd := range cc.GetCoding() {
		if r := c.m.obsByCode[c.m.codeKey(cd.GetSystem().GetValue(), cd.GetCode().GetValue())]; r != nil {
			return r
		}
	}
	return nil
}

// mapObservation accounts for one Observation: each recognised result (the
// Observation's own value and each component's) becomes a value; a relevant
// result that cannot be read becomes an unreadable value of every fact it
// could affect; anything else is irrelevant. It reports whether it recorded
// anything.
func (c *mapCall) mapObservation(e *entry, o *obspb.Observation) bool {
	st := status(o.GetStatus().GetValue())
	if ignoredObservation[st] || !c.about(o.GetSubject()) {
		return false
	}
	eff := o.GetEffective()
	date := firstDate(dateTime(eff.GetDateTime()), periodDay(eff.GetPeriod()), instant(eff.GetInstant()), instant(o.GetIssued()))
	text := itemText(o.GetCode())
	top := topPart(o)
	rule := c.ruleOf(o.GetCode())
	if !validObservation[st] {
		facts := c.observationFacts(o, rule)
		c.unreadable(e, facts, text, "status "+strconv.Quote(st)+": a final result is needed", date)
		return len(facts) > 0
	}
	recorded := false
	// Components with recognised codes are read like the Observation's own value.
	compFacts := false
	for _, cp := range o.GetComponent() {
		part := componentPart(cp)
		r := c.ruleOf(cp.GetCode())
		if r == nil {
			continue
		}
		compFacts = true
		if c.readPart(e, r, part, firstNonEmpty(itemText(cp.GetCode()), text), date) {
			recorded = true
		}
	}
	panel := len(o.GetComponent()) > 0 || len(o.GetHasMember()) > 0
	switch {
	case rule != nil && (top.val != nil || top.absent != nil || !panel):
		if c.readPart(e, rule, top, text, date) {
			recorded = true
		}
	case rule != nil && !recorded && len(o.GetHasMember()) == 0:
		// A recognised panel none of whose components could be read.
		c.unreadable(e, []string{rule.Fact}, text, "has no value", date)
		recorded = true
	case rule == nil && !compFacts && (top.val != nil || len(o.GetComponent()) > 0 || len(o.GetHasMember()) == 0):
		// Not recognised: the safety net decides whether it matters. (A
		// grouping of members is judged by its members, below.)
		if facts := c.netFacts(o); len(facts) > 0 {
			c.unreadable(e, facts, text, codeProblem(o.GetCode()), date)
			recorded = true
		}
	}
	// Members of a relevant panel that the record does not hold.
	if len(o.GetHasMember()) > 0 {
		if facts := c.observationFacts(o, rule); len(facts) > 0 {
			for _, r := range o.GetHasMember() {
				ref := refString(r)
				if c.resolveFrom(e, ref) == nil {
					c.unreadable(e, facts, text, "member "+ref+" is not in the record — include it", date)
					recorded = true
					break
				}
			}
		}
	}
	if recorded {
		c.gave[e] = true
	}
	return recorded
}

// observationFacts are the facts an Observation could affect: those of its
// recognised codes (own and components'), else the safety net's.
func (c *mapCall) observationFacts(o *obspb.Observation, rule *obsRule) []string {
	var facts []string
	if rule != nil {
		facts = append(facts, rule.Fact)
	}
	for _, cp := range o.GetComponent() {
		if r := c.ruleOf(cp.GetCode()); r != nil && !contains(facts, r.Fact) {
			facts = append(facts, r.Fact)
		}
	}
	if len(facts) > 0 {
		return facts
	}
	return c.netFacts(o)
}

// netFacts is the safety net for an Observation whose codes are not
// recognised: words in its code, components and coded value, and the shape of
// its values (Bethesda units, kPa). A code on the irrelevant list is not
// relevant whatever its words.
func (c *mapCall) netFacts(o *obspb.Observation) []string {
	if c.m.knownIrrelevant(codingsOf(o.GetCode())) {
		return nil
	}
	var b strings.Builder
	b.WriteString(textOf(o.GetCode()))
	b.WriteByte(' ')
	b.WriteString(valueText(topPart(o).val))
	for _, cp := range o.GetComponent() {
		if c.m.knownIrrelevant(codingsOf(cp.GetCode())) {
			continue
		}
		b.WriteByte(' ')
		b.WriteString(textOf(cp.GetCode()))
		b.WriteByte(' ')
		b.WriteString(valueText(componentPart(cp).val))
	}
	text := b.String()
	facts := c.m.factsByText(text)
	units := []*dtpb.Quantity{o.GetValue().GetQuantity()}
	for _, cp := range o.GetComponent() {
		units = append(units, cp.GetValue().GetQuantity())
	}
	for _, q := range units {
		if q == nil {
			continue
		}
		unit, _ := c.m.unitOf(q)
		for _, f := range c.m.factsByUnit(unit, text) {
			if !contains(facts, f) {
				facts = append(facts, f)
			}
		}
	}
	return facts
}

// valueText is the human-readable part of a coded or string value.
func valueText(v valueX) string {
	if v == nil {
		return ""
	}
	if cc := v.GetCodeableConcept(); cc != nil {
		return textOf(cc)
	}
	return strings.ToLower(v.GetStringValue().GetValue())
}

// itemText is what the record calls a coded item: its text, else the first
// display, else the first code.
func itemText(cc *dtpb.CodeableConcept) string {
	if t := strings.TrimSpace(cc.GetText().GetValue()); t != "" {
		return t
	}
	for _, cd := range cc.GetCoding() {
		if d := strings.TrimSpace(cd.GetDisplay().GetValue()); d != "" {
			return d
		}
	}
	for _, cd := range cc.GetCoding() {
		if k := cd.GetCode().GetValue(); k != "" {
			return k
		}
	}
	return ""
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

// codeProblem says that a relevant item's code is not one the tables know.
func codeProblem(cc *dtpb.CodeableConcept) string {
	for _, cd := range cc.GetCoding() {
		if cd.GetCode().GetValue() != "" {
			return "code not recognised (" + cd.GetSystem().GetValue() + "|" + cd.GetCode().GetValue() + ") — map it (--codemap)"
		}
	}
	return "has no code hemopa can read — code it or map it (--codemap)"
}

// readPart reads one recognised result and records it (readable or not). It
// reports whether it recorded a value: a result with a dataAbsentReason and
// no value is no result.
func (c *mapCall) readPart(e *entry, rule *obsRule, p obsPart, text string, date time.Time) bool {
	v := rules.Value{Date: date, Source: e.ref()}
	fact, ok := c.readValue(rule, p, &v)
	if !ok {
		return false
	}
	if v.Problem != "" {
		v.Text = text
		c.chart.Unreadable++
	}
	c.add(fact, v)
	return true
}

var titerRe = regexp.MustCompile(`^\s*(<=|>=|<|>)?\s*1\s*:\s*([0-9]+(?:\.[0-9]+)?)\s*$`)
var numRe = regexp.MustCompile(`^\s*(<=|>=|<|>)?\s*([0-9]+(?:\.[0-9]+)?)\s*$`)
var stageRe = regexp.MustCompile(`(?i)\bF\s*([0-4])\b`)

const mapIt = " — correct or map it (--codemap)"

// flagKind reports whether a fact takes a qualitative reading (a lab's own
// interpretation counts).
func flagKind(rule *obsRule) bool {
	k := rule.info.Kind
	return k == rules.KindResult || k == rules.KindTiter || rule.info.PositiveAt > 0
}

// readValue fills v from one result and returns the fact it belongs to; ok is
// false when there is nothing to record (no value and a dataAbsentReason).
func (c *mapCall) readValue(rule *obsRule, p obsPart, v *rules.Value) (fact string, ok bool) {
	m := c.m
	fact = rule.Fact
	kind := rule.info.Kind
	val := p.val
	if val == nil {
		if p.absent != nil {
			return "", false
		}
		// Interpretation only (e.g. POS, H with no value).
		if flagKind(rule) {
			for _, in := range p.interp {
				if f := m.coded(in); f != rules.NoFlag {
					v.Flag = f
					return fact, true
				}
			}
		}
		v.Problem = "has no value"
		return fact, true
	}
	switch {
	case val.GetQuantity() != nil:
		q := val.GetQuantity()
		raw := q.GetValue().GetValue()
		num, err := strconv.ParseFloat(raw, 64)
		if err != nil || math.IsNaN(num) || math.IsInf(num, 0) {
			v.Problem = "value " + strconv.Quote(raw) + " is not a number"
			return fact, true
		}
		v.Comparator = comparator(q.GetComparator())
		unit, rawUnit := m.unitOf(q)
		if kind == rules.KindTiter {
			if unit != "{titer}" && unit != "" && unit != "1" {
				v.Problem = "unit " + strconv.Quote(rawUnit) + " not understood for a titer" + mapIt
				return fact, true
			}
			v.Num, v.HasNum, v.Unit = num, true, "{titer}"
			break
		}
		// Log-scaled results (log10 IU/mL, log10 copies/mL) are converted
		// explicitly; a log10 code with a unit that is not a log unit is not
		// guessed at.
		if lin, isLog := m.codes.LogUnits[unit]; isLog {
			if num > 12 {
				v.Problem = "log value " + raw + " " + rawUnit + " is not plausible" + mapIt
				return fact, true
			}
			num, unit = math.Pow(10, num), lin
		} else if rule.logCode(p.code, m) {
			v.Problem = "unit " + strconv.Quote(rawUnit) + " is not a log10 unit, but the test reports log10 values" + mapIt
			return fact, true
		}
		factor, known := rule.Units[unit]
		if !known {
			if to := rule.Reroute[unit]; to != "" {
				rule = m.obsByFact[to]
				fact, factor = rule.Fact, rule.Units[unit]
			} else {
				if rawUnit == "" {
					v.Problem = "value " + raw + " has no unit" + mapIt
				} else {
					v.Problem = "unit " + strconv.Quote(rawUnit) + " not understood" + mapIt
				}
				return fact, true
			}
		}
		v.Num, v.HasNum, v.Unit = num*factor, true, rule.info.Unit
		if pl := rule.Plausible; len(pl) == 2 && (v.Num < pl[0] || v.Num > pl[1]) {
			v.Problem = "value " + raw + " " + rawUnit + " is not plausible" + mapIt
			v.Num, v.HasNum = 0, false
			return fact, true
		}
		v.ULN = c.uln(rule, p, unit, v.Date)
		if !flagKind(rule) {
			if why := c.disagreement(rule, p, v, unit, raw, rawUnit); why != "" {
				v.Problem = why
				return fact, true
			}
		}
	case val.GetStringValue() != nil:
		s := val.GetStringValue().GetValue()
		if mt := titerRe.FindStringSubmatch(s); mt != nil && kind == rules.KindTiter {
			n, _ := strconv.ParseFloat(mt[2], 64)
			v.Num, v.HasNum, v.Comparator, v.Unit = n, true, mt[1], "{titer}"
		} else if f := m.word(s); f != rules.NoFlag {
			v.Flag = f
		} else if kind == rules.KindCode && fact == "fibrosis_stage" && stageRe.MatchString(s) {
			v.Code = "F" + stageRe.FindStringSubmatch(s)[1]
		} else if numRe.MatchString(s) && kind != rules.KindResult {
			v.Problem = "value " + strconv.Quote(s) + " has no unit" + mapIt
		} else {
			v.Problem = "result " + strconv.Quote(s) + " not understood" + mapIt
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
				v.Problem = "fibrosis stage " + strconv.Quote(itemText(cc)) + " not understood" + mapIt
			}
		} else {
			v.Problem = "coded result " + strconv.Quote(itemText(cc)) + " not understood" + mapIt
		}
	case val.GetRatio() != nil:
		if !c.readRatio(kind, val.GetRatio(), v) {
			return fact, true
		}
	case val.GetBoolean() != nil:
		if val.GetBoolean().GetValue() {
			v.Flag = rules.Positive
		} else {
			v.Flag = rules.Negative
		}
	case val.GetInteger() != nil && kind == rules.KindTiter:
		v.Num, v.HasNum, v.Unit = float64(val.GetInteger().GetValue()), true, "{titer}"
	case val.GetRange() != nil:
		v.Problem = "value is a range, not a result" + mapIt
		return fact, true
	default:
		v.Problem = "value of a type hemopa cannot read" + mapIt
		return fact, true
	}
	// The lab's own interpretation is kept beside the value: when the two
	// disagree the engine reads the result as ambiguous.
	if flagKind(rule) {
		if v.Flag == rules.NoFlag {
			for _, in := range p.interp {
				if f := m.coded(in); f != rules.NoFlag {
					v.Flag = f
					break
				}
			}
		}
	} else {
		v.Flag = rules.NoFlag
	}
	return fact, true
}

// readRatio reads a titer written as a Ratio: 1:50 is numerator 1,
// denominator 50, titer 50. A ratio whose numerator is not 1 is read only
// when it is a clean dilution (2:100 = 1:50); anything else is unreadable.
func (c *mapCall) readRatio(kind rules.Kind, r *dtpb.Ratio, v *rules.Value) bool {
	nRaw, dRaw := r.GetNumerator().GetValue().GetValue(), r.GetDenominator().GetValue().GetValue()
	n, err1 := strconv.ParseFloat(nRaw, 64)
	d, err2 := strconv.ParseFloat(dRaw, 64)
	desc := "ratio " + nRaw + ":" + dRaw
	switch {
	case kind != rules.KindTiter:
		v.Problem = desc + " is not a result hemopa can read for this test" + mapIt
		return false
	case err1 != nil || err2 != nil || n <= 0 || d <= 0:
		v.Problem = desc + " is not a titer" + mapIt
		return false
	case r.GetNumerator().GetComparator() != nil:
		v.Problem = desc + " has a comparator on its numerator" + mapIt
		return false
	}
	t := d / n
	if n != 1 && (t < 1 || t != math.Trunc(t)) {
		v.Problem = desc + " is not a dilution (1:n)" + mapIt
		return false
	}
	v.Num, v.HasNum, v.Unit = t, true, "{titer}"
	v.Comparator = comparator(r.GetDenominator().GetComparator())
	return true
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
	return m.unitOfParts(q.GetUnit().GetValue(), q.GetSystem().GetValue(), q.GetCode().GetValue())
}

func (m *Mapper) unitOfParts(unitText, system, code string) (unit, raw string) {
	raw = unitText
	if system == "http://unitsofmeasure.org" && code != "" {
		raw = code
	} else if raw == "" {
		raw = code
	}
	return m.alias(raw), raw
}

func (m *Mapper) alias(u string) string {
	if a, ok := m.codes.UnitAliases[u]; ok {
		return a
	}
	t := strings.TrimSpace(u)
	if a, ok := m.codes.UnitAliases[t]; ok {
		return a
	}
	if a, ok := m.aliasFold[strings.ToLower(t)]; ok {
		return a
	}
	return t
}

// logCode reports whether the result's code is one whose values are log10.
func (r *obsRule) logCode(cc *dtpb.CodeableConcept, m *Mapper) bool {
	if len(r.logCodes) == 0 {
		return false
	}
	for _, cd := range cc.GetCoding() {
		if r.logCodes[m.codeKey(cd.GetSystem().GetValue(), cd.GetCode().GetValue())] {
			return true
		}
	}
	return false
}

// SNOMED CT and HL7 v3 AdministrativeGender codes of referenceRange.appliesTo.
var rangeSex = map[string]string{
	"248153007": "male", "248152002": "female", // SNOMED CT male / female (also used by us-core-sex)
	"M": "male", "F": "female", // http://terminology.hl7.org/CodeSystem/v3-AdministrativeGender
	"male": "male", "female": "female",
}

// uln is the upper limit of normal from the reference ranges that apply to
// this patient, in the fact's unit: ranges of type normal (or untyped), for
// the patient's sex and age at the result date. Ranges for another sex or age
// are skipped; when the applicable ranges give different highs the ULN is
// unknown (0), as it is when there is none.
func (c *mapCall) uln(rule *obsRule, p obsPart, obsUnit string, date time.Time) float64 {
	high, _ := c.limit(rule, p, obsUnit, date, true)
	return high
}

// limit is the high (or low) end of the reference ranges that apply to this
// patient, in the fact's unit, and whether one is known (see uln).
func (c *mapCall) limit(rule *obsRule, p obsPart, obsUnit string, date time.Time, high bool) (float64, bool) {
	sex := ""
	if vs := c.chart.Facts["sex"]; len(vs) > 0 {
		sex = vs[0].Code
	}
	lim, found := 0.0, false
	for _, rr := range p.ranges {
		if !c.rangeApplies(rr, sex, date) {
			continue
		}
		q := rr.GetLow()
		if high {
			q = rr.GetHigh()
		}
		if q == nil || q.GetValue() == nil {
			continue
		}
		n, err := strconv.ParseFloat(q.GetValue().GetValue(), 64)
		if err != nil {
			continue
		}
		unit := obsUnit
		if q.GetCode().GetValue() != "" || q.GetUnit().GetValue() != "" {
			unit, _ = c.m.unitOfParts(q.GetUnit().GetValue(), q.GetSystem().GetValue(), q.GetCode().GetValue())
		}
		f, ok := rule.Units[unit]
		if !ok {
			return 0, false // a range in a unit we cannot convert: the limit is not known
		}
		if x := n * f; !found {
			lim, found = x, true
		} else if math.Abs(x-lim) > 1e-9*math.Max(1, math.Abs(lim)) {
			return 0, false
		}
	}
	return lim, found
}

// interpretation directions (v3 ObservationInterpretation) checked against a value.
var interpDirection = map[string]int{"L": -1, "LL": -1, "LU": -1, "<": -1, "H": 1, "HH": 1, "HU": 1, ">": 1, "N": 0}

// disagreement says how a numeric value contradicts the lab's own
// low/high/normal interpretation — judged against the patient's reference
// range, else the usual interval in codes.yaml (`usual:`) — or "" when it
// does not (or cannot be judged). A platelet count of 212 flagged critical
// low is not a result to decide on.
func (c *mapCall) disagreement(rule *obsRule, p obsPart, v *rules.Value, unit, raw, rawUnit string) string {
	for _, in := range p.interp {
		for _, cd := range codingsOf(in) {
			if !strings.HasSuffix(cd.system, "v3-ObservationInterpretation") {
				continue
			}
			dir, ok := interpDirection[strings.ToUpper(cd.code)]
			if !ok {
				continue
			}
			lo, okLo := c.limit(rule, p, unit, v.Date, false)
			hi, okHi := c.limit(rule, p, unit, v.Date, true)
			if !okLo && !okHi && len(rule.Usual) == 2 {
				lo, hi, okLo, okHi = rule.Usual[0], rule.Usual[1], true, true
			}
			bad := false
			switch dir {
			case -1: // flagged low, yet above the low limit
				bad = okLo && v.Num > lo || !okLo && okHi && v.Num > hi
			case 1: // flagged high, yet below the high limit
				bad = okHi && v.Num < hi || !okHi && okLo && v.Num < lo
			default: // flagged normal, yet outside the range
				bad = okLo && v.Num < lo || okHi && v.Num > hi
			}
			if bad {
				return "value " + raw + " " + rawUnit + " disagrees with its own interpretation " + strconv.Quote(cd.code) + " — correct the result"
			}
		}
	}
	return ""
}

func (c *mapCall) rangeApplies(rr *obspb.Observation_ReferenceRange, sex string, date time.Time) bool {
	if t := rr.GetType(); t != nil {
		normal := false
		for _, cd := range t.GetCoding() {
			switch cd.GetCode().GetValue() {
			case "normal", "recommended":
				normal = true
			}
		}
		if !normal {
			return false // therapeutic, treatment, pre/post … ranges are not a ULN
		}
	}
	for _, at := range rr.GetAppliesTo() {
		for _, cd := range at.GetCoding() {
			if s, ok := rangeSex[cd.GetCode().GetValue()]; ok && sex != "" && sex != "unknown" && sex != s {
				return false
			}
		}
	}
	if age := rr.GetAge(); age != nil && !date.IsZero() {
		lo, hi, ok := c.ageAt(date)
		if !ok {
			return true
		}
		if l := age.GetLow(); l != nil {
			if y, ok := years(l.GetValue().GetValue(), l.GetCode().GetValue()+l.GetUnit().GetValue()); ok && hi < y {
				return false
			}
		}
		if h := age.GetHigh(); h != nil {
			if y, ok := years(h.GetValue().GetValue(), h.GetCode().GetValue()+h.GetUnit().GetValue()); ok && lo > y {
				return false
			}
		}
	}
	return true
}

// ageAt is the patient's age range in years on a day (a partial birth date
// gives a range).
func (c *mapCall) ageAt(day time.Time) (lo, hi float64, ok bool) {
	vs := c.chart.Facts["birth_date"]
	if len(vs) == 0 || vs[0].Date.IsZero() {
		return 0, 0, false
	}
	from, until := vs[0].Date, vs[0].Until
	if until.IsZero() {
		until = from
	}
	yrs := func(b time.Time) float64 { return day.Sub(b).Hours() / 24 / 365.25 }
	return yrs(until), yrs(from), true
}

func years(raw, unit string) (float64, bool) {
	n, err := strconv.ParseFloat(raw, 64)
	if err != nil {
		return 0, false
	}
	switch strings.Trim(unit, "{}") {
	case "a", "yr", "years", "year", "y":
		return n, true
	case "mo", "months", "month":
		return n / 12, true
	case "wk", "weeks", "week":
		return n * 7 / 365.25, true
	case "d", "days", "day":
		return n / 365.25, true
	}
	return 0, false
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

package mapping

import (
	"regexp"
	"strconv"
	"strings"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	obspb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/observation_go_proto"

	"hemopa/rules"
)

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

package rules

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// reasonPrefixes start a composite's reason by the children that decided it:
// [met, not met, unknown, blocked] for each way of combining.
var reasonPrefixes = map[Op][4]string{
	OpAll:    {"", "not met: ", "not yet known: ", ""},
	OpAny:    {"met by ", "", "none met yet; not yet known: ", ""},
	OpScreen: {"ruled out by ", "evidence against: ", "", "cannot be settled from the record: "},
}

// problemLine names a value that cannot be read: `<Source> "<Text>" <Problem>`.
func problemLine(v *Value) string {
	s := v.Source
	if v.Text != "" {
		s += ` "` + v.Text + `"`
	}
	return strings.TrimSpace(s + " " + v.Problem)
}

func (e *evaluator) unreadable(v *Value, label string) string {
	if v.Problem == "" {
		return lower(label) + " in " + v.Source + " has no numeric value (" + e.fmtValue(*v) + ")"
	}
	return lower(label) + " in " + v.Source + " cannot be read: " + v.Problem
}

func lower(s string) string {
	if s == "" {
		return s
	}
	// Keep acronyms (ALT, HIV-1 RNA) as written.
	if len(s) > 1 && s[1] >= 'A' && s[1] <= 'Z' {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

func opText(op Comparison) string {
	switch op {
	case AtMost:
		return "≤"
	case AtLeast:
		return "≥"
	}
	return string(op)
}

func dated(v Value) string { return string(appendDated(nil, v)) }

func appendDated(b []byte, v Value) []byte {
	if v.Date.IsZero() {
		return b
	}
	b = append(b, " on "...)
	return appendDate(b, v.Date)
}

// appendDate writes YYYY-MM-DD (faster than time.Format on the hot path).
func appendDate(b []byte, t time.Time) []byte {
	y, m, d := t.Date()
	b = strconv.AppendInt(b, int64(y), 10)
	b = append(b, '-', byte('0'+m/10), byte('0'+m%10), '-', byte('0'+d/10), byte('0'+d%10))
	return b
}

// unitTexts are how UCUM units read after a number in reasons, by unit
// (facts.yaml's unit_text: "10*9/L" reads " × 10⁹/L"); a unit not listed
// reads as a space and the unit.
type unitTexts map[string]string

func (t unitTexts) suffix(u string) string {
	if u == "" {
		return ""
	}
	if n, ok := t[u]; ok {
		return n
	}
	return " " + u
}

func (e *evaluator) unitSuffix(u string) string { return e.p.units.suffix(u) }

func (e *evaluator) fmtValue(v Value) string { return string(e.appendValue(nil, v)) }

// appendValue writes a value as reasons show it: "< 0.3 BU/mL", "1:50",
// "negative", a code.
func (e *evaluator) appendValue(b []byte, v Value) []byte {
	if !v.HasNum {
		if v.Flag != NoFlag {
			return append(b, v.Flag.String()...)
		}
		return append(b, v.Code...)
	}
	if v.Unit == "{titer}" && v.Flag == Negative && v.Comparator == "<" && v.Num == 1 {
		return append(b, "not detected"...) // a coded result read as below every dilution
	}
	b = append(b, v.Comparator...)
	if v.Unit == "{titer}" {
		b = append(b, "1:"...)
		return appendNum(b, v.Num)
	}
	b = appendNum(b, v.Num)
	return append(b, e.p.units.suffix(v.Unit)...)
}

func fmtNum(x float64) string { return string(appendNum(nil, x)) }

func appendNum(b []byte, x float64) []byte {
	ax := math.Abs(x)
	switch {
	case ax >= 1e6 || (ax > 0 && ax < 0.001):
		return strconv.AppendFloat(b, x, 'g', 4, 64)
	case ax < 1:
		return strconv.AppendFloat(b, math.Round(x*1000)/1000, 'f', -1, 64)
	}
	return strconv.AppendFloat(b, math.Round(x*100)/100, 'f', -1, 64)
}

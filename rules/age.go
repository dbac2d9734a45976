package rules

import (
	"strconv"
	"time"

	"gopkg.in/yaml.v3"
)

// The age family compares the age on the as-of day, from the date of birth,
// with a value.
func init() {
	register(&family{name: "age", answers: map[test][]Kind{testOp: {KindAge}}, compile: compileAge, eval: (*evaluator).age, reads: readsBirthDate})
}

// readsBirthDate: an age is computed from the whole record's dates of birth.
func readsBirthDate(_ *Check, read func(string, Window)) { read("birth_date", Window{}) }

func compileAge(cc *checkCompiler, ck *Check, n *yaml.Node) {
	if ck.ULN != 0 {
		cc.errorf(n.Line, "an age has no upper limit of normal: compare it with a value")
	}
}

// age compares the age on the as-of day. A partial birth date ("1990") is an
// age range, unknown when it straddles the threshold; two birth dates that
// cannot both be true, or one that cannot be read, are unknown.
func (e *evaluator) age(ck *Check) out {
	births := e.f["birth_date"]
	var b *Value
	var lo, hi time.Time // the earliest and latest day of birth the record allows
	for i := range births {
		v := &births[i]
		if !v.Readable() {
			return blocked("the date of birth in "+v.Source+" cannot be read: "+v.Problem, problemLine(v))
		}
		if v.Date.IsZero() {
			continue
		}
		until := v.Until
		if until.Before(v.Date) {
			until = v.Date
		}
		if b == nil {
			b, lo, hi = v, v.Date, until
			continue
		}
		if v.Date.After(hi) || until.Before(lo) {
			return blocked("the record gives two dates of birth: "+partialDate(lo, hi)+" ("+b.Source+") and "+partialDate(v.Date, until)+" ("+v.Source+")",
				"Date of birth — the record gives two ("+b.Source+": "+partialDate(lo, hi)+", "+v.Source+": "+partialDate(v.Date, until)+")")
		}
		if v.Date.Before(lo) {
			lo = v.Date
		}
		if until.After(hi) {
			hi = until
		}
	}
	if b == nil {
		return out{res: Unknown, reason: "no date of birth on record", needs: []Need{{Text: "Date of birth"}}}
	}
	young, old := yearsOld(hi, e.asOf), yearsOld(lo, e.asOf)
	res := compareRange(Value{Num: float64(young), HasNum: true}, ck.Op, *ck.Value)
	if young != old && compareRange(Value{Num: float64(old), HasNum: true}, ck.Op, *ck.Value) != res {
		res = Unknown
	}
	buf := append(e.buf[:0], "age "...)
	buf = strconv.AppendInt(buf, int64(young), 10)
	if young != old {
		buf = append(buf, "–"...)
		buf = strconv.AppendInt(buf, int64(old), 10)
	}
	buf = append(buf, " on "...)
	buf = appendDate(buf, e.asOf)
	if young != old {
		buf = append(buf, " (date of birth given as "...)
		buf = append(buf, partialDate(lo, hi)...)
		buf = append(buf, ')')
	}
	switch res {
	case Met:
		buf = append(buf, " is "...)
	case NotMet:
		buf = append(buf, " is not "...)
	default:
		buf = append(buf, " cannot be compared with "...)
	}
	buf = append(buf, opText(ck.Op)...)
	buf = append(buf, ' ')
	buf = appendNum(buf, *ck.Value)
	e.buf = buf
	if res == Unknown {
		o := blocked(string(buf), "Full date of birth ("+b.Source+" gives "+partialDate(lo, hi)+")")
		o.evidence = e.evidence(b.Source)
		return o
	}
	return out{res: res, reason: string(buf), evidence: e.evidence(b.Source)}
}

// yearsOld is the age in whole years on asOf of someone born on birth.
func yearsOld(birth, asOf time.Time) int {
	years := asOf.Year() - birth.Year()
	if asOf.Month() < birth.Month() || (asOf.Month() == birth.Month() && asOf.Day() < birth.Day()) {
		years--
	}
	return years
}

// partialDate writes the days lo..hi a partial date stands for: "2008",
// "2008-05", or "2008-01-01 to 2008-06-30".
func partialDate(lo, hi time.Time) string {
	switch {
	case lo.Month() == 1 && lo.Day() == 1 && hi.Month() == 12 && hi.Day() == 31 && lo.Year() == hi.Year():
		return strconv.Itoa(lo.Year())
	case lo.Day() == 1 && lo.Year() == hi.Year() && lo.Month() == hi.Month() && hi.AddDate(0, 0, 1).Day() == 1:
		return lo.Format("2006-01")
	}
	return string(appendDate(nil, lo)) + " to " + string(appendDate(nil, hi))
}

package rules

import "math"

// The numeric family compares the latest (or lowest) value of a quantity or
// titer with a threshold or a multiple of its upper limit of normal.
func init() {
	register(&family{name: "numeric", answers: map[test][]Kind{testOp: {KindQuantity, KindTiter}}, eval: (*evaluator).numeric})
}

func (e *evaluator) numeric(ck *Check) out {
	if !e.anyInWindow(ck) {
		return e.noneOnRecord(ck)
	}
	usable := e.numericUsable(ck)
	vals := e.f[ck.Fact]
	start := e.start(ck.Window)
	if ck.Select == SelectLowest {
		var low, stuck *Value
		for i := range vals {
			v := &vals[i]
			if !e.inWindow(v, ck.Window, start) {
				continue
			}
			if !usable(v) {
				stuck = v
				continue
			}
			if low == nil || asNumber(ck, *v).Num < asNumber(ck, *low).Num {
				low = v
			}
		}
		if low == nil {
			return e.unreadableNeed(ck, e.unreadable(stuck, ck.info.Label), stuck)
		}
		// The lowest readable value meets the threshold: an unreadable one
		// can only be lower or higher, the lowest of all still meets it.
		res, reason := e.compare(ck, asNumber(ck, *low), "lowest ")
		if res != Met && stuck != nil {
			return e.unreadableNeed(ck, reason+"; but "+e.unreadable(stuck, ck.info.Label), stuck)
		}
		return e.compared(ck, res, reason, *low, e.evidence(low.Source))
	}
	best, found, blocker := e.newest(ck, usable, always)
	if blocker != nil {
		return e.unreadableNeed(ck, "latest "+e.unreadable(blocker, ck.info.Label), blocker)
	}
	if !found {
		return e.noneOnRecord(ck)
	}
	var first *Value
	var res Result
	var reason string
	var evidence []string
	for i := range vals {
		v := &vals[i]
		if !e.inWindow(v, ck.Window, start) || !usable(v) || !v.Date.Equal(best) {
			continue
		}
		r, why := e.compare(ck, asNumber(ck, *v), "")
		if first == nil {
			first, res, reason = v, r, why
			evidence = e.evidence(v.Source)
			continue
		}
		if v.Source != first.Source {
			evidence = append(evidence, v.Source)
		}
		if r != res {
			return e.conflict(ck, "conflicting results on "+v.Date.Format("2006-01-02")+": "+reason+"; "+why, first, v)
		}
	}
	return e.compared(ck, res, reason, *first, evidence)
}

// numericUsable is which values a numeric check compares: readable numbers,
// and for a titer also one reported only as not detected, which asNumber
// reads as below every dilution.
func (e *evaluator) numericUsable(ck *Check) func(*Value) bool {
	if ck.info.Kind == KindTiter {
		return func(v *Value) bool { return v.Readable() && (v.HasNum || v.Flag == Negative) }
	}
	return hasNum
}

func asNumber(ck *Check, v Value) Value {
	if !v.HasNum && ck.info.Kind == KindTiter && v.Flag == Negative {
		v.Num, v.HasNum, v.Comparator, v.Unit = 1, true, "<", "{titer}"
	}
	return v
}

// compared wraps a comparison; when the value on record cannot settle it (a
// range straddling the threshold, no reference range) it says what would.
func (e *evaluator) compared(ck *Check, res Result, reason string, v Value, evidence []string) out {
	o := out{res: res, reason: reason, evidence: evidence}
	if res == Unknown {
		what := " reported as an exact value (" + v.Source + " gives " + e.fmtValue(v) + ")"
		if ck.ULN > 0 && v.ULN <= 0 {
			what = " with its upper limit of normal (" + v.Source + " has no reference range)"
		}
		o.blocked = true
		o.needs = []Need{{Text: ck.info.Label + e.sinceText(ck.Window) + what, unreadable: true}}
	}
	return o
}

// compare tests one value against the check's threshold. A value reported with a
// comparator ("<0.3") stands for a range and is met only if the whole range is.
func (e *evaluator) compare(ck *Check, v Value, prefix string) (Result, string) {
	b := append(e.buf[:0], prefix...)
	b = append(b, ck.info.Label...)
	b = append(b, ' ')
	b = e.appendValue(b, v)
	b = appendDated(b, v)
	var t float64
	if ck.ULN > 0 {
		if v.ULN <= 0 {
			b = append(b, " has no upper limit of normal (reference range) to compare with"...)
			e.buf = b
			return Unknown, string(b)
		}
		t = ck.ULN * v.ULN
	} else {
		t = *ck.Value
	}
	res := compareRange(v, ck.Op, t)
	switch res {
	case Met:
		b = append(b, " is "...)
	case NotMet:
		b = append(b, " is not "...)
	default:
		b = append(b, " cannot be compared with "...)
	}
	b = append(b, opText(ck.Op)...)
	if ck.ULN > 0 {
		b = append(b, ' ')
		b = appendNum(b, ck.ULN)
		b = append(b, " × ULN ("...)
		b = appendNum(b, t)
		b = append(b, e.unitSuffix(v.Unit)...)
		b = append(b, ')')
	} else {
		b = append(b, ' ')
		b = append(b, ck.limit...)
	}
	e.buf = b
	return res, string(b)
}

// compareRange decides "value op t" for a value that may carry a comparator.
func compareRange(v Value, op Comparison, t float64) Result {
	lo, hi := v.Num, v.Num
	loOpen, hiOpen := false, false
	switch v.Comparator {
	case "<":
		lo, hiOpen = math.Inf(-1), true
	case "<=":
		lo = math.Inf(-1)
	case ">":
		hi, loOpen = math.Inf(1), true
	case ">=":
		hi = math.Inf(1)
	}
	var all, none bool
	switch op {
	case AtMost:
		all, none = hi <= t, lo > t || (loOpen && lo >= t)
	case Below:
		all, none = hi < t || (hiOpen && hi <= t), lo >= t
	case AtLeast:
		all, none = lo >= t, hi < t || (hiOpen && hi <= t)
	case Above:
		all, none = lo > t || (loOpen && lo >= t), hi <= t
	}
	switch {
	case all:
		return Met
	case none:
		return NotMet
	}
	return Unknown
}

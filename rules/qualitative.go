package rules

import (
	"strconv"

	"gopkg.in/yaml.v3"
)

// The qualitative family reads the newest result as negative or positive
// (detected or not), or a history as never positive.
func init() {
	labs := []Kind{KindQuantity, KindTiter, KindResult}
	register(&family{name: "qualitative", answers: map[test][]Kind{
		isTest(IsNegative): labs, isTest(IsPositive): labs, isTest(IsNotDetected): {KindQuantity}, isTest(IsNeverPositive): labs,
	}, compile: compileQualitative, eval: evalQualitative})
}

// compileQualitative: a quantity is read as positive or negative at its
// positive_at or the check's cutoff (detection needs neither).
func compileQualitative(cc *checkCompiler, ck *Check, n *yaml.Node) {
	if ck.Is != IsNotDetected && ck.info.Kind == KindQuantity && ck.Cutoff == nil && ck.info.PositiveAt == 0 {
		cc.errorf(n.Line, "fact %s has no positive_at; give a cutoff", ck.Fact)
	}
}

func evalQualitative(e *evaluator, ck *Check) out {
	if ck.Is == IsNeverPositive {
		return e.neverPositive(ck)
	}
	return e.qualitative(ck)
}

func (e *evaluator) qualitative(ck *Check) out {
	if !e.anyInWindow(ck) {
		return e.noneOnRecord(ck)
	}
	best, found, blocker := e.newest(ck, readable, notReadable)
	if blocker != nil {
		return e.unreadableNeed(ck, "latest "+e.unreadable(blocker, ck.info.Label), blocker)
	}
	if !found {
		return e.noneOnRecord(ck)
	}
	vals := e.f[ck.Fact]
	start := e.start(ck.Window)
	var flag Flag
	var first, flagged *Value
	var evidence []string
	for i := range vals {
		v := &vals[i]
		if !e.inWindow(v, ck.Window, start) || !v.Readable() || !v.Date.Equal(best) {
			continue
		}
		f, note := e.readAs(ck, v)
		if first == nil {
			first = v
			evidence = e.evidence(v.Source)
		} else if v.Source != first.Source {
			evidence = append(evidence, v.Source)
		}
		if f == NoFlag {
			if note == "" {
				note = "the result is neither positive nor negative"
			}
			return e.ambiguous(ck, ck.info.Label+" "+e.fmtValue(*v)+dated(*v)+": "+note, v, note)
		}
		if flag != NoFlag && f != flag {
			return e.conflict(ck, "conflicting "+lower(ck.info.Label)+" results"+dated(*v), flagged, v)
		}
		flag, flagged = f, v
	}
	b := append(e.buf[:0], ck.info.Label...)
	b = append(b, ' ')
	b = e.appendValue(b, *first)
	b = appendDated(b, *first)
	b = append(b, " reads "...)
	if ck.Is == IsNotDetected {
		b = append(b, detectedWord(flag)...)
	} else {
		b = append(b, flag.String()...)
	}
	want := Negative
	if ck.Is == IsPositive {
		want = Positive
	}
	if flag == want {
		e.buf = b
		return out{res: Met, reason: string(b), evidence: evidence}
	}
	if ck.OnPositive == PositiveUnknown {
		// Documented and positive: asking for it again helps nobody; another
		// alternative of the screen must settle it.
		b = append(b, ", which alone does not rule it out"...)
		e.buf = b
		return out{res: Unknown, reason: string(b), evidence: evidence}
	}
	e.buf = b
	return out{res: NotMet, reason: string(b), evidence: evidence}
}

// readAs is the value's reading under the check.
func (e *evaluator) readAs(ck *Check, v *Value) (Flag, string) {
	if ck.Is == IsNotDetected {
		return e.detection(v)
	}
	return e.reading(ck, v)
}

// reading is a value's qualitative reading under the check: its own flag
// (interpretation or coded result) and, for numbers, the cutoff. When the two
// disagree the reading is ambiguous (NoFlag with a note).
func (e *evaluator) reading(ck *Check, v *Value) (Flag, string) {
	num := NoFlag
	if v.HasNum {
		cutoff := ck.info.PositiveAt
		if ck.Cutoff != nil {
			cutoff = *ck.Cutoff
		}
		switch {
		case cutoff > 0:
			switch compareRange(*v, Below, cutoff) {
			case Met:
				num = Negative
			case NotMet:
				num = Positive
			default:
				return NoFlag, e.fmtValue(*v) + " cannot be placed against the " + fmtNum(cutoff) + e.unitSuffix(ck.info.Unit) + " cutoff"
			}
		case ck.info.Kind == KindTiter:
			// A titer below the assay's first dilution ("<1:5") is not detected;
			// any titer reported as a dilution is detected.
			if v.Comparator == "<" || v.Comparator == "<=" {
				num = Negative
			} else {
				num = Positive
			}
		}
	}
	switch {
	case num == NoFlag:
		return v.Flag, ""
	case v.Flag == NoFlag || v.Flag == num:
		return num, ""
	}
	return NoFlag, "the lab reads it " + v.Flag.String() + " but " + e.fmtValue(*v) + " reads " + num.String()
}

// detection is a value's reading as detected (Positive) or not detected
// (Negative): a number below the assay's limit ("<20") or 0 is not detected,
// any other number is; without a number the lab's own reading decides. A
// lab reading that contradicts the number is ambiguous (NoFlag with a note).
func (e *evaluator) detection(v *Value) (Flag, string) {
	num := NoFlag
	if v.HasNum {
		num = Positive
		if v.Comparator == "<" || v.Comparator == "<=" || (v.Num == 0 && v.Comparator == "") {
			num = Negative
		}
	}
	switch {
	case num == NoFlag:
		return v.Flag, ""
	case v.Flag == NoFlag || v.Flag == num:
		return num, ""
	}
	return NoFlag, "the lab reads it " + detectedWord(v.Flag) + " but " + e.fmtValue(*v) + " reads " + detectedWord(num)
}

func detectedWord(f Flag) string {
	switch f {
	case Negative:
		return "not detected"
	case Positive:
		return "detected"
	}
	return ""
}

// neverPositive reads a history: any positive ever (a number at or above the
// cutoff, or the lab's own positive reading whatever the number) fails it; a
// reading that contradicts itself, or a value that cannot be read, leaves it
// unknown unless a positive settles it; only negatives and nothing unreadable
// meet it.
func (e *evaluator) neverPositive(ck *Check) out {
	vals := e.f[ck.Fact]
	start := e.start(ck.Window)
	var neg []string
	var amb, stuck *Value
	var ambNote string
	for i := range vals {
		v := &vals[i]
		if !e.inWindow(v, ck.Window, start) {
			continue
		}
		if !v.Readable() {
			if stuck == nil {
				stuck = v
			}
			continue
		}
		f, note := e.reading(ck, v)
		if v.Flag == Positive {
			f = Positive // the lab reads it positive: a history, whatever the number
		}
		switch f {
		case Positive:
			return out{res: NotMet, reason: ck.info.Label + " " + e.fmtValue(*v) + dated(*v) + " was positive", evidence: e.evidence(v.Source)}
		case Negative:
			neg = append(neg, v.Source)
		default:
			if amb == nil {
				amb, ambNote = v, note
			}
		}
	}
	switch {
	case amb != nil:
		if ambNote == "" {
			ambNote = "the result is neither positive nor negative"
		}
		return e.ambiguous(ck, ck.info.Label+" "+e.fmtValue(*amb)+dated(*amb)+": "+ambNote, amb, ambNote)
	case stuck != nil:
		return e.unreadableNeed(ck, e.unreadable(stuck, ck.info.Label)+", so a positive cannot be ruled out", stuck)
	case len(neg) == 0:
		return e.unknown(ck, "no readable "+lower(ck.info.Label)+" on record")
	}
	return out{res: Met, reason: "no positive " + lower(ck.info.Label) + " on record (" + strconv.Itoa(len(neg)) + " negative)", evidence: e.evidence(neg...)}
}

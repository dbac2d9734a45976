package rules

import "time"

// newest finds, among the fact's values inside the window, the newest date
// with a usable value, and a value that blocks dated on or after it (which
// makes any result unknown; an undated unreadable value always blocks).
// The caller then visits the usable values of that date itself: several
// may share it.
func (e *evaluator) newest(ck *Check, usable, blocks func(*Value) bool) (best time.Time, found bool, blocker *Value) {
	vals := e.f[ck.Fact]
	start := e.start(ck.Window)
	for i := range vals {
		v := &vals[i]
		if e.inWindow(v, ck.Window, start) && usable(v) && (!found || v.Date.After(best)) {
			best, found = v.Date, true
		}
	}
	for i := range vals {
		v := &vals[i]
		if !e.inWindow(v, ck.Window, start) || usable(v) || !blocks(v) {
			continue
		}
		undated := v.Date.IsZero() && !v.Readable()
		if found && !undated && v.Date.Before(best) {
			continue
		}
		if blocker == nil || undated || (!(blocker.Date.IsZero() && !blocker.Readable()) && v.Date.After(blocker.Date)) {
			blocker = v
		}
	}
	return best, found, blocker
}

func (e *evaluator) anyInWindow(ck *Check) bool {
	start := e.start(ck.Window)
	for i := range e.f[ck.Fact] {
		if e.inWindow(&e.f[ck.Fact][i], ck.Window, start) {
			return true
		}
	}
	return false
}

func hasNum(v *Value) bool { return v.Readable() && v.HasNum }

func readable(v *Value) bool { return v.Readable() }

func notReadable(v *Value) bool { return !v.Readable() }

func always(*Value) bool { return true }

func (e *evaluator) unknown(ck *Check, reason string) out {
	if e.quiet {
		return out{res: Unknown}
	}
	return out{res: Unknown, reason: reason, needs: []Need{{Text: e.texts(ck).need}}}
}

// texts returns the check's day-dependent texts, built once per as-of day.
func (e *evaluator) texts(ck *Check) *dayTexts {
	if t := ck.texts.Load(); t != nil && t.day.Equal(e.asOf) {
		return t
	}
	since := e.sinceText(ck.Window)
	t := &dayTexts{day: e.asOf, need: ck.info.Label + since, noneReason: ck.none + since}
	if ck.Window.IsZero() {
		t.noneReason = ck.none + " on record"
	}
	ck.texts.Store(t)
	return t
}

// blocked is an unknown that something on record causes; need asks about that
// value, and survives every composite's wording.
func blocked(reason, need string) out {
	return out{res: Unknown, blocked: true, reason: reason, needs: []Need{{Text: need, unreadable: true}}}
}

// unreadableNeed asks for a value again because the one on record cannot be read.
func (e *evaluator) unreadableNeed(ck *Check, reason string, v *Value) out {
	if v.Problem != "" {
		return blocked(reason, problemLine(v))
	}
	return blocked(reason, ck.info.Label+e.sinceText(ck.Window)+" in a readable form ("+v.Source+": no numeric value)")
}

// conflict is an unknown because values of one day disagree.
func (e *evaluator) conflict(ck *Check, reason string, a, b *Value) out {
	when := "on record"
	if !a.Date.IsZero() {
		when = "on " + string(appendDate(nil, a.Date))
	}
	return blocked(reason, ck.info.Label+e.sinceText(ck.Window)+" — the results "+when+" disagree ("+a.Source+", "+b.Source+")")
}

// ambiguous is an unknown because a value's reading contradicts itself.
func (e *evaluator) ambiguous(ck *Check, reason string, v *Value, note string) out {
	return blocked(reason, ck.info.Label+e.sinceText(ck.Window)+" — "+v.Source+": "+note)
}

func (e *evaluator) noneOnRecord(ck *Check) out {
	if e.quiet {
		return out{res: Unknown}
	}
	return e.unknown(ck, e.texts(ck).noneReason)
}

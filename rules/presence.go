package rules

// The presence family asks whether something is on record: a value, an
// active (or with ever any) diagnosis or event; or that none is.
func init() {
	events := []Kind{KindCondition, KindEvent}
	register(&family{name: "presence", answers: map[test][]Kind{
		isTest(IsPresent):      {KindQuantity, KindTiter, KindResult, KindCondition, KindEvent, KindCode},
		isTest(IsAbsent):       events,
		isTest(IsUndocumented): events,
	}, eval: evalPresence})
}

func evalPresence(e *evaluator, ck *Check) out {
	switch ck.Is {
	case IsAbsent:
		return e.absent(ck)
	case IsUndocumented:
		return e.undocumented(ck)
	}
	return e.present(ck)
}

func (e *evaluator) present(ck *Check) out {
	switch ck.info.Kind {
	case KindCondition, KindEvent:
		v, stuck := e.documented(ck)
		switch {
		case v != nil:
			return out{res: Met, reason: eventReason(ck, v), evidence: e.evidence(v.Source)}
		case stuck != nil:
			return e.unreadableNeed(ck, e.unreadable(stuck, ck.info.Label), stuck)
		}
		return e.noneOnRecord(ck)
	}
	best, found, blocker := e.newest(ck, readable, notReadable)
	if !found {
		if blocker != nil {
			return e.unreadableNeed(ck, e.unreadable(blocker, ck.info.Label), blocker)
		}
		return e.noneOnRecord(ck)
	}
	vals := e.f[ck.Fact]
	start := e.start(ck.Window)
	for i := range vals {
		v := &vals[i]
		if e.inWindow(v, ck.Window, start) && v.Readable() && v.Date.Equal(best) {
			return out{res: Met, reason: ck.info.Label + " " + e.fmtValue(*v) + dated(*v) + " on record", evidence: e.evidence(v.Source)}
		}
	}
	return e.noneOnRecord(ck)
}

// absent fails on a documented diagnosis or event; it is never met (absence
// alone rules nothing out), and a value that cannot be read blocks it.
func (e *evaluator) absent(ck *Check) out {
	v, stuck := e.documented(ck)
	switch {
	case v != nil:
		return out{res: NotMet, reason: eventReason(ck, v), evidence: e.evidence(v.Source)}
	case stuck != nil:
		return e.unreadableNeed(ck, e.unreadable(stuck, ck.info.Label)+", so it cannot be ruled out", stuck)
	}
	if e.quiet {
		return out{res: Unknown}
	}
	return out{res: Unknown, reason: ck.none + " on record (absence alone does not rule it out)"}
}

// undocumented is met when nothing of the kind is on record and nothing
// unreadable could be it; a documented one fails it (or, with on_positive:
// unknown, only fails to rule it out).
func (e *evaluator) undocumented(ck *Check) out {
	v, stuck := e.documented(ck)
	switch {
	case v != nil:
		if ck.OnPositive == PositiveUnknown {
			return out{res: Unknown, reason: eventReason(ck, v) + ", which alone does not rule it out", evidence: e.evidence(v.Source)}
		}
		return out{res: NotMet, reason: eventReason(ck, v), evidence: e.evidence(v.Source)}
	case stuck != nil:
		return e.unreadableNeed(ck, e.unreadable(stuck, ck.info.Label), stuck)
	}
	return out{res: Met, reason: e.texts(ck).noneReason}
}

// documented returns the newest diagnosis or event on record that counts: an
// active one (Positive), or with ever any readable one (resolved, inactive);
// and a value that cannot be read, if any.
func (e *evaluator) documented(ck *Check) (best, stuck *Value) {
	vals := e.f[ck.Fact]
	start := e.start(ck.Window)
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
		if (v.Flag == Positive || ck.Ever) && (best == nil || v.Date.After(best.Date)) {
			best = v
		}
	}
	return best, stuck
}

// eventReason describes a documented diagnosis or event.
func eventReason(ck *Check, v *Value) string {
	if v.Flag == Negative {
		return ck.info.Label + dated(*v) + " (recorded as resolved or inactive)"
	}
	return ck.info.Label + dated(*v)
}

package rules

import (
	"slices"
	"strings"
)

// The coded family matches the newest code of a coded fact against equals
// or in.
func init() {
	register(&family{name: "coded", answers: map[test][]Kind{testEquals: {KindCode}}, eval: (*evaluator).coded})
}

func (e *evaluator) coded(ck *Check) out {
	usable := func(v *Value) bool { return v.Readable() && v.Code != "" && v.Code != "unknown" }
	best, found, blocker := e.newest(ck, usable, notReadable)
	if blocker != nil {
		return e.unreadableNeed(ck, "latest "+e.unreadable(blocker, ck.info.Label), blocker)
	}
	if !found {
		return e.noneOnRecord(ck)
	}
	vals := e.f[ck.Fact]
	start := e.start(ck.Window)
	var first, other, match *Value
	for i := range vals {
		v := &vals[i]
		if !e.inWindow(v, ck.Window, start) || !usable(v) || !v.Date.Equal(best) {
			continue
		}
		switch {
		case first == nil:
			first = v
		case v.Code != first.Code && other == nil:
			other = v
		}
		if match == nil && (v.Code == ck.Equals || slices.Contains(ck.In, v.Code)) {
			match = v
		}
	}
	if other != nil && !ck.info.Multi {
		return e.conflict(ck, "conflicting "+lower(ck.info.Label)+dated(*first)+": "+first.Code+" ("+first.Source+"), "+other.Code+" ("+other.Source+")", first, other)
	}
	if match != nil {
		return out{res: Met, reason: ck.info.Label + " is " + match.Code, evidence: e.evidence(match.Source)}
	}
	var codes, evidence []string
	for i := range vals {
		v := &vals[i]
		if e.inWindow(v, ck.Window, start) && usable(v) && v.Date.Equal(best) {
			codes = appendUnique(codes, v.Code)
			evidence = appendUnique(evidence, v.Source)
		}
	}
	return out{res: NotMet, reason: ck.info.Label + " is " + strings.Join(codes, ", "), evidence: evidence}
}

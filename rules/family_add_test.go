package rules

import (
	"strconv"
	"strings"
	"testing"
)

// This file is what adding a check family takes: one file that declares
// its test, registers the family and evaluates it — nothing else in the
// package changes. The family here exists only in the tests: "is: repeated"
// asks for two readable results of a lab within the window (a confirmed
// result, as some policies ask for a repeat titer).

const isRepeated Is = "repeated"

func init() {
	register(&family{name: "repeated (test only)", answers: map[test][]Kind{
		isTest(isRepeated): {KindQuantity, KindTiter, KindResult},
	}, eval: evalRepeated})
}

func evalRepeated(e *evaluator, ck *Check) out {
	n, start := 0, e.start(ck.Window)
	var srcs []string
	for i := range e.f[ck.Fact] {
		v := &e.f[ck.Fact][i]
		if !e.inWindow(v, ck.Window, start) {
			continue
		}
		if !v.Readable() {
			return e.unreadableNeed(ck, e.unreadable(v, ck.info.Label), v)
		}
		n++
		srcs = append(srcs, v.Source)
	}
	if n < 2 {
		return out{res: Unknown, reason: ck.info.Label + ": " + strconv.Itoa(n) + " result(s)" + e.sinceText(ck.Window) + ", two needed",
			needs: []Need{{Text: "A second " + ck.info.Label + e.sinceText(ck.Window)}}}
	}
	return out{res: Met, reason: ck.info.Label + " on record " + strconv.Itoa(n) + " times", evidence: e.evidence(srcs...)}
}

// TestAddedFamily: the policy language knows the new test at once — lint
// accepts it where its family applies and refuses it elsewhere, and the
// engine evaluates it with the usual three values and needs.
func TestAddedFamily(t *testing.T) {
	p := testPolicy(t, leaf(`{fact: fix_inhibitor, window: 12mo, is: repeated}`))
	one := Facts{"fix_inhibitor": {{Num: 0.2, HasNum: true, Unit: "[beth'U]/mL", Date: day("2026-10-01"), Source: "Observation/a"}}}
	d := Evaluate(p, one, AsOf(asOf))
	if d.Decision != Pend || len(d.Missing) == 0 || !strings.Contains(d.Missing[0], "second") {
		t.Errorf("one result: %s %v, want a pend asking for a second", d.Decision, d.Missing)
	}
	two := Facts{"fix_inhibitor": append(one["fix_inhibitor"], Value{Num: 0.1, HasNum: true, Unit: "[beth'U]/mL", Date: day("2026-11-01"), Source: "Observation/b"})}
	if d := Evaluate(p, two, AsOf(asOf)); d.Decision != Approve {
		t.Errorf("two results: %s %v, want approve", d.Decision, d.Missing)
	}
	errs := lintFiles(map[string]string{"p.yaml": "id: t\ntitle: t\npayer: p\ndrugs: [Hemgenix]\nsource: s.txt\neffective: 2026-01-01\nrevised: 2026-01-01\ncriteria:\n" + leaf(`{fact: hemophilia_b, is: repeated}`)})
	if len(errs) == 0 || !strings.Contains(errs[0].Error(), "repeated") {
		t.Errorf("repeated on a diagnosis: %v, want a lint error", errs)
	}
}

package rules

import (
	"strings"

	"gopkg.in/yaml.v3"
)

// The attestation family reads the prescriber's answer to a question, after
// the structured evidence that would settle it.
func init() {
	register(&family{name: "attestation", answers: map[test][]Kind{testAttest: nil}, compile: compileAttestation, eval: (*evaluator).attest, reads: readsAnswer})
}

// readsAnswer: every answer on record counts, and the evidence reads what
// its checks read.
func readsAnswer(ck *Check, read func(string, Window)) {
	read(AttestationFact(ck.Attest), Window{})
	for _, ev := range ck.Evidence {
		ev.reads(read)
	}
}

func compileAttestation(cc *checkCompiler, ck *Check, n *yaml.Node) {
	if ck.info = cc.c.Facts[AttestationFact(ck.Attest)]; ck.info == nil {
		cc.errorf(n.Line, "unknown attestation %q", ck.Attest)
	}
	if ck.Is != IsTrue && ck.Is != IsFalse {
		cc.errorf(n.Line, "an attestation check needs is: true or is: false")
	}
	if ck.Ever || ck.OnPositive != "" {
		cc.errorf(n.Line, "ever and on_positive go with a fact, not an attestation")
	}
	if ev := field(n, "evidence"); ev != nil {
		if ev.Kind != yaml.SequenceNode {
			cc.errorf(ev.Line, "evidence must be a list of checks")
		} else {
			for _, en := range ev.Content {
				ck.Evidence = append(ck.Evidence, cc.check(en))
			}
		}
	}
}

// attest reads the prescriber's answer, after the structured evidence: a
// documented finding decides whatever is attested; evidence on record that
// cannot be read (or disagrees) leaves it unknown whatever is attested; two
// answers of the newest date that disagree are unknown, not first-wins.
func (e *evaluator) attest(ck *Check) out {
	want := ck.Is == IsTrue
	var stuck out
	for _, ev := range ck.Evidence {
		quiet := e.quiet
		e.quiet = true
		o := e.check(ev)
		e.quiet = quiet
		if o.res == Met {
			res, verb := NotMet, "contradicts"
			if want {
				res, verb = Met, "documents"
			}
			return out{res: res, reason: "structured evidence " + verb + " it: " + o.reason, evidence: o.evidence}
		}
		if o.blocked && !stuck.blocked {
			stuck = o
		}
	}
	if stuck.blocked {
		stuck.reason = "the record cannot settle it, whatever is attested: " + stuck.reason
		return stuck
	}
	vals := e.f[ck.factKey]
	var answer, other, unread *Value
	for i := range vals {
		v := &vals[i]
		if v.Readable() && v.Flag != NoFlag && (answer == nil || v.Date.After(answer.Date)) {
			answer = v
		}
	}
	for i := range vals {
		v := &vals[i]
		switch {
		case !v.Readable():
			if answer == nil || v.Date.IsZero() || !v.Date.Before(answer.Date) {
				unread = v
			}
		case answer != nil && v.Flag != NoFlag && v.Date.Equal(answer.Date) && v.Flag != answer.Flag:
			other = v
		}
	}
	question := strings.TrimPrefix(ck.info.Label, "Prescriber attestation: ")
	switch {
	case unread != nil:
		o := blocked("the prescriber's answer in "+unread.Source+" cannot be read: "+unread.Problem, problemLine(unread))
		o.needs[0].LinkIDs = []string{ck.Attest}
		return o
	case other != nil:
		when := "on record"
		if !answer.Date.IsZero() {
			when = "of " + string(appendDate(nil, answer.Date))
		}
		o := blocked("the prescriber's answers "+when+" disagree ("+answer.Source+", "+other.Source+")",
			"prescriber attestation ("+ck.Attest+"): "+question+" — the answers "+when+" disagree ("+answer.Source+", "+other.Source+")")
		o.needs[0].LinkIDs = []string{ck.Attest}
		return o
	case answer == nil:
		return out{res: Unknown, reason: "no prescriber attestation",
			needs: []Need{{Text: "prescriber attestation (" + ck.Attest + "): " + question, LinkIDs: []string{ck.Attest}}}}
	}
	yes := answer.Flag == Positive
	reason := "prescriber attests no"
	if yes {
		reason = "prescriber attests yes"
	}
	if yes == want {
		return out{res: Met, reason: reason, evidence: e.evidence(answer.Source)}
	}
	return out{res: NotMet, reason: reason, evidence: e.evidence(answer.Source)}
}

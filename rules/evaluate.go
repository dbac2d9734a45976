package rules

import (
	"slices"
	"strings"
	"time"
)

// EvalOption adjusts one evaluation.
type EvalOption func(*evaluator)

// AsOf sets the day windows count back from (default: today, UTC).
func AsOf(day time.Time) EvalOption {
	return func(e *evaluator) { e.asOf = dayOf(day) }
}

func dayOf(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// evaluator holds one evaluation. Results, evidence and reason text come from
// per-evaluation arenas: the engine runs on every request, so it allocates
// little (see BenchmarkEvaluate).
type evaluator struct {
	p     *Policy
	f     Facts
	asOf  time.Time
	nodes []CriterionResult // arena for the result tree
	ev    []string          // arena for evidence lists
	buf   []byte            // scratch for reasons
	since []sinceText       // "dated on or after …" and the start day, per window
	quiet bool              // probing evidence: an unknown needs no words
}

// out is what evaluating one node yields besides its CriterionResult.
//
// blocked marks an unknown that is not for want of documentation but because
// something on record could not be read or settles nothing: an unreadable
// value, a reading that contradicts itself, results that disagree on one day,
// a range straddling the threshold, a ratio to a missing ULN. A blocked
// unknown could have been the failure, so a screen cannot be ruled out past
// it and an attestation cannot answer over it.
type out struct {
	res      Result
	blocked  bool
	reason   string
	evidence []string
	needs    []Need
}

var noStrings = []string{}

// Evaluate decides policy p for the patient described by facts.
func Evaluate(p *Policy, facts Facts, opts ...EvalOption) *Determination {
	e := &evaluator{p: p, f: facts, asOf: dayOf(time.Now())}
	for _, o := range opts {
		o(e)
	}
	e.nodes = make([]CriterionResult, 0, p.nodes)
	e.ev = make([]string, 0, p.nodes)
	e.buf = make([]byte, 0, 256)
	e.since = make([]sinceText, 0, 8)
	d := &Determination{
		Policy: p.ID, PolicyVersion: p.Version(), Title: p.Title, Drug: e.drug(),
		AsOf: e.asOf.Format("2006-01-02"), Review: p.Review, Missing: noStrings,
	}
	if d.Review == "" {
		d.Review = "none"
	}
	if p.ApprovalDays > 0 {
		days := p.ApprovalDays
		d.ApprovalDays = &days
	}
	d.Criteria = e.block(len(p.Criteria))
	overall := Met
	notCovered := false
	for i, c := range p.Criteria {
		o := e.node(c, &d.Criteria[i])
		overall = and(overall, o.res)
		notCovered = notCovered || failsNotCovered(c, &d.Criteria[i])
		d.Needs = append(d.Needs, o.needs...)
	}
	// The same document can answer several criteria (1.C and CNR.1 ask the
	// same question): list it once, under the first criterion that needs it.
	if len(d.Needs) > 0 {
		d.Missing = make([]string, 0, len(d.Needs))
		seen := make(map[string]bool, len(d.Needs))
		for _, n := range d.Needs {
			if !seen[n.Text] {
				seen[n.Text] = true
				d.Missing = append(d.Missing, n.Criterion+": "+n.Text)
			}
		}
	}
	switch {
	case notCovered:
		d.Decision = NotCovered
	case overall == NotMet:
		d.Decision = Deny
	case overall == Unknown:
		d.Decision = Pend
	default:
		d.Decision = Approve
	}
	d.Dose = e.dose()
	return d
}

// block hands out n consecutive result slots from the arena.
func (e *evaluator) block(n int) []CriterionResult {
	if len(e.nodes)+n > cap(e.nodes) {
		e.nodes = make([]CriterionResult, 0, max(n, 32))
	}
	start := len(e.nodes)
	e.nodes = e.nodes[:start+n]
	return e.nodes[start : start+n : start+n]
}

// evidence returns srcs as a list backed by the evaluation's arena.
func (e *evaluator) evidence(srcs ...string) []string {
	if len(e.ev)+len(srcs) > cap(e.ev) {
		e.ev = make([]string, 0, max(len(srcs), 32))
	}
	start := len(e.ev)
	e.ev = append(e.ev, srcs...)
	return e.ev[start:len(e.ev):len(e.ev)]
}

// failsNotCovered reports whether a not-covered criterion anywhere in the tree failed.
func failsNotCovered(c *Criterion, r *CriterionResult) bool {
	if c.OnFail == NotCovered && r.Result == NotMet {
		return true
	}
	for i, ch := range c.Children {
		if failsNotCovered(ch, &r.Children[i]) {
			return true
		}
	}
	return false
}

func (e *evaluator) drug() string {
	for _, v := range e.f["requested_drug"] {
		for _, d := range e.p.Drugs {
			if strings.EqualFold(v.Code, d) {
				return d
			}
		}
	}
	return e.p.Drugs[0]
}

func and(a, b Result) Result {
	if a == NotMet || b == NotMet {
		return NotMet
	}
	if a == Unknown || b == Unknown {
		return Unknown
	}
	return Met
}

// node evaluates c into r.
func (e *evaluator) node(c *Criterion, r *CriterionResult) out {
	*r = CriterionResult{ID: c.ID, Text: c.Text, Citation: c.Citation, Evidence: noStrings, Op: c.Op}
	var o out
	if c.Op == OpCheck {
		r.Children = noResults
		o = e.check(c.Check)
		if o.res == Unknown && len(o.needs) > 0 {
			// A criterion-level need replaces the generated one, but a value
			// that could not be read keeps its explanation.
			n := o.needs[0]
			if c.Need != "" && !n.unreadable {
				n.Text = c.Need
			}
			n.Criterion = c.ID
			o.needs = []Need{n}
		} else {
			o.needs = nil
		}
	} else {
		o = e.composite(c, r)
	}
	if c.OnFail == Pend && o.res == NotMet {
		// on_fail: unknown — what is on record asks for a person to confirm.
		o.res, o.reason = Unknown, "to be confirmed: "+o.reason
		o.needs = []Need{{Criterion: c.ID, Text: c.Need, unreadable: true}}
	}
	if !c.canFail {
		o.blocked = false
	}
	r.Result, r.Reason = o.res, o.reason
	if len(o.evidence) > 0 {
		r.Evidence = o.evidence
	}
	return o
}

var noResults = []CriterionResult{}

// childNeeds are the needs of one unknown child.
type childNeeds struct {
	needs   []Need
	blocked bool
}

func (e *evaluator) composite(c *Criterion, r *CriterionResult) out {
	r.Children = e.block(len(c.Children))
	var nMet, nNot, nUnknown, nBlocked int
	var blockedSet uint64 // children whose unknown is blocked (at most maxChildren)
	var unknowns []childNeeds
	for i, ch := range c.Children {
		co := e.node(ch, &r.Children[i])
		switch co.res {
		case Met:
			nMet++
		case NotMet:
			nNot++
		default:
			nUnknown++
			if co.blocked {
				nBlocked++
				blockedSet |= 1 << uint(i)
			}
			unknowns = append(unknowns, childNeeds{co.needs, co.blocked})
		}
	}
	// labels lists the children with a result (or the blocked ones), for the
	// composite's reason.
	const blocked = Result(-1)
	is := func(i int, want Result) bool {
		if want == blocked {
			return blockedSet&(1<<uint(i)) != 0
		}
		return r.Children[i].Result == want
	}
	labels := func(prefix string, want Result) string {
		n := nUnknown
		switch want {
		case Met:
			n = nMet
		case NotMet:
			n = nNot
		case blocked:
			n = nBlocked
		}
		if n == 1 {
			for i := range c.Children {
				if is(i, want) {
					switch want {
					case Met:
						return c.metBy[i]
					case NotMet:
						return c.notMetBy[i]
					case blocked:
						return c.blockedBy[i]
					}
					return c.unknownBy[i]
				}
			}
		}
		b := append(e.buf[:0], prefix...)
		first := true
		for i, ch := range c.Children {
			if is(i, want) {
				if !first {
					b = append(b, ", "...)
				}
				b = append(b, ch.Label...)
				first = false
			}
		}
		e.buf = b
		return string(b)
	}
	var o out
	pre := reasonPrefixes[c.Op]
	switch c.Op {
	case OpAll:
		switch {
		case nNot > 0:
			o.res, o.reason = NotMet, labels(pre[1], NotMet)
		case nUnknown > 0:
			o.res, o.reason, o.blocked = Unknown, labels(pre[2], Unknown), nBlocked > 0
			for _, u := range unknowns {
				o.needs = append(o.needs, u.needs...)
			}
		default:
			o.res, o.reason = Met, "all met"
		}
	case OpAny:
		switch {
		case nMet > 0:
			o.res, o.reason = Met, labels(pre[0], Met)
		case nUnknown > 0:
			o.res, o.reason, o.blocked = Unknown, labels(pre[2], Unknown), nBlocked > 0
			o.needs = oneOf(c, unknowns, false)
		default:
			o.res, o.reason = NotMet, "none met"
		}
	case OpScreen:
		// A rule-out: evidence against decides; something on record that
		// cannot be read or settles nothing could have been that evidence,
		// so no alternative rules it out past it.
		switch {
		case nNot > 0:
			o.res, o.reason = NotMet, labels(pre[1], NotMet)
		case nBlocked > 0:
			o.res, o.reason, o.blocked = Unknown, labels(pre[3], blocked), true
			// With an alternative met, only what blocks it is needed.
			o.needs = oneOf(c, unknowns, nMet > 0)
		case nMet > 0:
			o.res, o.reason = Met, labels(pre[0], Met)
		default:
			o.res, o.reason = Unknown, "nothing on record rules it out"
			o.needs = oneOf(c, unknowns, false)
		}
	case OpNot:
		child := &r.Children[0]
		switch child.Result {
		case Met:
			o.res, o.reason = NotMet, child.ID+" is met"
		case NotMet:
			o.res, o.reason = Met, child.ID+" is not met"
		default:
			o.res, o.reason, o.blocked = Unknown, child.ID+" is not yet known", nBlocked > 0
			o.needs = unknowns[0].needs
		}
	}
	if o.res == Unknown && c.Need != "" {
		// The criterion's own words replace the generated needs; what asks
		// about a value on record (unreadable, disagreeing) stays as is.
		var links []string
		var kept []Need
		for _, n := range o.needs {
			links = appendUnique(links, n.LinkIDs...)
			if n.unreadable {
				kept = append(kept, n)
			}
		}
		o.needs = append([]Need{{Criterion: c.ID, Text: c.Need, LinkIDs: links}}, kept...)
	}
	return o
}

// oneOf merges the needs of alternatives into one: any of them would do. A
// need about a value on record (unreadable, disagreeing) is no alternative: it
// is listed as is, under c. onlyBlocked keeps only blocked children's needs.
func oneOf(c *Criterion, alts []childNeeds, onlyBlocked bool) []Need {
	n := Need{Criterion: c.ID}
	var parts []string
	var kept []Need
	for _, a := range alts {
		if onlyBlocked && !a.blocked {
			continue
		}
		var texts []string
		for _, x := range a.needs {
			if x.unreadable {
				if !hasNeed(kept, x.Text) {
					kept = append(kept, Need{Criterion: c.ID, Text: x.Text, LinkIDs: x.LinkIDs, unreadable: true})
				}
				continue
			}
			texts = append(texts, x.Text)
			n.LinkIDs = appendUnique(n.LinkIDs, x.LinkIDs...)
		}
		switch len(texts) {
		case 0:
		case 1:
			// A nested choice is part of this one.
			parts = append(parts, strings.TrimPrefix(texts[0], "one of: "))
		default:
			parts = append(parts, strings.Join(texts, " and "))
		}
	}
	switch len(parts) {
	case 0:
		return kept
	case 1:
		n.Text = parts[0]
	default:
		n.Text = "one of: " + strings.Join(parts, "; or ")
	}
	return append([]Need{n}, kept...)
}

func hasNeed(ns []Need, text string) bool {
	for _, n := range ns {
		if n.Text == text {
			return true
		}
	}
	return false
}

func appendUnique(list []string, xs ...string) []string {
	for _, x := range xs {
		if x != "" && !slices.Contains(list, x) {
			list = append(list, x)
		}
	}
	return list
}

// check evaluates a leaf by its family (set when it was compiled).
func (e *evaluator) check(ck *Check) out { return ck.family.eval(e, ck) }

package rules

import (
	"math"
	"strconv"
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

type sinceText struct {
	w     Window
	start time.Time
	s     string
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
		if x != "" && !contains(list, x) {
			list = append(list, x)
		}
	}
	return list
}

// inWindow reports whether v is dated inside the window (and not after the
// as-of day). With no window every value counts, dated or not. An undated
// value that cannot be read counts inside every window: it may be the newest.
func (e *evaluator) inWindow(v *Value, w Window, start time.Time) bool {
	if v.Date.IsZero() {
		return w.IsZero() || !v.Readable()
	}
	if v.Date.After(e.asOf) {
		return false
	}
	return w.IsZero() || !v.Date.Before(start)
}

// window returns the cached start day and " dated on or after YYYY-MM-DD"
// text of a window (a policy uses a handful of windows).
func (e *evaluator) window(w Window) *sinceText {
	for i := range e.since {
		if e.since[i].w == w {
			return &e.since[i]
		}
	}
	st := w.Start(e.asOf)
	s := ""
	if !w.IsZero() {
		s = " dated on or after " + string(appendDate(nil, st))
	}
	e.since = append(e.since, sinceText{w: w, start: st, s: s})
	return &e.since[len(e.since)-1]
}

func (e *evaluator) sinceText(w Window) string { return e.window(w).s }
func (e *evaluator) start(w Window) time.Time  { return e.window(w).start }

func (e *evaluator) check(ck *Check) out {
	switch {
	case ck.Always != "":
		return out{res: NotMet, reason: "the policy does not cover this therapy"}
	case ck.Dose:
		return e.doseCheck()
	case ck.Attest != "":
		return e.attest(ck)
	case ck.info.Kind == KindAge:
		return e.age(ck)
	case ck.Op != "":
		return e.numeric(ck)
	case ck.Equals != "" || ck.In != nil:
		return e.coded(ck)
	}
	switch ck.Is {
	case IsPresent:
		return e.present(ck)
	case IsAbsent:
		return e.absent(ck)
	case IsUndocumented:
		return e.undocumented(ck)
	case IsNeverPositive:
		return e.neverPositive(ck)
	case IsPolicyDrug:
		return e.policyDrug(ck)
	default:
		return e.qualitative(ck)
	}
}

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

// problemLine names a value that cannot be read: `<Source> "<Text>" <Problem>`.
func problemLine(v *Value) string {
	s := v.Source
	if v.Text != "" {
		s += ` "` + v.Text + `"`
	}
	return strings.TrimSpace(s + " " + v.Problem)
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

// newest finds, among the fact's values inside the window, the newest date
// with a usable value, and a value that blocks dated on or after it (which
// makes any result unknown; an undated unreadable value always blocks).
// usable values on that date are then visited by the caller with sameDay.
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

func unreadable(v *Value, label string) string {
	if v.Problem == "" {
		return lower(label) + " in " + v.Source + " has no numeric value (" + fmtValue(*v) + ")"
	}
	return lower(label) + " in " + v.Source + " cannot be read: " + v.Problem
}

func hasNum(v *Value) bool      { return v.Readable() && v.HasNum }
func readable(v *Value) bool    { return v.Readable() }
func notReadable(v *Value) bool { return !v.Readable() }
func always(*Value) bool        { return true }

// numericValue reads titers reported only as "not detected" as below every dilution.
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
			return e.unreadableNeed(ck, unreadable(stuck, ck.info.Label), stuck)
		}
		// The lowest readable value meets the threshold: an unreadable one
		// can only be lower or higher, the lowest of all still meets it.
		res, reason := e.compare(ck, asNumber(ck, *low), "lowest ")
		if res != Met && stuck != nil {
			return e.unreadableNeed(ck, reason+"; but "+unreadable(stuck, ck.info.Label), stuck)
		}
		return e.compared(ck, res, reason, *low, e.evidence(low.Source))
	}
	best, found, blocker := e.newest(ck, usable, always)
	if blocker != nil {
		return e.unreadableNeed(ck, "latest "+unreadable(blocker, ck.info.Label), blocker)
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

// compared wraps a comparison; when the value on record cannot settle it (a
// range straddling the threshold, no reference range) it says what would.
func (e *evaluator) compared(ck *Check, res Result, reason string, v Value, evidence []string) out {
	o := out{res: res, reason: reason, evidence: evidence}
	if res == Unknown {
		what := " reported as an exact value (" + v.Source + " gives " + fmtValue(v) + ")"
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
	b = appendValue(b, v)
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
		b = append(b, unitSuffix(v.Unit)...)
		b = append(b, ')')
	} else {
		b = append(b, ' ')
		b = append(b, ck.limit...)
	}
	e.buf = b
	return res, string(b)
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

// unitNames are how UCUM units read in reasons.
var unitNames = map[string]string{
	"%": "%", "10*9/L": " × 10⁹/L", "[beth'U]/mL": " BU/mL", "/uL": "/µL", "{copies}/mL": " copies/mL",
	"[IU]/mL": " IU/mL", "{titer}": "",
}

func unitSuffix(u string) string {
	if u == "" {
		return ""
	}
	if n, ok := unitNames[u]; ok {
		return n
	}
	return " " + u
}

func fmtValue(v Value) string { return string(appendValue(nil, v)) }

func appendValue(b []byte, v Value) []byte {
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
	return append(b, unitSuffix(v.Unit)...)
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
				return NoFlag, fmtValue(*v) + " cannot be placed against the " + fmtNum(cutoff) + unitSuffix(ck.info.Unit) + " cutoff"
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
	return NoFlag, "the lab reads it " + v.Flag.String() + " but " + fmtValue(*v) + " reads " + num.String()
}

// detection is a value's reading as detected (Positive) or not detected
// (Negative): a number below the assay's limit ("<20") or 0 is not detected,
// any other number is; without a number the lab's own reading decides. A
// lab reading that contradicts the number is ambiguous (NoFlag with a note).
func detection(v *Value) (Flag, string) {
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
	return NoFlag, "the lab reads it " + detectedWord(v.Flag) + " but " + fmtValue(*v) + " reads " + detectedWord(num)
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

// readAs is the value's reading under the check.
func (e *evaluator) readAs(ck *Check, v *Value) (Flag, string) {
	if ck.Is == IsNotDetected {
		return detection(v)
	}
	return e.reading(ck, v)
}

func (e *evaluator) qualitative(ck *Check) out {
	if !e.anyInWindow(ck) {
		return e.noneOnRecord(ck)
	}
	best, found, blocker := e.newest(ck, readable, notReadable)
	if blocker != nil {
		return e.unreadableNeed(ck, "latest "+unreadable(blocker, ck.info.Label), blocker)
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
			return e.ambiguous(ck, ck.info.Label+" "+fmtValue(*v)+dated(*v)+": "+note, v, note)
		}
		if flag != NoFlag && f != flag {
			return e.conflict(ck, "conflicting "+lower(ck.info.Label)+" results"+dated(*v), flagged, v)
		}
		flag, flagged = f, v
	}
	b := append(e.buf[:0], ck.info.Label...)
	b = append(b, ' ')
	b = appendValue(b, *first)
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
			return out{res: NotMet, reason: ck.info.Label + " " + fmtValue(*v) + dated(*v) + " was positive", evidence: e.evidence(v.Source)}
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
		return e.ambiguous(ck, ck.info.Label+" "+fmtValue(*amb)+dated(*amb)+": "+ambNote, amb, ambNote)
	case stuck != nil:
		return e.unreadableNeed(ck, unreadable(stuck, ck.info.Label)+", so a positive cannot be ruled out", stuck)
	case len(neg) == 0:
		return e.unknown(ck, "no readable "+lower(ck.info.Label)+" on record")
	}
	return out{res: Met, reason: "no positive " + lower(ck.info.Label) + " on record (" + strconv.Itoa(len(neg)) + " negative)", evidence: e.evidence(neg...)}
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

func (e *evaluator) present(ck *Check) out {
	switch ck.info.Kind {
	case KindCondition, KindEvent:
		v, stuck := e.documented(ck)
		switch {
		case v != nil:
			return out{res: Met, reason: eventReason(ck, v), evidence: e.evidence(v.Source)}
		case stuck != nil:
			return e.unreadableNeed(ck, unreadable(stuck, ck.info.Label), stuck)
		}
		return e.noneOnRecord(ck)
	}
	best, found, blocker := e.newest(ck, readable, notReadable)
	if !found {
		if blocker != nil {
			return e.unreadableNeed(ck, unreadable(blocker, ck.info.Label), blocker)
		}
		return e.noneOnRecord(ck)
	}
	vals := e.f[ck.Fact]
	start := e.start(ck.Window)
	for i := range vals {
		v := &vals[i]
		if e.inWindow(v, ck.Window, start) && v.Readable() && v.Date.Equal(best) {
			return out{res: Met, reason: ck.info.Label + " " + fmtValue(*v) + dated(*v) + " on record", evidence: e.evidence(v.Source)}
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
		return e.unreadableNeed(ck, unreadable(stuck, ck.info.Label)+", so it cannot be ruled out", stuck)
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
		return e.unreadableNeed(ck, unreadable(stuck, ck.info.Label), stuck)
	}
	return out{res: Met, reason: e.texts(ck).noneReason}
}

func (e *evaluator) coded(ck *Check) out {
	usable := func(v *Value) bool { return v.Readable() && v.Code != "" && v.Code != "unknown" }
	best, found, blocker := e.newest(ck, usable, notReadable)
	if blocker != nil {
		return e.unreadableNeed(ck, "latest "+unreadable(blocker, ck.info.Label), blocker)
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
		if match == nil && (v.Code == ck.Equals || contains(ck.In, v.Code)) {
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

// policyDrug checks that the order names one of the policy's drugs. With no
// drug named on record it is met (the request is taken as for the policy's
// drug). Orders that name both a drug of the policy and another drug are
// ambiguous: which therapy is requested is for a person to say.
func (e *evaluator) policyDrug(ck *Check) out {
	vals := e.f[ck.Fact]
	var stuck, match *Value
	var others []string
	for i := range vals {
		v := &vals[i]
		if !v.Readable() {
			if stuck == nil {
				stuck = v
			}
			continue
		}
		if v.Code == "" {
			continue
		}
		if e.policyDrugName(v.Code) != "" {
			if match == nil {
				match = v
			}
			continue
		}
		others = appendUnique(others, v.Code)
	}
	var evidence []string
	for i := range vals {
		if vals[i].Code != "" {
			evidence = appendUnique(evidence, vals[i].Source)
		}
	}
	switch {
	case stuck != nil:
		return e.unreadableNeed(ck, unreadable(stuck, ck.info.Label), stuck)
	case match != nil && len(others) > 0:
		o := blocked("the record orders "+e.policyDrugName(match.Code)+" and "+strings.Join(others, " and "),
			"the drug requested — the record orders "+e.policyDrugName(match.Code)+" and "+strings.Join(others, " and ")+" ("+strings.Join(evidence, ", ")+")")
		o.evidence = evidence
		return o
	case match != nil:
		return out{res: Met, reason: "the order is for " + e.policyDrugName(match.Code), evidence: e.evidence(match.Source)}
	case len(others) == 0:
		return out{res: Met, reason: "no order on record names a drug (taken as a request for " + e.p.Drugs[0] + ")"}
	}
	return out{res: NotMet, reason: "the order is for " + strings.Join(others, " and ") + "; this policy covers " + strings.Join(e.p.Drugs, " and "), evidence: evidence}
}

// policyDrugName is the policy's spelling of drug, or "" when the policy does
// not cover it.
func (e *evaluator) policyDrugName(drug string) string {
	for _, d := range e.p.Drugs {
		if strings.EqualFold(drug, d) {
			return d
		}
	}
	return ""
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

// doseWeight is the body weight a dose is set from: the newest exact,
// readable weight inside the dose window. When the newest weight cannot set
// a dose, stuck says why: it cannot be read, it is a bound (">70 kg"), or
// the weights of that day disagree (other).
type doseWeight struct {
	w, stuck, other *Value
}

func (e *evaluator) weight() doseWeight {
	d := e.p.Dose
	if d == nil {
		return doseWeight{}
	}
	ck := &Check{Fact: "weight", Window: d.window}
	best, found, blocker := e.newest(ck, hasNum, always)
	if blocker != nil {
		return doseWeight{stuck: blocker}
	}
	if !found {
		return doseWeight{}
	}
	vals := e.f["weight"]
	start := e.start(d.window)
	var w *Value
	for i := range vals {
		v := &vals[i]
		if !e.inWindow(v, d.window, start) || !hasNum(v) || !v.Date.Equal(best) {
			continue
		}
		if w == nil {
			w = v
		} else if v.Num != w.Num || v.Comparator != w.Comparator {
			return doseWeight{stuck: w, other: v}
		}
	}
	if w.Comparator != "" {
		return doseWeight{stuck: w}
	}
	return doseWeight{w: w}
}

func (d *DoseRule) kit(kg float64) *KitRow {
	if d.kits == nil {
		return nil
	}
	r := math.Round(kg)
	for i, row := range d.kits.Rows {
		if r >= row.MinKg && r <= row.MaxKg {
			return &d.kits.Rows[i]
		}
	}
	return nil
}

func (e *evaluator) doseCheck() out {
	d := e.p.Dose
	dw := e.weight()
	since := e.sinceText(d.window)
	w := dw.w
	switch {
	case dw.other != nil:
		return blocked("conflicting body weights"+dated(*dw.stuck)+": "+fmtValue(*dw.stuck)+" ("+dw.stuck.Source+"), "+fmtValue(*dw.other)+" ("+dw.other.Source+")",
			"Body weight"+since+" — the weights"+dated(*dw.stuck)+" disagree ("+dw.stuck.Source+", "+dw.other.Source+")")
	case dw.stuck != nil && !dw.stuck.Readable():
		return blocked("latest "+unreadable(dw.stuck, "body weight"), problemLine(dw.stuck))
	case dw.stuck != nil && dw.stuck.HasNum:
		return blocked("body weight "+fmtValue(*dw.stuck)+dated(*dw.stuck)+" is not exact: it cannot set a dose",
			"Body weight"+since+" as an exact value ("+dw.stuck.Source+" gives "+fmtValue(*dw.stuck)+")")
	case dw.stuck != nil:
		return out{res: Unknown, blocked: true, reason: "latest " + unreadable(dw.stuck, "body weight"), needs: []Need{{Text: "Body weight" + since}}}
	case w == nil:
		return out{res: Unknown, reason: "no body weight" + since + " to dose by", needs: []Need{{Text: "Body weight" + since}}}
	}
	vg := d.VGPerKg * w.Num
	reason := fmtNum(d.VGPerKg) + " vg/kg × " + fmtNum(w.Num) + " kg = " + fmtNum(vg) + " vg (" + fmtNum(vg/d.VGPerML) + " mL)"
	if d.kits != nil {
		k := d.kit(w.Num)
		if k == nil {
			first, last := d.kits.Rows[0], d.kits.Rows[len(d.kits.Rows)-1]
			return out{res: Unknown, reason: "weight " + fmtNum(w.Num) + " kg is outside the kit table (" + fmtNum(first.MinKg) + "–" + fmtNum(last.MaxKg) + " kg): cannot be approved automatically",
				evidence: e.evidence(w.Source), needs: []Need{{Text: "manual dose review: weight outside the kit table"}}}
		}
		reason += "; kit of " + strconv.Itoa(k.Vials) + " vials, NDC " + k.NDC
	}
	return out{res: Met, reason: reason, evidence: e.evidence(w.Source)}
}

func (e *evaluator) dose() *Dose {
	w := e.weight().w
	if w == nil {
		return nil
	}
	d := e.p.Dose
	vg := d.VGPerKg * w.Num
	out := &Dose{WeightKg: round(w.Num, 2), VectorGenomes: vg, VolumeML: round(vg/d.VGPerML, 1)}
	if k := d.kit(w.Num); k != nil {
		out.Kit = &Kit{NDC: k.NDC, Vials: k.Vials}
	}
	return out
}

func round(x float64, places int) float64 {
	p := math.Pow(10, float64(places))
	return math.Round(x*p) / p
}

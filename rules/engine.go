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

type evaluator struct {
	p    *Policy
	f    Facts
	asOf time.Time
}

// out is what evaluating one node yields.
type out struct {
	res      Result
	reason   string
	evidence []string
	needs    []Need
}

// Evaluate decides policy p for the patient described by facts.
func Evaluate(p *Policy, facts Facts, opts ...EvalOption) *Determination {
	e := &evaluator{p: p, f: facts, asOf: dayOf(time.Now())}
	for _, o := range opts {
		o(e)
	}
	d := &Determination{
		Policy: p.ID, PolicyVersion: p.Version(), Title: p.Title, Drug: e.drug(),
		AsOf: e.asOf.Format("2006-01-02"), Review: p.Review, Missing: []string{},
	}
	if d.Review == "" {
		d.Review = "none"
	}
	if p.ApprovalDays > 0 {
		days := p.ApprovalDays
		d.ApprovalDays = &days
	}
	overall := Met
	notCovered := false
	for _, c := range p.Criteria {
		r, o := e.node(c)
		d.Criteria = append(d.Criteria, r)
		overall = and(overall, o.res)
		notCovered = notCovered || failsNotCovered(c, &r)
		d.Needs = append(d.Needs, o.needs...)
	}
	// The same document can answer several criteria (1.C and CNR.1 ask the
	// same question): list it once, under the first criterion that needs it.
	seen := map[string]bool{}
	for _, n := range d.Needs {
		if !seen[n.Text] {
			seen[n.Text] = true
			d.Missing = append(d.Missing, n.Criterion+": "+n.Text)
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

func (e *evaluator) node(c *Criterion) (CriterionResult, out) {
	r := CriterionResult{ID: c.ID, Text: c.Text, Citation: c.Citation, Evidence: []string{}, Children: []CriterionResult{}, Op: c.Op}
	var o out
	if c.Op == "check" {
		o = e.check(c.Check)
		if o.res == Unknown && len(o.needs) > 0 {
			// A criterion-level need replaces the generated one, but a value
			// that could not be read keeps its explanation.
			need := o.needs[0].Text
			if c.Need != "" && !o.needs[0].unreadable {
				need = c.Need
			}
			o.needs = []Need{{Criterion: c.ID, Text: need, LinkIDs: o.needs[0].LinkIDs}}
		} else {
			o.needs = nil
		}
	} else {
		o = e.composite(c, &r)
	}
	r.Result, r.Reason = o.res, o.reason
	if o.evidence != nil {
		r.Evidence = o.evidence
	}
	return r, o
}

func (e *evaluator) composite(c *Criterion, r *CriterionResult) out {
	var met, notMet, unknown []string
	var evidence []string
	var childNeeds [][]Need
	for _, ch := range c.Children {
		cr, co := e.node(ch)
		r.Children = append(r.Children, cr)
		evidence = appendUnique(evidence, cr.Evidence...)
		switch co.res {
		case Met:
			met = append(met, ch.Label)
		case NotMet:
			notMet = append(notMet, ch.Label)
		default:
			unknown = append(unknown, ch.Label)
			childNeeds = append(childNeeds, co.needs)
		}
	}
	o := out{evidence: evidence}
	switch c.Op {
	case "all":
		switch {
		case len(notMet) > 0:
			o.res, o.reason = NotMet, "not met: "+strings.Join(notMet, ", ")
		case len(unknown) > 0:
			o.res, o.reason = Unknown, "not yet known: "+strings.Join(unknown, ", ")
		default:
			o.res, o.reason = Met, "all met"
		}
		if o.res == Unknown {
			for _, ns := range childNeeds {
				o.needs = append(o.needs, ns...)
			}
		}
	case "any":
		switch {
		case len(met) > 0:
			o.res, o.reason = Met, "met by "+strings.Join(met, ", ")
		case len(unknown) > 0:
			o.res, o.reason = Unknown, "none met yet; not yet known: "+strings.Join(unknown, ", ")
		default:
			o.res, o.reason = NotMet, "none met"
		}
	case "screen":
		switch {
		case len(notMet) > 0:
			o.res, o.reason = NotMet, "evidence against: "+strings.Join(notMet, ", ")
		case len(met) > 0:
			o.res, o.reason = Met, "ruled out by "+strings.Join(met, ", ")
		default:
			o.res, o.reason = Unknown, "nothing on record rules it out"
		}
	case "not":
		switch r.Children[0].Result {
		case Met:
			o.res, o.reason = NotMet, r.Children[0].ID+" is met"
		case NotMet:
			o.res, o.reason = Met, r.Children[0].ID+" is not met"
		default:
			o.res, o.reason = Unknown, r.Children[0].ID+" is not yet known"
			o.needs = childNeeds[0]
		}
	}
	if o.res == Unknown && (c.Op == "any" || c.Op == "screen") {
		o.needs = []Need{oneOf(c, childNeeds)}
	}
	if o.res == Unknown && c.Need != "" {
		links := []string{}
		for _, n := range o.needs {
			links = appendUnique(links, n.LinkIDs...)
		}
		o.needs = []Need{{Criterion: c.ID, Text: c.Need, LinkIDs: links}}
	}
	return o
}

// oneOf merges the needs of alternatives into one: any of them would do.
func oneOf(c *Criterion, alts [][]Need) Need {
	n := Need{Criterion: c.ID}
	var parts []string
	for _, ns := range alts {
		var texts []string
		for _, x := range ns {
			texts = append(texts, x.Text)
			n.LinkIDs = appendUnique(n.LinkIDs, x.LinkIDs...)
		}
		if len(texts) > 0 {
			parts = append(parts, strings.Join(texts, " and "))
		}
	}
	if len(parts) == 1 {
		n.Text = parts[0]
	} else {
		n.Text = "one of: " + strings.Join(parts, "; or ")
	}
	return n
}

func appendUnique(list []string, xs ...string) []string {
	for _, x := range xs {
		if x != "" && !contains(list, x) {
			list = append(list, x)
		}
	}
	return list
}

// inWindow returns the fact's values dated inside the window (and not after the
// as-of day). With no window every value counts, dated or not.
func (e *evaluator) inWindow(fact string, w Window) []Value {
	vals := e.f[fact]
	if len(vals) == 0 {
		return nil
	}
	start := w.Start(e.asOf)
	bounded := !w.IsZero()
	var in []Value
	for _, v := range vals {
		if !v.Date.IsZero() && v.Date.After(e.asOf) {
			continue
		}
		if bounded && (v.Date.IsZero() || v.Date.Before(start)) {
			continue
		}
		in = append(in, v)
	}
	return in
}

func (e *evaluator) since(w Window) string {
	if w.IsZero() {
		return ""
	}
	return " dated on or after " + w.Start(e.asOf).Format("2006-01-02")
}

func (e *evaluator) check(ck *Check) out {
	switch {
	case ck.Always != "":
		return out{res: NotMet, reason: "the policy does not cover this therapy"}
	case ck.Dose:
		return e.doseCheck()
	case ck.Attest != "":
		return e.attest(ck)
	case ck.info.Kind == "age":
		return e.age(ck)
	case ck.Op != "":
		return e.numeric(ck)
	case ck.Equals != "" || ck.In != nil:
		return e.coded(ck)
	}
	switch ck.Is {
	case "present":
		return e.present(ck)
	case "absent":
		return e.absent(ck)
	case "never-positive":
		return e.neverPositive(ck)
	default:
		return e.qualitative(ck)
	}
}

func (e *evaluator) unknown(ck *Check, reason string) out {
	need := ck.info.Label + e.since(ck.Window)
	return out{res: Unknown, reason: reason, needs: []Need{{Text: need}}}
}

// unreadableNeed asks for a value again because the one on record cannot be read.
func (e *evaluator) unreadableNeed(ck *Check, reason string, v *Value) out {
	need := ck.info.Label + e.since(ck.Window) + " in a readable form (" + v.Source + ": " + v.Problem + ")"
	return out{res: Unknown, reason: reason, needs: []Need{{Text: need, unreadable: true}}}
}

func (e *evaluator) noneOnRecord(ck *Check) out {
	if ck.Window.IsZero() {
		return e.unknown(ck, "no "+lower(ck.info.Label)+" on record")
	}
	return e.unknown(ck, "no "+lower(ck.info.Label)+e.since(ck.Window))
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

// latest returns the readable values on the newest date that has one, and the
// newest unreadable value if it is newer still (which makes the result unknown).
func latest(vals []Value, usable func(Value) bool) (newest []Value, blocker *Value) {
	var best time.Time
	found := false
	for _, v := range vals {
		if !usable(v) {
			continue
		}
		switch {
		case !found || v.Date.After(best):
			best, found, newest = v.Date, true, []Value{v}
		case v.Date.Equal(best):
			newest = append(newest, v)
		}
	}
	for i, v := range vals {
		if !usable(v) && (!found || v.Date.After(best)) && (blocker == nil || v.Date.After(blocker.Date)) {
			blocker = &vals[i]
		}
	}
	return newest, blocker
}

func unreadable(v *Value, label string) string {
	return lower(label) + " in " + v.Source + " cannot be read: " + v.Problem
}

func hasNum(v Value) bool { return v.Readable() && v.HasNum }

func (e *evaluator) numeric(ck *Check) out {
	vals := e.inWindow(ck.Fact, ck.Window)
	if len(vals) == 0 {
		return e.noneOnRecord(ck)
	}
	if ck.Select == "lowest" {
		var low *Value
		var blocked *Value
		for i, v := range vals {
			if !hasNum(v) {
				blocked = &vals[i]
				continue
			}
			if low == nil || v.Num < low.Num || (v.Num == low.Num && v.Date.After(low.Date)) {
				low = &vals[i]
			}
		}
		if low == nil {
			return e.unreadableNeed(ck, unreadable(blocked, ck.info.Label), blocked)
		}
		res, reason := e.compare(ck, *low, "lowest ")
		if res != Met && blocked != nil {
			return e.unreadableNeed(ck, reason+"; but "+unreadable(blocked, ck.info.Label), blocked)
		}
		return out{res: res, reason: reason, evidence: []string{low.Source}}
	}
	newest, blocker := latest(vals, hasNum)
	if blocker != nil {
		return e.unreadableNeed(ck, "latest "+unreadable(blocker, ck.info.Label), blocker)
	}
	res, reason := e.compare(ck, newest[0], "")
	evidence := []string{newest[0].Source}
	for _, v := range newest[1:] {
		r2, reason2 := e.compare(ck, v, "")
		evidence = appendUnique(evidence, v.Source)
		if r2 != res {
			return e.unknown(ck, "conflicting results on "+v.Date.Format("2006-01-02")+": "+reason+"; "+reason2)
		}
	}
	return out{res: res, reason: reason, evidence: evidence}
}

// compare tests one value against the check's threshold. A value reported with a
// comparator ("<0.3") stands for a range and is met only if the whole range is.
func (e *evaluator) compare(ck *Check, v Value, prefix string) (Result, string) {
	label := ck.info.Label
	t := 0.0
	limit := ""
	if ck.ULN > 0 {
		if v.ULN <= 0 {
			return Unknown, prefix + label + " " + fmtValue(v) + dated(v) + " has no upper limit of normal (reference range) to compare with"
		}
		t = ck.ULN * v.ULN
		limit = fmtNum(ck.ULN) + " × ULN (" + fmtNum(t) + unitSuffix(v.Unit) + ")"
	} else {
		t = *ck.Value
		limit = fmtNum(t) + unitSuffix(ck.info.Unit)
	}
	res := compareRange(v, ck.Op, t)
	var verb string
	switch res {
	case Met:
		verb = " is " + opText[ck.Op] + " "
	case NotMet:
		verb = " is not " + opText[ck.Op] + " "
	default:
		verb = " cannot be compared with " + opText[ck.Op] + " "
	}
	return res, prefix + label + " " + fmtValue(v) + dated(v) + verb + limit
}

var opText = map[string]string{"<": "<", "<=": "≤", ">": ">", ">=": "≥"}

// compareRange decides "value op t" for a value that may carry a comparator.
func compareRange(v Value, op string, t float64) Result {
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
	case "<=":
		all, none = hi <= t, lo > t || (loOpen && lo >= t)
	case "<":
		all, none = hi < t || (hiOpen && hi <= t), lo >= t
	case ">=":
		all, none = lo >= t, hi < t || (hiOpen && hi <= t)
	case ">":
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

func dated(v Value) string {
	if v.Date.IsZero() {
		return ""
	}
	return " on " + v.Date.Format("2006-01-02")
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

func fmtValue(v Value) string {
	if !v.HasNum {
		if v.Flag != NoFlag {
			return v.Flag.String()
		}
		return v.Code
	}
	if v.Unit == "{titer}" {
		return v.Comparator + "1:" + fmtNum(v.Num)
	}
	return v.Comparator + fmtNum(v.Num) + unitSuffix(v.Unit)
}

func fmtNum(x float64) string {
	ax := math.Abs(x)
	switch {
	case ax >= 1e6 || (ax > 0 && ax < 0.001):
		return strconv.FormatFloat(x, 'g', 4, 64)
	case ax < 1:
		return strconv.FormatFloat(math.Round(x*1000)/1000, 'f', -1, 64)
	}
	return strconv.FormatFloat(math.Round(x*100)/100, 'f', -1, 64)
}

func (e *evaluator) age(ck *Check) out {
	births, blocker := latest(e.f["birth_date"], func(v Value) bool { return v.Readable() && !v.Date.IsZero() })
	if blocker != nil || len(births) == 0 {
		return out{res: Unknown, reason: "no date of birth on record", needs: []Need{{Text: "Date of birth"}}}
	}
	b := births[0].Date
	years := e.asOf.Year() - b.Year()
	if e.asOf.Month() < b.Month() || (e.asOf.Month() == b.Month() && e.asOf.Day() < b.Day()) {
		years--
	}
	v := Value{Num: float64(years), HasNum: true}
	res := compareRange(v, ck.Op, *ck.Value)
	verb := " is "
	if res != Met {
		verb = " is not "
	}
	return out{res: res, reason: "age " + strconv.Itoa(years) + " on " + e.asOf.Format("2006-01-02") + verb + opText[ck.Op] + " " + fmtNum(*ck.Value),
		evidence: []string{births[0].Source}}
}

// reading is a value's qualitative reading under the check: its own flag
// (interpretation or coded result) and, for numbers, the cutoff. When the two
// disagree the reading is ambiguous (NoFlag with a note).
func (e *evaluator) reading(ck *Check, v Value) (Flag, string) {
	num := NoFlag
	if v.HasNum {
		cutoff := ck.info.PositiveAt
		if ck.Cutoff != nil {
			cutoff = *ck.Cutoff
		}
		switch {
		case cutoff > 0:
			switch compareRange(v, "<", cutoff) {
			case Met:
				num = Negative
			case NotMet:
				num = Positive
			default:
				return NoFlag, fmtValue(v) + " cannot be placed against the " + fmtNum(cutoff) + unitSuffix(ck.info.Unit) + " cutoff"
			}
		case ck.info.Kind == "titer":
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
	return NoFlag, "the lab reads it " + v.Flag.String() + " but " + fmtValue(v) + " reads " + num.String()
}

func readable(v Value) bool { return v.Readable() }

func (e *evaluator) qualitative(ck *Check) out {
	vals := e.inWindow(ck.Fact, ck.Window)
	if len(vals) == 0 {
		return e.noneOnRecord(ck)
	}
	newest, blocker := latest(vals, readable)
	if blocker != nil {
		return e.unreadableNeed(ck, "latest "+unreadable(blocker, ck.info.Label), blocker)
	}
	var flag Flag
	evidence := []string{}
	for _, v := range newest {
		f, note := e.reading(ck, v)
		evidence = appendUnique(evidence, v.Source)
		if f == NoFlag {
			if note == "" {
				note = "the result is neither positive nor negative"
			}
			return e.unknown(ck, ck.info.Label+" "+fmtValue(v)+dated(v)+": "+note)
		}
		if flag != NoFlag && f != flag {
			return e.unknown(ck, "conflicting "+lower(ck.info.Label)+" results"+dated(v))
		}
		flag = f
	}
	v := newest[0]
	desc := ck.info.Label + " " + fmtValue(v) + dated(v) + " reads " + flag.String()
	want := Negative
	if ck.Is == "positive" {
		want = Positive
	}
	if flag == want {
		return out{res: Met, reason: desc, evidence: evidence}
	}
	if ck.OnPositive == "unknown" {
		// Documented and positive: asking for it again helps nobody; another
		// alternative of the screen must settle it.
		return out{res: Unknown, reason: desc + ", which alone does not rule it out", evidence: evidence}
	}
	return out{res: NotMet, reason: desc, evidence: evidence}
}

func (e *evaluator) neverPositive(ck *Check) out {
	vals := e.inWindow(ck.Fact, ck.Window)
	var neg []string
	for _, v := range vals {
		if !v.Readable() {
			continue
		}
		f, _ := e.reading(ck, v)
		switch f {
		case Positive:
			return out{res: NotMet, reason: ck.info.Label + " " + fmtValue(v) + dated(v) + " was positive", evidence: []string{v.Source}}
		case Negative:
			neg = append(neg, v.Source)
		}
	}
	if len(neg) == 0 {
		return e.unknown(ck, "no readable "+lower(ck.info.Label)+" on record")
	}
	return out{res: Met, reason: "no positive " + lower(ck.info.Label) + " on record (" + strconv.Itoa(len(neg)) + " negative)", evidence: neg}
}

// positiveEvent reports the newest active diagnosis, event or positive result.
func (e *evaluator) positiveEvent(ck *Check) *Value {
	var best *Value
	vals := e.inWindow(ck.Fact, ck.Window)
	for i, v := range vals {
		if v.Readable() && v.Flag == Positive && (best == nil || v.Date.After(best.Date)) {
			best = &vals[i]
		}
	}
	return best
}

func (e *evaluator) present(ck *Check) out {
	switch ck.info.Kind {
	case "condition", "event":
		if v := e.positiveEvent(ck); v != nil {
			return out{res: Met, reason: ck.info.Label + dated(*v), evidence: []string{v.Source}}
		}
		return e.noneOnRecord(ck)
	}
	vals := e.inWindow(ck.Fact, ck.Window)
	newest, blocker := latest(vals, readable)
	if len(newest) == 0 {
		if blocker != nil {
			return e.unreadableNeed(ck, unreadable(blocker, ck.info.Label), blocker)
		}
		return e.noneOnRecord(ck)
	}
	v := newest[0]
	return out{res: Met, reason: ck.info.Label + " " + fmtValue(v) + dated(v) + " on record", evidence: []string{v.Source}}
}

func (e *evaluator) absent(ck *Check) out {
	if v := e.positiveEvent(ck); v != nil {
		return out{res: NotMet, reason: ck.info.Label + dated(*v), evidence: []string{v.Source}}
	}
	return out{res: Unknown, reason: "no " + lower(ck.info.Label) + " on record (absence alone does not rule it out)"}
}

func (e *evaluator) coded(ck *Check) out {
	vals := e.inWindow(ck.Fact, ck.Window)
	newest, _ := latest(vals, func(v Value) bool { return v.Readable() && v.Code != "" && v.Code != "unknown" })
	if len(newest) == 0 {
		return e.noneOnRecord(ck)
	}
	var codes, evidence []string
	for _, v := range newest {
		codes = appendUnique(codes, v.Code)
		evidence = appendUnique(evidence, v.Source)
		if v.Code == ck.Equals || contains(ck.In, v.Code) {
			return out{res: Met, reason: ck.info.Label + " is " + v.Code, evidence: []string{v.Source}}
		}
	}
	return out{res: NotMet, reason: ck.info.Label + " is " + strings.Join(codes, ", "), evidence: evidence}
}

func (e *evaluator) attest(ck *Check) out {
	want := ck.Is == "true"
	for _, ev := range ck.Evidence {
		if o := e.check(ev); o.res == Met {
			res, verb := NotMet, "contradicts"
			if want {
				res, verb = Met, "documents"
			}
			return out{res: res, reason: "structured evidence " + verb + " it: " + o.reason, evidence: o.evidence}
		}
	}
	vals, _ := latest(e.f[AttestationFact(ck.Attest)], func(v Value) bool { return v.Readable() && v.Flag != NoFlag })
	if len(vals) == 0 {
		return out{res: Unknown, reason: "no prescriber attestation",
			needs: []Need{{Text: "prescriber attestation (" + ck.Attest + "): " + strings.TrimPrefix(ck.info.Label, "Prescriber attestation: "), LinkIDs: []string{ck.Attest}}}}
	}
	v := vals[0]
	answer := v.Flag == Positive
	word := map[bool]string{true: "yes", false: "no"}[answer]
	if answer == want {
		return out{res: Met, reason: "prescriber attests " + word, evidence: []string{v.Source}}
	}
	return out{res: NotMet, reason: "prescriber attests " + word, evidence: []string{v.Source}}
}

// weight returns the newest readable body weight inside the dose window.
func (e *evaluator) weight() (*Value, *Value) {
	d := e.p.Dose
	if d == nil {
		return nil, nil
	}
	newest, blocker := latest(e.inWindow("weight", d.window), hasNum)
	if len(newest) == 0 {
		return nil, blocker
	}
	return &newest[0], blocker
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
	w, blocker := e.weight()
	need := []Need{{Text: "Body weight" + e.since(d.window)}}
	switch {
	case blocker != nil:
		return out{res: Unknown, reason: "latest " + unreadable(blocker, "body weight"), needs: need}
	case w == nil:
		return out{res: Unknown, reason: "no body weight" + e.since(d.window) + " to dose by", needs: need}
	}
	vg := d.VGPerKg * w.Num
	reason := fmtNum(d.VGPerKg) + " vg/kg × " + fmtNum(w.Num) + " kg = " + fmtNum(vg) + " vg (" + fmtNum(vg/d.VGPerML) + " mL)"
	if d.kits != nil {
		k := d.kit(w.Num)
		if k == nil {
			first, last := d.kits.Rows[0], d.kits.Rows[len(d.kits.Rows)-1]
			return out{res: Unknown, reason: "weight " + fmtNum(w.Num) + " kg is outside the kit table (" + fmtNum(first.MinKg) + "–" + fmtNum(last.MaxKg) + " kg): cannot be approved automatically",
				evidence: []string{w.Source}, needs: []Need{{Text: "manual dose review: weight outside the kit table"}}}
		}
		reason += "; kit of " + strconv.Itoa(k.Vials) + " vials, NDC " + k.NDC
	}
	return out{res: Met, reason: reason, evidence: []string{w.Source}}
}

func (e *evaluator) dose() *Dose {
	w, _ := e.weight()
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

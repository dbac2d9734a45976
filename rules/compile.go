package rules

import (
	"fmt"
	"strconv"
	"time"

	"gopkg.in/yaml.v3"
)

func (c *Catalog) compile(file string, data []byte) (*Policy, []error) {
	l := &lintErrs{file: file}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, []error{fmt.Errorf("%s: %w", file, err)}
	}
	if len(doc.Content) == 0 {
		return nil, []error{fmt.Errorf("%s:1: empty policy file", file)}
	}
	root := doc.Content[0]
	l.checkKeys(root, "policy", "id", "title", "payer", "drugs", "source", "effective", "revised",
		"approval_days", "review", "dose", "criteria", "notes")
	p := &Policy{
		ID: str(field(root, "id")), Title: str(field(root, "title")), Payer: str(field(root, "payer")),
		Source: str(field(root, "source")), Effective: str(field(root, "effective")),
		Revised: str(field(root, "revised")), Review: str(field(root, "review")), File: file,
		units: c.units,
	}
	if p.ID == "" {
		l.add(root.Line, "policy has no id")
	}
	for _, d := range []struct{ name, v string }{{"effective", p.Effective}, {"revised", p.Revised}} {
		if _, err := time.Parse("2006-01-02", d.v); err != nil {
			l.add(root.Line, "%s date %q is not YYYY-MM-DD", d.name, d.v)
		}
	}
	if n := field(root, "drugs"); n != nil {
		if err := n.Decode(&p.Drugs); err != nil || len(p.Drugs) == 0 {
			l.add(n.Line, "drugs must be a non-empty list")
		}
	} else {
		l.add(root.Line, "policy has no drugs")
	}
	if n := field(root, "approval_days"); n != nil {
		if err := n.Decode(&p.ApprovalDays); err != nil || p.ApprovalDays < 0 {
			l.add(n.Line, "approval_days must be a whole number of days")
		}
	}
	if n := field(root, "dose"); n != nil {
		p.Dose = c.compileDose(l, n)
	}
	crit := field(root, "criteria")
	if crit == nil || crit.Kind != yaml.SequenceNode || len(crit.Content) == 0 {
		l.add(root.Line, "policy has no criteria")
		return p, l.errs
	}
	ids := map[string]int{}
	defer func() { p.nodes = len(ids) }()
	for _, n := range crit.Content {
		if cr := c.compileCriterion(l, n, "", ids, p); cr != nil {
			p.Criteria = append(p.Criteria, cr)
		}
	}
	// Every policy carries the record guards (the patient is alive, the order
	// is for the policy's drug); their problems are reported against
	// record.yaml, a clash of ids against the policy.
	rl := &lintErrs{file: c.recordFile}
	for _, n := range c.record.Content {
		if id := str(field(n, "id")); id != "" {
			if prev, dup := ids[id]; dup {
				l.add(prev, "criterion id %q is taken by the record guards (%s:%d)", id, c.recordFile, n.Line)
				delete(ids, id)
			}
		}
		if cr := c.compileCriterion(rl, n, "", ids, p); cr != nil {
			p.Criteria = append(p.Criteria, cr)
		}
	}
	l.errs = append(l.errs, rl.errs...)
	return p, l.errs
}

func (c *Catalog) compileCriterion(l *lintErrs, n *yaml.Node, parent string, ids map[string]int, p *Policy) *Criterion {
	l.checkKeys(n, "criterion", "id", "text", "citation", "documentation", "need", "on_fail",
		"all", "any", "not", "screen", "check", "note")
	cr := &Criterion{
		Label: str(field(n, "id")), Text: str(field(n, "text")), Citation: str(field(n, "citation")),
		Documentation: str(field(n, "documentation")), Need: str(field(n, "need")), Line: n.Line, OnFail: Deny,
	}
	if cr.Label == "" {
		l.add(n.Line, "criterion has no id")
	}
	cr.ID = cr.Label
	if parent != "" {
		cr.ID = parent + "." + cr.Label
	}
	if prev, dup := ids[cr.ID]; dup {
		l.add(n.Line, "duplicate criterion id %q (first at line %d)", cr.ID, prev)
	} else {
		ids[cr.ID] = n.Line
	}
	if cr.Text == "" {
		l.add(n.Line, "criterion %s has no text", cr.ID)
	}
	if cr.Citation == "" {
		l.add(n.Line, "criterion %s has no citation", cr.ID)
	}
	switch cr.Documentation {
	case "", "required", "verification", "claims", "attestation", "none":
	default:
		l.add(n.Line, "criterion %s: documentation %q is not one of required, verification, claims, attestation, none", cr.ID, cr.Documentation)
	}
	switch f := str(field(n, "on_fail")); f {
	case "", "deny":
	case "not-covered":
		cr.OnFail = NotCovered
	case "unknown":
		cr.OnFail = Pend
		if cr.Need == "" {
			l.add(n.Line, "criterion %s: on_fail: unknown needs a need: saying what to confirm", cr.ID)
		}
	default:
		l.add(n.Line, "criterion %s: on_fail %q is not deny, not-covered or unknown", cr.ID, f)
	}
	ops := 0
	for _, op := range criterionOps {
		v := field(n, string(op))
		if v == nil {
			continue
		}
		ops++
		cr.Op = op
		switch op {
		case OpCheck:
			cc := &checkCompiler{c: c, p: p, l: l, id: cr.ID, line: n.Line}
			cr.Check = cc.check(v)
		case OpNot:
			if ch := c.compileCriterion(l, v, cr.ID, ids, p); ch != nil {
				cr.Children = []*Criterion{ch}
			}
		default:
			if v.Kind != yaml.SequenceNode || len(v.Content) == 0 {
				l.add(v.Line, "criterion %s: %s needs a list of criteria", cr.ID, op)
				continue
			}
			for _, cn := range v.Content {
				if ch := c.compileCriterion(l, cn, cr.ID, ids, p); ch != nil {
					cr.Children = append(cr.Children, ch)
				}
			}
		}
	}
	if ops != 1 {
		l.add(n.Line, "criterion %s needs exactly one of all, any, screen, not, check", cr.ID)
	}
	if len(cr.Children) > maxChildren {
		l.add(n.Line, "criterion %s has %d children (at most %d)", cr.ID, len(cr.Children), maxChildren)
		cr.Children = cr.Children[:maxChildren]
	}
	for _, ch := range cr.Children {
		prefix := reasonPrefixes[cr.Op]
		cr.metBy = append(cr.metBy, prefix[0]+ch.Label)
		cr.notMetBy = append(cr.notMetBy, prefix[1]+ch.Label)
		cr.unknownBy = append(cr.unknownBy, prefix[2]+ch.Label)
		cr.blockedBy = append(cr.blockedBy, prefix[3]+ch.Label)
	}
	cr.canFail = canFail(cr)
	return cr
}

// canFail reports whether c can come out not met.
func canFail(c *Criterion) bool {
	if c.OnFail == Pend {
		return false
	}
	switch c.Op {
	case OpCheck:
		return c.Check == nil || c.Check.OnPositive != PositiveUnknown
	case OpAny:
		for _, ch := range c.Children {
			if !ch.canFail {
				return false
			}
		}
		return len(c.Children) > 0
	case OpAll, OpScreen:
		for _, ch := range c.Children {
			if ch.canFail {
				return true
			}
		}
		return false
	}
	return true
}

// checkCompiler compiles the checks of one criterion: the catalog and policy
// they read, where errors go, the criterion's id and line.
type checkCompiler struct {
	c    *Catalog
	p    *Policy
	l    *lintErrs
	id   string
	line int
}

// errorf reports a problem of the criterion's check at line.
func (cc *checkCompiler) errorf(line int, format string, args ...any) {
	cc.l.add(line, "criterion %s: %s", cc.id, fmt.Sprintf(format, args...))
}

// check compiles a check node: the rules every check follows here, then its
// family's own compile step; the check keeps its family for evaluation.
func (cc *checkCompiler) check(n *yaml.Node) *Check {
	cc.l.checkKeys(n, "check", "fact", "attest", "evidence", "window", "select", "op", "value", "uln",
		"is", "on_positive", "ever", "cutoff", "equals", "in", "dose", "always")
	ck := &Check{Fact: str(field(n, "fact")), Attest: str(field(n, "attest")), Select: Select(str(field(n, "select"))),
		Op: Comparison(str(field(n, "op"))), Is: Is(str(field(n, "is"))), OnPositive: str(field(n, "on_positive")),
		Equals: str(field(n, "equals")), Always: str(field(n, "always")), Line: n.Line}
	if w := field(n, "window"); w != nil {
		win, err := ParseWindow(w.Value)
		if err != nil {
			cc.errorf(w.Line, "%v", err)
		}
		ck.Window = win
	}
	num := func(key string) *float64 {
		v := field(n, key)
		if v == nil {
			return nil
		}
		f, err := strconv.ParseFloat(v.Value, 64)
		if err != nil {
			cc.errorf(v.Line, "%s %q is not a number", key, v.Value)
			return nil
		}
		return &f
	}
	ck.Value = num("value")
	defer ck.prepare(cc.c.units)
	if u := num("uln"); u != nil {
		ck.ULN = *u
	}
	ck.Cutoff = num("cutoff")
	if v := field(n, "in"); v != nil {
		if err := v.Decode(&ck.In); err != nil {
			cc.errorf(v.Line, "in must be a list")
		}
	}
	flag := func(key string) bool {
		v := field(n, key)
		if v == nil {
			return false
		}
		if v.Value != "true" && v.Value != "false" {
			cc.errorf(v.Line, "%s must be true or false", key)
		}
		return v.Value == "true"
	}
	ck.Dose = flag("dose")
	ck.Ever = flag("ever")
	// A check that reads no fact is its key's family's alone.
	switch {
	case ck.Always != "":
		cc.compileWith(familyFor(testAlways, ""), ck, n)
		return ck
	case ck.Dose:
		cc.compileWith(familyFor(testDose, ""), ck, n)
		return ck
	case ck.Attest != "":
		cc.compileWith(familyFor(testAttest, ""), ck, n)
		return ck
	}
	cc.factCheck(ck, n)
	return ck
}

// factCheck compiles a check of a fact: it has one test (op, is or
// equals/in), and the family that answers that test for the fact's kind
// compiles and evaluates it.
func (cc *checkCompiler) factCheck(ck *Check, n *yaml.Node) {
	if field(n, "evidence") != nil {
		cc.errorf(n.Line, "evidence goes with attest")
	}
	ck.info = cc.c.Facts[ck.Fact]
	if ck.info == nil || ck.info.Kind == KindAttestation {
		cc.errorf(n.Line, "unknown fact %q", ck.Fact)
		return
	}
	kind := ck.info.Kind
	var found []*family
	tests := 0
	if ck.Op != "" {
		tests++
		if !ck.Op.valid() {
			cc.errorf(n.Line, "op %q is not one of <, <=, >, >=", ck.Op)
		}
		if (ck.Value == nil) == (ck.ULN == 0) {
			cc.errorf(n.Line, "op needs exactly one of value or uln")
		}
		if f := familyFor(testOp, kind); f != nil {
			found = append(found, f)
		} else {
			cc.errorf(n.Line, "fact %s (%s) is not numeric", ck.Fact, kind)
		}
	}
	if ck.Is != "" {
		tests++
		switch f := familyFor(isTest(ck.Is), kind); {
		case !answersIs(ck.Is):
			cc.errorf(n.Line, "is %q is not one of %s", ck.Is, isValues())
		case f == nil:
			cc.errorf(n.Line, "is %s does not apply to fact %s (%s)", ck.Is, ck.Fact, kind)
		default:
			found = append(found, f)
		}
	}
	if ck.OnPositive != "" && (ck.OnPositive != PositiveUnknown || (ck.Is != IsNegative && ck.Is != IsNotDetected && ck.Is != IsUndocumented)) {
		cc.errorf(n.Line, "on_positive: unknown goes only with is: negative, not-detected or undocumented")
	}
	if ck.Ever {
		if kind != KindCondition && kind != KindEvent {
			cc.errorf(n.Line, "ever applies to condition and event facts, %s is %s", ck.Fact, kind)
		} else if ck.Is != IsPresent && ck.Is != IsAbsent && ck.Is != IsUndocumented {
			cc.errorf(n.Line, "ever goes with is: present, absent or undocumented")
		}
	}
	if ck.Equals != "" || ck.In != nil {
		tests++
		if f := familyFor(testEquals, kind); f != nil {
			found = append(found, f)
		} else {
			cc.errorf(n.Line, "equals/in need a coded fact, %s is %s", ck.Fact, kind)
		}
	}
	if tests != 1 {
		cc.errorf(n.Line, "a check needs exactly one test (op, is, equals/in)")
	}
	switch ck.Select {
	case "", SelectLatest, SelectLowest:
	default:
		cc.errorf(n.Line, "select %q is not latest or lowest", ck.Select)
	}
	// A diagnosis stands until resolved, whenever it was made: it is read
	// over the whole record, whatever the test.
	if kind == KindCondition && !ck.Window.IsZero() {
		cc.errorf(n.Line, "a diagnosis check takes no window")
	}
	for _, f := range found {
		cc.compileWith(f, ck, n)
	}
}

// compileWith runs f's compile step on ck and makes f its family.
func (cc *checkCompiler) compileWith(f *family, ck *Check, n *yaml.Node) {
	if f.compile != nil {
		f.compile(cc, ck, n)
	}
	ck.family = f
}

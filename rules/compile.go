package rules

import (
	"fmt"
	"slices"
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
		l.checkKeys(n, "dose", "vg_per_kg", "vg_per_ml", "kits", "window", "citation")
		d := &DoseRule{}
		if err := n.Decode(d); err != nil {
			l.add(n.Line, "dose: %v", err)
		}
		if d.VGPerKg <= 0 || d.VGPerML <= 0 {
			l.add(n.Line, "dose needs positive vg_per_kg and vg_per_ml")
		}
		if d.Kits != "" {
			if d.kits = c.Kits[d.Kits]; d.kits == nil {
				l.add(n.Line, "unknown kit table %q", d.Kits)
			}
		}
		if d.Window != "" {
			w, err := ParseWindow(d.Window)
			if err != nil {
				l.add(n.Line, "dose: %v", err)
			}
			d.window = w
		}
		p.Dose = d
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
			cr.Check = c.compileCheck(l, v, cr.ID)
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
	if cr.Check != nil && cr.Check.Dose && p.Dose == nil {
		l.add(n.Line, "criterion %s checks the dose but the policy has no dose", cr.ID)
	}
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

func (c *Catalog) compileCheck(l *lintErrs, n *yaml.Node, id string) *Check {
	l.checkKeys(n, "check", "fact", "attest", "evidence", "window", "select", "op", "value", "uln",
		"is", "on_positive", "ever", "cutoff", "equals", "in", "dose", "always")
	ck := &Check{Fact: str(field(n, "fact")), Attest: str(field(n, "attest")), Select: Select(str(field(n, "select"))),
		Op: Comparison(str(field(n, "op"))), Is: Is(str(field(n, "is"))), OnPositive: str(field(n, "on_positive")),
		Equals: str(field(n, "equals")), Always: str(field(n, "always")), Line: n.Line}
	if w := field(n, "window"); w != nil {
		win, err := ParseWindow(w.Value)
		if err != nil {
			l.add(w.Line, "criterion %s: %v", id, err)
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
			l.add(v.Line, "criterion %s: %s %q is not a number", id, key, v.Value)
			return nil
		}
		return &f
	}
	ck.Value = num("value")
	defer func() {
		if ck.Value != nil && ck.info != nil {
			ck.limit = fmtNum(*ck.Value) + unitSuffix(ck.info.Unit)
		}
		if ck.info != nil {
			ck.none = "no " + lower(ck.info.Label)
		}
		ck.factKey = ck.Fact
		if ck.Attest != "" {
			ck.factKey = AttestationFact(ck.Attest)
		}
	}()
	if u := num("uln"); u != nil {
		ck.ULN = *u
	}
	ck.Cutoff = num("cutoff")
	if v := field(n, "in"); v != nil {
		if err := v.Decode(&ck.In); err != nil {
			l.add(v.Line, "criterion %s: in must be a list", id)
		}
	}
	flag := func(key string) bool {
		v := field(n, key)
		if v == nil {
			return false
		}
		if v.Value != "true" && v.Value != "false" {
			l.add(v.Line, "criterion %s: %s must be true or false", id, key)
		}
		return v.Value == "true"
	}
	ck.Dose = flag("dose")
	ck.Ever = flag("ever")
	switch {
	case ck.Always != "":
		if ck.Always != "not-met" {
			l.add(n.Line, "criterion %s: always must be not-met", id)
		}
		return ck
	case ck.Dose:
		if ck.Fact != "" {
			l.add(n.Line, "criterion %s: a dose check reads the policy's dose weight, not a fact", id)
		}
		return ck
	case ck.Attest != "":
		if ck.info = c.Facts[AttestationFact(ck.Attest)]; ck.info == nil {
			l.add(n.Line, "criterion %s: unknown attestation %q", id, ck.Attest)
		}
		if ck.Is != IsTrue && ck.Is != IsFalse {
			l.add(n.Line, "criterion %s: an attestation check needs is: true or is: false", id)
		}
		if ck.Ever || ck.OnPositive != "" {
			l.add(n.Line, "criterion %s: ever and on_positive go with a fact, not an attestation", id)
		}
		if ev := field(n, "evidence"); ev != nil {
			if ev.Kind != yaml.SequenceNode {
				l.add(ev.Line, "criterion %s: evidence must be a list of checks", id)
			} else {
				for _, en := range ev.Content {
					ck.Evidence = append(ck.Evidence, c.compileCheck(l, en, id))
				}
			}
		}
		return ck
	}
	if field(n, "evidence") != nil {
		l.add(n.Line, "criterion %s: evidence goes with attest", id)
	}
	ck.info = c.Facts[ck.Fact]
	if ck.info == nil || ck.info.Kind == KindAttestation {
		l.add(n.Line, "criterion %s: unknown fact %q", id, ck.Fact)
		return ck
	}
	kind := ck.info.Kind
	tests := 0
	if ck.Op != "" {
		tests++
		if !ck.Op.valid() {
			l.add(n.Line, "criterion %s: op %q is not one of <, <=, >, >=", id, ck.Op)
		}
		if (ck.Value == nil) == (ck.ULN == 0) {
			l.add(n.Line, "criterion %s: op needs exactly one of value or uln", id)
		}
		if !kind.numeric() {
			l.add(n.Line, "criterion %s: fact %s (%s) is not numeric", id, ck.Fact, kind)
		}
	}
	if ck.Is != "" {
		tests++
		valid := map[Is][]Kind{
			IsPresent:       {KindQuantity, KindTiter, KindResult, KindCondition, KindEvent, KindCode},
			IsAbsent:        {KindCondition, KindEvent},
			IsUndocumented:  {KindCondition, KindEvent},
			IsNegative:      {KindQuantity, KindTiter, KindResult},
			IsPositive:      {KindQuantity, KindTiter, KindResult},
			IsNotDetected:   {KindQuantity},
			IsNeverPositive: {KindQuantity, KindTiter, KindResult},
			IsPolicyDrug:    {KindCode},
		}[ck.Is]
		if valid == nil {
			l.add(n.Line, "criterion %s: is %q is not one of present, absent, undocumented, negative, positive, not-detected, never-positive, policy-drug", id, ck.Is)
		} else if !slices.Contains(valid, kind) {
			l.add(n.Line, "criterion %s: is %s does not apply to fact %s (%s)", id, ck.Is, ck.Fact, kind)
		}
		if (ck.Is == IsNegative || ck.Is == IsPositive || ck.Is == IsNeverPositive) && kind == KindQuantity &&
			ck.Cutoff == nil && ck.info.PositiveAt == 0 {
			l.add(n.Line, "criterion %s: fact %s has no positive_at; give a cutoff", id, ck.Fact)
		}
	}
	if ck.OnPositive != "" && (ck.OnPositive != PositiveUnknown || (ck.Is != IsNegative && ck.Is != IsNotDetected && ck.Is != IsUndocumented)) {
		l.add(n.Line, "criterion %s: on_positive: unknown goes only with is: negative, not-detected or undocumented", id)
	}
	if ck.Ever {
		if kind != KindCondition && kind != KindEvent {
			l.add(n.Line, "criterion %s: ever applies to condition and event facts, %s is %s", id, ck.Fact, kind)
		} else if ck.Is != IsPresent && ck.Is != IsAbsent && ck.Is != IsUndocumented {
			l.add(n.Line, "criterion %s: ever goes with is: present, absent or undocumented", id)
		}
	}
	if ck.Equals != "" || ck.In != nil {
		tests++
		if kind != KindCode {
			l.add(n.Line, "criterion %s: equals/in need a coded fact, %s is %s", id, ck.Fact, kind)
		}
	}
	if tests != 1 {
		l.add(n.Line, "criterion %s: a check needs exactly one test (op, is, equals/in)", id)
	}
	switch ck.Select {
	case "", SelectLatest, SelectLowest:
	default:
		l.add(n.Line, "criterion %s: select %q is not latest or lowest", id, ck.Select)
	}
	if kind == KindCondition && !ck.Window.IsZero() {
		l.add(n.Line, "criterion %s: a diagnosis check takes no window", id)
	}
	return ck
}

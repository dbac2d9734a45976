package rules

import (
	"io/fs"
	"regexp"
	"testing"
	"testing/fstest"
)

// lintMessage is how every lint error starts: the file it is about (the
// policy, or the built-in record guards it carries) and, where known, the line.
var lintMessage = regexp.MustCompile(`^(p\.yaml|rules/record\.yaml):(\d+:)? `)

// FuzzLint: the linter reads untrusted YAML (site policy directories). It
// never panics, every message names its file (and line), and what it accepts
// loads and evaluates, on an empty record and on a full one, without panicking.
func FuzzLint(f *testing.F) {
	names, err := fs.Glob(Builtin(), "policies/*.yaml")
	if err != nil || len(names) == 0 {
		f.Fatalf("built-in policies: %v %v", names, err)
	}
	for _, n := range names {
		b, err := fs.ReadFile(Builtin(), n)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	head := "id: t\ntitle: t\npayer: p\ndrugs: [Hemgenix]\nsource: s\neffective: 2026-01-01\nrevised: 2026-01-01\n"
	for _, s := range []string{
		"",
		"- a\n- b\n",
		"id: [\n",
		head,
		head + "criteria: []\n",
		head + "criteria:\n" + leaf(`{fact: nope, is: present}`),
		head + "criteria:\n" + leaf(`{fact: age, op: ">=", uln: 2}`),
		head + "criteria:\n" + leaf(`{attest: prior-gene-therapy, is: false, evidence: [{dose: true}]}`),
		head + "criteria:\n" + leaf(`{fact: platelets, window: 30d, op: ">=", value: 50, is: present}`),
		head + "criteria:\n  - id: x\n    text: t\n    citation: c\n    not:\n      id: y\n      text: t\n      citation: c\n      check: {fact: hiv, is: present}\n",
		head + "criteria:\n  - id: x\n    text: t\n    citation: c\n    screen:\n" + "      - {id: a, text: t, citation: c, check: {fact: anti_hcv, window: 12mo, is: negative, on_positive: unknown}}\n",
		head + "dose: {vg_per_kg: 2e13, vg_per_ml: 1e13, kits: hemgenix-table1, window: 30d}\ncriteria:\n" + leaf(`{dose: true}`),
		head + "dose: {vg_per_kg: 0, kits: nope, window: 3y}\ncriteria:\n" + leaf(`{always: not-met}`),
		head + "criteria:\n  - id: record\n    text: t\n    citation: c\n    check: {always: not-met}\n",
	} {
		f.Add([]byte(s))
	}
	full := benchFacts()
	f.Fuzz(func(t *testing.T, data []byte) {
		fsys := fstest.MapFS{"p.yaml": {Data: data}}
		errs := Lint(fsys)
		for _, e := range errs {
			if !lintMessage.MatchString(e.Error()) {
				t.Errorf("message without file and line: %q", e)
			}
		}
		if len(errs) > 0 {
			return
		}
		c, err := Load(fsys)
		if err != nil {
			t.Fatalf("lint accepts what load rejects: %v", err)
		}
		for _, p := range c.Policies {
			Evaluate(p, Facts{}, AsOf(asOf))
			Evaluate(p, full, AsOf(asOf))
		}
	})
}

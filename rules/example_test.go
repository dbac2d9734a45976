package rules_test

import (
	"fmt"
	"testing/fstest"
	"time"

	"hemopa/rules"
)

// Evaluate a policy against facts as mapping would produce them: a missing
// inhibitor titer makes criterion 1.F unknown, so the request pends with the
// exact document needed.
func ExampleEvaluate() {
	catalog, err := rules.Load(rules.Builtin())
	if err != nil {
		panic(err)
	}
	policy, err := catalog.Lookup("ucare-hemgenix")
	if err != nil {
		panic(err)
	}
	day := func(s string) time.Time { t, _ := time.Parse("2006-01-02", s); return t }
	facts := rules.Facts{
		"sex":        {{Code: "male", Source: "Patient/p1"}},
		"birth_date": {{Date: day("1989-03-14"), Source: "Patient/p1"}},
		"platelets":  {{Num: 38, HasNum: true, Unit: "10*9/L", Date: day("2026-11-10"), Source: "Observation/plt"}},
	}
	d := rules.Evaluate(policy, facts, rules.AsOf(day("2026-11-24")))
	fmt.Println(d.Decision)
	for _, c := range d.Criteria[0].Children {
		if c.ID == "1.K" || c.ID == "1.F" {
			fmt.Printf("%s %s: %s\n", c.ID, c.Result, c.Reason)
		}
	}
	// Output:
	// deny
	// 1.F unknown: not yet known: i, ii
	// 1.K not-met: Platelet count 38 × 10⁹/L on 2026-11-10 is not ≥ 50 × 10⁹/L
}

// Lint reports every problem in a policy directory as file:line: message;
// what lints clean is what Load accepts.
func ExampleLint() {
	site := fstest.MapFS{"acme.yaml": {Data: []byte(`id: acme
title: t
payer: p
drugs: [Hemgenix]
source: s.txt
effective: 2026-01-01
revised: 2026-01-01
criteria:
  - id: "1"
    text: Platelets
    citation: s.txt § 1
    check: {fact: platelet_count, window: 30 days, op: ">=", value: 50}
`)}}
	errs := rules.Lint(site, rules.Named("site-policies"))
	for _, e := range errs {
		fmt.Println(e)
	}
	// Output:
	// site-policies/acme.yaml:12: criterion 1: bad window "30 days" (want e.g. 30d, 4w, 3mo)
	// site-policies/acme.yaml:12: criterion 1: unknown fact "platelet_count"
}

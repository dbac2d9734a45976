package rules

import (
	"strings"
	"testing"
	"testing/fstest"
)

// TestUnitTexts: units read in reasons as facts.yaml's unit_text says, and
// as a space and the UCUM unit where it says nothing.
func TestUnitTexts(t *testing.T) {
	v := func(n float64, unit string) Value {
		return Value{Num: n, HasNum: true, Unit: unit, Date: day("2026-11-10"), Source: "Observation/o"}
	}
	cases := []struct {
		check string
		fact  string
		value Value
		want  string
	}{
		{`{fact: platelets, window: 30d, op: ">=", value: 50}`, "platelets", v(38, "10*9/L"), "Platelet count 38 × 10⁹/L on 2026-11-10 is not ≥ 50 × 10⁹/L"},
		{`{fact: fix_activity, window: 3mo, op: ">=", value: 5}`, "fix_activity", v(18, "%"), "Factor IX activity 18% on 2026-11-10 is ≥ 5%"},
		{`{fact: fix_inhibitor, window: 3mo, op: "<", value: 0.6}`, "fix_inhibitor", v(0.3, "[beth'U]/mL"), "0.3 BU/mL on 2026-11-10 is < 0.6 BU/mL"},
		{`{fact: cd4, window: 3mo, op: ">=", value: 200}`, "cd4", v(810, "/uL"), "CD4+ count 810/µL on 2026-11-10 is ≥ 200/µL"},
		{`{fact: hiv_rna, window: 3mo, op: "<", value: 200}`, "hiv_rna", v(20, "{copies}/mL"), "20 copies/mL on 2026-11-10 is < 200 copies/mL"},
		{`{fact: hcv_rna, window: 3mo, op: "<", value: 15}`, "hcv_rna", v(10, "[IU]/mL"), "10 IU/mL on 2026-11-10 is < 15 IU/mL"},
		{`{fact: aav5_antibody, window: 3mo, op: "<=", value: 700}`, "aav5_antibody", v(50, "{titer}"), "Anti-AAV5 antibody titer 1:50 on 2026-11-10 is ≤ 700"},
		{`{fact: alt, window: 3mo, op: "<=", uln: 2}`, "alt", Value{Num: 31, HasNum: true, Unit: "U/L", ULN: 41, Date: day("2026-11-10")}, "ALT 31 U/L on 2026-11-10 is ≤ 2 × ULN (82 U/L)"},
	}
	for _, tc := range cases {
		t.Run(tc.fact, func(t *testing.T) {
			d := eval(t, leaf(tc.check), Facts{tc.fact: {tc.value}})
			if r := d.Criteria[0].Reason; !strings.Contains(r, tc.want) {
				t.Errorf("reason %q lacks %q", r, tc.want)
			}
		})
	}
}

// TestUnitTextsLoad: a site's facts.yaml sets its own unit texts; two facts
// that read one unit differently are an error naming the file.
func TestUnitTextsLoad(t *testing.T) {
	policy := "id: a\ntitle: t\npayer: p\ndrugs: [Hemgenix]\nsource: s\neffective: 2026-01-01\nrevised: 2026-01-01\ncriteria:\n" +
		leaf(`{fact: plt, window: 30d, op: ">=", value: 50}`)
	for _, tc := range []struct {
		name, facts, want string
	}{
		{"own text", "- {name: plt, kind: quantity, unit: 10*9/L, unit_text: \" G/L\", label: Platelets}\n", "Platelets 38 G/L"},
		{"no text", "- {name: plt, kind: quantity, unit: 10*9/L, label: Platelets}\n", "Platelets 38 10*9/L"},
		{"clash", "- {name: plt, kind: quantity, unit: 10*9/L, unit_text: \" G/L\", label: Platelets}\n- {name: wbc, kind: quantity, unit: 10*9/L, unit_text: \" × 10⁹/L\", label: WBC}\n",
			`site/facts.yaml: fact wbc: unit 10*9/L reads " × 10⁹/L", fact plt has it read " G/L"`},
		{"text without unit", "- {name: plt, kind: quantity, unit_text: \" G/L\", label: Platelets}\n", "site/facts.yaml: fact plt: unit_text without a unit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			guards := "- {name: deceased, kind: event, label: Death}\n- {name: requested_drug, kind: code, multi: true, label: Drug}\n"
			c, err := Load(fstest.MapFS{"facts.yaml": {Data: []byte(tc.facts + guards)}, "a.yaml": {Data: []byte(policy)}}, Named("site"))
			if err != nil {
				if !strings.Contains(err.Error(), tc.want) {
					t.Errorf("error %q lacks %q", err, tc.want)
				}
				return
			}
			p, _ := c.Lookup("a")
			d := Evaluate(p, Facts{"plt": {{Num: 38, HasNum: true, Unit: "10*9/L", Date: day("2026-11-10")}}}, AsOf(asOf))
			if r := d.Criteria[0].Reason; !strings.Contains(r, tc.want) {
				t.Errorf("reason %q lacks %q", r, tc.want)
			}
		})
	}
}

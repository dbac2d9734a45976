package rules

import (
	"strings"
	"testing"
	"time"
)

var asOf = time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)

func day(s string) time.Time {
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		panic(err)
	}
	return t
}

// testPolicy compiles a policy from YAML criteria against the real fact registry.
func testPolicy(t *testing.T, criteria string) *Policy {
	t.Helper()
	src := "id: test\ntitle: t\npayer: p\ndrugs: [Hemgenix]\nsource: s.txt\neffective: 2026-01-01\nrevised: 2026-01-02\n" +
		"dose: {vg_per_kg: 2e13, vg_per_ml: 1e13, kits: hemgenix-table1, window: 30d}\ncriteria:\n" + criteria
	c, err := newCatalog(vocabFS{fsys: Builtin(), name: func(n string) string { return n }})
	if err != nil {
		t.Fatal(err)
	}
	p, errs := c.compile("test.yaml", []byte(src))
	for _, e := range errs {
		t.Fatal(e)
	}
	return p
}

func leaf(check string) string {
	return "  - id: x\n    text: t\n    citation: c\n    check: " + check + "\n"
}

func TestChecks(t *testing.T) {
	q := func(n float64, date string) Value {
		return Value{Num: n, HasNum: true, Date: day(date), Source: "Observation/o-" + date}
	}
	cases := []struct {
		name  string
		check string
		facts Facts
		want  Result
		why   string // substring of the reason
	}{
		{"platelets met", `{fact: platelets, window: 30d, op: ">=", value: 50}`, Facts{"platelets": {q(212, "2026-11-10")}}, Met, "212"},
		{"platelets failing threshold is not met", `{fact: platelets, window: 30d, op: ">=", value: 50}`, Facts{"platelets": {q(38, "2026-11-10")}}, NotMet, "is not ≥"},
		{"platelets outside window is unknown", `{fact: platelets, window: 30d, op: ">=", value: 50}`, Facts{"platelets": {q(212, "2026-10-24")}}, Unknown, "dated on or after 2026-10-25"},
		{"window start is inclusive", `{fact: platelets, window: 30d, op: ">=", value: 50}`, Facts{"platelets": {q(212, "2026-10-25")}}, Met, ""},
		{"future-dated result ignored", `{fact: platelets, window: 30d, op: ">=", value: 50}`, Facts{"platelets": {q(212, "2026-11-25")}}, Unknown, ""},
		{"month window", `{fact: platelets, window: 3mo, op: ">=", value: 50}`, Facts{"platelets": {q(212, "2026-08-24")}}, Met, ""},
		{"month window edge", `{fact: platelets, window: 3mo, op: ">=", value: 50}`, Facts{"platelets": {q(212, "2026-08-23")}}, Unknown, ""},
		{"latest wins over older failing", `{fact: platelets, window: 30d, op: ">=", value: 50}`, Facts{"platelets": {q(30, "2026-11-01"), q(80, "2026-11-20")}}, Met, "80"},
		{"latest failing wins over older passing", `{fact: platelets, window: 30d, op: ">=", value: 50}`, Facts{"platelets": {q(80, "2026-11-01"), q(30, "2026-11-20")}}, NotMet, "30"},
		{"same-day conflict is unknown", `{fact: platelets, window: 30d, op: ">=", value: 50}`, Facts{"platelets": {q(80, "2026-11-20"), q(30, "2026-11-20")}}, Unknown, "conflicting"},
		{"newer unreadable value makes it unknown", `{fact: platelets, window: 30d, op: ">=", value: 50}`,
			Facts{"platelets": {q(80, "2026-11-01"), {Date: day("2026-11-20"), Source: "Observation/u", Problem: `unknown unit "foo"`}}}, Unknown, `unknown unit "foo"`},
		{"older unreadable value does not matter", `{fact: platelets, window: 30d, op: ">=", value: 50}`,
			Facts{"platelets": {{Date: day("2026-11-01"), Problem: "x"}, q(80, "2026-11-20")}}, Met, ""},
		{"lowest ever (baseline)", `{fact: fix_activity, select: lowest, op: "<=", value: 2}`, Facts{"fix_activity": {q(1, "2010-01-01"), q(18, "2026-11-01")}}, Met, "lowest"},
		{"lowest too high", `{fact: fix_activity, select: lowest, op: "<=", value: 2}`, Facts{"fix_activity": {q(3, "2010-01-01"), q(18, "2026-11-01")}}, NotMet, ""},
		{"comparator below threshold is met", `{fact: fix_activity, select: lowest, op: "<=", value: 2}`, Facts{"fix_activity": {{Num: 1, HasNum: true, Comparator: "<", Date: day("2019-01-01")}}}, Met, "<1"},
		{"comparator straddling threshold is unknown", `{fact: fix_activity, select: lowest, op: "<=", value: 2}`, Facts{"fix_activity": {{Num: 5, HasNum: true, Comparator: "<", Date: day("2019-01-01")}}}, Unknown, "cannot be compared"},
		{"ULN met", `{fact: alt, window: 30d, op: "<=", uln: 2}`, Facts{"alt": {{Num: 80, HasNum: true, ULN: 41, Date: day("2026-11-10")}}}, Met, "2 × ULN"},
		{"ULN not met", `{fact: alt, window: 30d, op: "<=", uln: 2}`, Facts{"alt": {{Num: 83, HasNum: true, ULN: 41, Date: day("2026-11-10")}}}, NotMet, ""},
		{"no ULN is unknown", `{fact: alt, window: 30d, op: "<=", uln: 2}`, Facts{"alt": {q(30, "2026-11-10")}}, Unknown, "no upper limit"},
		{"inhibitor below cutoff negative", `{fact: fix_inhibitor, window: 30d, is: negative}`, Facts{"fix_inhibitor": {{Num: 0.3, HasNum: true, Comparator: "<", Date: day("2026-11-10")}}}, Met, "negative"},
		{"inhibitor at cutoff positive", `{fact: fix_inhibitor, window: 30d, is: negative}`, Facts{"fix_inhibitor": {q(0.6, "2026-11-10")}}, NotMet, "positive"},
		{"lab flag disagrees with cutoff: unknown", `{fact: fix_inhibitor, window: 30d, is: negative}`, Facts{"fix_inhibitor": {{Num: 0.55, HasNum: true, Flag: Positive, Date: day("2026-11-10")}}}, Unknown, "the lab reads it positive"},
		{"coded negative", `{fact: hbsag, window: 12mo, is: negative}`, Facts{"hbsag": {{Flag: Negative, Date: day("2026-10-01")}}}, Met, ""},
		{"positive only fails to rule out", `{fact: anti_hcv, window: 12mo, is: negative, on_positive: unknown}`, Facts{"anti_hcv": {{Flag: Positive, Date: day("2026-10-01")}}}, Unknown, "does not rule it out"},
		{"titer below 1:678", `{fact: aav5_antibody, window: 28d, op: "<", value: 678}`, Facts{"aav5_antibody": {{Num: 50, HasNum: true, Unit: "{titer}", Date: day("2026-11-10")}}}, Met, "1:50"},
		{"titer at 1:678 fails", `{fact: aav5_antibody, window: 28d, op: "<", value: 678}`, Facts{"aav5_antibody": {{Num: 678, HasNum: true, Unit: "{titer}", Date: day("2026-11-10")}}}, NotMet, ""},
		{"titer detected is positive", `{fact: aav5_antibody, window: 12mo, is: negative}`, Facts{"aav5_antibody": {{Num: 20, HasNum: true, Unit: "{titer}", Date: day("2026-11-10")}}}, NotMet, ""},
		{"titer below first dilution is negative", `{fact: aav5_antibody, window: 12mo, is: negative}`, Facts{"aav5_antibody": {{Num: 5, HasNum: true, Comparator: "<", Unit: "{titer}", Date: day("2026-11-10")}}}, Met, ""},
		{"history: one positive ever", `{fact: fix_inhibitor, is: never-positive}`, Facts{"fix_inhibitor": {q(0.2, "2026-11-10"), q(2.4, "2021-03-09")}}, NotMet, "2021-03-09"},
		{"history: all negative", `{fact: fix_inhibitor, is: never-positive}`, Facts{"fix_inhibitor": {q(0.2, "2026-11-10")}}, Met, "1 negative"},
		{"history: none is unknown", `{fact: fix_inhibitor, is: never-positive}`, Facts{}, Unknown, ""},
		{"sex male", `{fact: sex, equals: male}`, Facts{"sex": {{Code: "male"}}}, Met, ""},
		{"sex female", `{fact: sex, equals: male}`, Facts{"sex": {{Code: "female"}}}, NotMet, ""},
		{"sex unknown", `{fact: sex, equals: male}`, Facts{"sex": {{Code: "unknown"}}}, Unknown, ""},
		{"age 18 on birthday", `{fact: age, op: ">=", value: 18}`, Facts{"birth_date": {{Date: day("2008-11-24")}}}, Met, "age 18"},
		{"age 17 day before birthday", `{fact: age, op: ">=", value: 18}`, Facts{"birth_date": {{Date: day("2008-11-25")}}}, NotMet, "age 17"},
		{"no birth date", `{fact: age, op: ">=", value: 18}`, Facts{}, Unknown, ""},
		{"diagnosis present", `{fact: hemophilia_b, is: present}`, Facts{"hemophilia_b": {{Flag: Positive}}}, Met, ""},
		{"diagnosis absent is unknown, never met", `{fact: hepatitis_b, is: absent}`, Facts{}, Unknown, "absence alone"},
		{"active diagnosis fails absent", `{fact: hepatitis_b, is: absent}`, Facts{"hepatitis_b": {{Flag: Positive, Source: "Condition/c"}}}, NotMet, ""},
		{"resolved diagnosis does not fail absent", `{fact: hepatitis_b, is: absent}`, Facts{"hepatitis_b": {{Flag: Negative}}}, Unknown, ""},
		{"attestation yes", `{attest: factor-exposure-days-150, is: true}`, Facts{AttestationFact("factor-exposure-days-150"): {{Flag: Positive}}}, Met, "attests yes"},
		{"attestation no", `{attest: factor-exposure-days-150, is: true}`, Facts{AttestationFact("factor-exposure-days-150"): {{Flag: Negative}}}, NotMet, ""},
		{"attestation missing", `{attest: factor-exposure-days-150, is: true}`, Facts{}, Unknown, ""},
		{"structured evidence overrides attestation", `{attest: prior-gene-therapy, is: false, evidence: [{fact: prior_gene_therapy, is: present}]}`,
			Facts{AttestationFact("prior-gene-therapy"): {{Flag: Negative}}, "prior_gene_therapy": {{Flag: Positive, Source: "ExplanationOfBenefit/e"}}}, NotMet, "contradicts"},
		{"structured evidence answers without attestation", `{attest: life-threatening-hemorrhage, is: true, evidence: [{fact: life_threatening_hemorrhage, is: present}]}`,
			Facts{"life_threatening_hemorrhage": {{Flag: Positive}}}, Met, "documents"},
		{"latest attestation wins", `{attest: factor-exposure-days-150, is: true}`,
			Facts{AttestationFact("factor-exposure-days-150"): {{Flag: Negative, Date: day("2026-01-01")}, {Flag: Positive, Date: day("2026-11-01")}}}, Met, ""},
		{"kit for weight", `{dose: true}`, Facts{"weight": {q(72.4, "2026-11-12")}}, Met, "15 vials"},
		{"weight outside table cannot be approved", `{dose: true}`, Facts{"weight": {q(44.2, "2026-11-12")}}, Unknown, "outside the kit table"},
		{"weight at a row's top edge takes that row", `{dose: true}`, Facts{"weight": {q(50, "2026-11-12")}}, Met, "10 vials"},
		{"weight between two rows takes the kit that holds the dose", `{dose: true}`, Facts{"weight": {q(50.4, "2026-11-12")}}, Met, "11 vials"},
		{"weight between rows near the lower edge too", `{dose: true}`, Facts{"weight": {q(75.2, "2026-11-12")}}, Met, "16 vials"},
		{"weight just below the table is outside it", `{dose: true}`, Facts{"weight": {q(45.6, "2026-11-12")}}, Unknown, "outside the kit table"},
		{"weight between the last row and beyond", `{dose: true}`, Facts{"weight": {q(240.3, "2026-11-12")}}, Unknown, "outside the kit table"},
		{"no current weight", `{dose: true}`, Facts{"weight": {q(72, "2026-01-01")}}, Unknown, ""},
		{"always not met", `{always: not-met}`, Facts{}, NotMet, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.facts.Sort()
			d := Evaluate(testPolicy(t, leaf(tc.check)), tc.facts, AsOf(asOf))
			got := d.Criteria[0]
			if got.Result != tc.want {
				t.Fatalf("result %s, want %s (reason: %s)", got.Result, tc.want, got.Reason)
			}
			if !strings.Contains(got.Reason, tc.why) {
				t.Errorf("reason %q lacks %q", got.Reason, tc.why)
			}
			if got.Result == Unknown && tc.check != `{fact: anti_hcv, window: 12mo, is: negative, on_positive: unknown}` &&
				!strings.Contains(tc.check, "absent") && len(d.Missing) == 0 {
				t.Errorf("unknown without a missing item")
			}
		})
	}
}

// TestThreeValuedLogic checks the truth tables of all, any, screen and not.
func TestThreeValuedLogic(t *testing.T) {
	// Each child is an attestation whose answer selects met / not-met / unknown.
	child := func(i int) string {
		links := []string{"factor-exposure-days-150", "repeated-spontaneous-bleeds"}
		return "      - id: c" + string(rune('0'+i)) + "\n        text: t\n        citation: c\n        check: {attest: " + links[i] + ", is: true}\n"
	}
	facts := func(a, b Result) Facts {
		f := Facts{}
		set := func(link string, r Result) {
			switch r {
			case Met:
				f[AttestationFact(link)] = []Value{{Flag: Positive}}
			case NotMet:
				f[AttestationFact(link)] = []Value{{Flag: Negative}}
			}
		}
		set("factor-exposure-days-150", a)
		set("repeated-spontaneous-bleeds", b)
		return f
	}
	rs := []Result{Met, NotMet, Unknown}
	want := map[string]func(a, b Result) Result{
		"all": func(a, b Result) Result {
			switch {
			case a == NotMet || b == NotMet:
				return NotMet
			case a == Unknown || b == Unknown:
				return Unknown
			}
			return Met
		},
		"any": func(a, b Result) Result {
			switch {
			case a == Met || b == Met:
				return Met
			case a == Unknown || b == Unknown:
				return Unknown
			}
			return NotMet
		},
		"screen": func(a, b Result) Result {
			switch {
			case a == NotMet || b == NotMet:
				return NotMet
			case a == Met || b == Met:
				return Met
			}
			return Unknown
		},
	}
	for op, fn := range want {
		p := testPolicy(t, "  - id: x\n    text: t\n    citation: c\n    "+op+":\n"+child(0)+child(1))
		for _, a := range rs {
			for _, b := range rs {
				got := Evaluate(p, facts(a, b), AsOf(asOf)).Criteria[0].Result
				if got != fn(a, b) {
					t.Errorf("%s(%s, %s) = %s, want %s", op, a, b, got, fn(a, b))
				}
			}
		}
	}
	pn := testPolicy(t, "  - id: x\n    text: t\n    citation: c\n    not:\n"+strings.ReplaceAll(child(0), "      ", "      ")[0:0]+
		"      id: c0\n      text: t\n      citation: c\n      check: {attest: factor-exposure-days-150, is: true}\n")
	for _, a := range rs {
		got := Evaluate(pn, facts(a, Unknown), AsOf(asOf)).Criteria[0].Result
		wantNot := map[Result]Result{Met: NotMet, NotMet: Met, Unknown: Unknown}[a]
		if got != wantNot {
			t.Errorf("not(%s) = %s, want %s", a, got, wantNot)
		}
	}
}

func TestDecisionPrecedence(t *testing.T) {
	p := testPolicy(t, `  - id: a
    text: t
    citation: c
    check: {attest: factor-exposure-days-150, is: true}
  - id: b
    text: t
    citation: c
    check: {attest: repeated-spontaneous-bleeds, is: true}
  - id: nc
    text: t
    citation: c
    on_fail: not-covered
    check: {attest: prior-gene-therapy, is: false}
`)
	yes, no := []Value{{Flag: Positive}}, []Value{{Flag: Negative}}
	cases := []struct {
		name  string
		facts Facts
		want  Decision
	}{
		{"all met", Facts{"attest:factor-exposure-days-150": yes, "attest:repeated-spontaneous-bleeds": yes, "attest:prior-gene-therapy": no}, Approve},
		{"one unknown", Facts{"attest:factor-exposure-days-150": yes, "attest:prior-gene-therapy": no}, Pend},
		{"deny beats pend", Facts{"attest:factor-exposure-days-150": no, "attest:prior-gene-therapy": no}, Deny},
		{"not-covered beats deny", Facts{"attest:factor-exposure-days-150": no, "attest:prior-gene-therapy": yes}, NotCovered},
		{"not-covered beats pend", Facts{"attest:prior-gene-therapy": yes}, NotCovered},
		{"never approve on nothing", Facts{}, Pend},
	}
	for _, tc := range cases {
		if got := Evaluate(p, tc.facts, AsOf(asOf)).Decision; got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestDoseAndKit(t *testing.T) {
	p := testPolicy(t, leaf(`{dose: true}`))
	for _, tc := range []struct {
		kg    float64
		vials int
		ndc   string
	}{{46, 10, "0053-0100-10"}, {50, 10, "0053-0100-10"}, {50.4, 11, "0053-0110-11"}, {50.5, 11, "0053-0110-11"}, {72.4, 15, "0053-0150-15"}, {240, 48, "0053-0480-48"}} {
		d := Evaluate(p, Facts{"weight": {{Num: tc.kg, HasNum: true, Date: day("2026-11-20")}}}, AsOf(asOf))
		if d.Dose == nil || d.Dose.Kit == nil || d.Dose.Kit.Vials != tc.vials || d.Dose.Kit.NDC != tc.ndc {
			t.Errorf("%.1f kg: dose %+v, want %d vials %s", tc.kg, d.Dose, tc.vials, tc.ndc)
			continue
		}
		if want := 2e13 * tc.kg; d.Dose.VectorGenomes != want {
			t.Errorf("%.1f kg: %g vg, want %g", tc.kg, d.Dose.VectorGenomes, want)
		}
		if want := round(2*tc.kg, 1); d.Dose.VolumeML != want {
			t.Errorf("%.1f kg: %g mL, want %g", tc.kg, d.Dose.VolumeML, want)
		}
	}
	d := Evaluate(p, Facts{"weight": {{Num: 250, HasNum: true, Date: day("2026-11-20")}}}, AsOf(asOf))
	if d.Decision == Approve || d.Dose == nil || d.Dose.Kit != nil {
		t.Errorf("250 kg: decision %s, dose %+v; want no kit and no approval", d.Decision, d.Dose)
	}
}

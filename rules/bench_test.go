package rules

import (
	"testing"
)

// benchFacts is a fully documented hemophilia B patient (as mapping produces).
func benchFacts() Facts {
	q := func(n float64, d string, uln float64) []Value {
		return []Value{{Num: n, HasNum: true, ULN: uln, Date: day(d), Source: "Observation/x"}}
	}
	yes, no := []Value{{Flag: Positive, Source: "QuestionnaireResponse/q"}}, []Value{{Flag: Negative, Source: "QuestionnaireResponse/q"}}
	f := Facts{
		"sex": {{Code: "male"}}, "birth_date": {{Date: day("1989-03-14")}},
		"hemophilia_b":  {{Flag: Positive, Source: "Condition/c"}},
		"fix_activity":  {{Num: 1, HasNum: true, Comparator: "<", Date: day("2019-06-03")}, {Num: 18, HasNum: true, Date: day("2026-11-02")}},
		"fix_inhibitor": {{Num: 0.3, HasNum: true, Comparator: "<", Date: day("2026-11-10")}},
		"alt":           q(31, "2026-11-10", 41), "ast": q(28, "2026-11-10", 40), "bilirubin_total": q(0.7, "2026-11-10", 1.2),
		"alp": q(88, "2026-11-10", 129), "platelets": q(212, "2026-11-10", 0), "creatinine": q(0.92, "2026-11-10", 1.27),
		"creatinine_clearance": q(112, "2026-11-10", 0), "weight": q(72.4, "2026-11-12", 0), "cd4": q(810, "2026-10-28", 0),
		"hbsag": {{Flag: Negative, Date: day("2026-10-28")}}, "anti_hcv": {{Flag: Negative, Date: day("2026-10-28")}},
		"hiv_screen":           {{Flag: Negative, Date: day("2026-10-28")}},
		"aav5_antibody":        {{Num: 50, HasNum: true, Unit: "{titer}", Date: day("2026-11-05")}},
		"liver_stiffness":      q(5.2, "2026-09-15", 0),
		"prescriber_specialty": {{Code: "207RH0000X"}},
		"factor_prophylaxis":   {{Flag: Positive, Date: day("2015-04-01")}},
	}
	for _, l := range []string{"factor-exposure-days-150", "repeated-spontaneous-bleeds", "on-demand-factor-for-spontaneous-bleeds",
		"continuous-prophylaxis", "current-factor-prophylaxis", "prescriber-hemophilia-specialist", "prescriber-htc-hematologist"} {
		f[AttestationFact(l)] = yes
	}
	for _, l := range []string{"prior-gene-therapy", "life-threatening-hemorrhage", "hiv-uncontrolled", "antiviral-therapy-hbv-hcv",
		"advanced-liver-disease", "other-coagulation-disorder", "requested-for-convenience"} {
		f[AttestationFact(l)] = no
	}
	f.Sort()
	return f
}

// BenchmarkEvaluate is the engine alone on a mapped model (target: ≥ 100,000
// evaluations/s per core, i.e. ≤ 10 µs/op).
func BenchmarkEvaluate(b *testing.B) {
	for _, id := range []string{"ucare-hemgenix", "ny-pharmacy-109-hemgenix", "label-aligned-hemgenix"} {
		p, err := Lookup(id)
		if err != nil {
			b.Fatal(err)
		}
		f := benchFacts()
		if d := Evaluate(p, f, AsOf(asOf)); d.Decision != Approve {
			b.Fatalf("%s: %s (%v)", id, d.Decision, d.Missing)
		}
		b.Run(id, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Evaluate(p, f, AsOf(asOf))
			}
		})
	}
}

package rules

import (
	"strings"
	"testing"
	"time"
)

// Tests of issue 7, "fail-safe reading of the record": what is on record but
// cannot be read, contradicts itself or disagrees is never invisible.

var (
	yes = Value{Flag: Positive, Source: "QuestionnaireResponse/q"}
	no  = Value{Flag: Negative, Source: "QuestionnaireResponse/q"}
)

func num(n float64, date string) Value {
	return Value{Num: n, HasNum: true, Date: day(date), Source: "Observation/o-" + date}
}

func bad(date, problem string) Value {
	v := Value{Source: "Observation/bad", Text: "Mystery result", Problem: problem}
	if date != "" {
		v.Date = day(date)
	}
	return v
}

// criterion renders one criterion of a test policy at the top level.
func criterion(id, body string) string {
	return "  - id: " + id + "\n    text: t\n    citation: c\n" + body
}

// child renders a child criterion (indented under a composite).
func child(id, check string) string {
	return "      - id: " + id + "\n        text: t\n        citation: c\n        check: " + check + "\n"
}

func missingHas(d *Determination, s string) bool {
	for _, m := range d.Missing {
		if strings.Contains(m, s) {
			return true
		}
	}
	return false
}

func eval(t *testing.T, criteria string, f Facts) *Determination {
	t.Helper()
	f.Sort()
	return Evaluate(testPolicy(t, criteria), f, AsOf(asOf))
}

// TestBlockedUnknowns: a screen is ruled out by a met alternative only when no
// sibling is unknown because of something on record (items 1 and 3).
func TestBlockedUnknowns(t *testing.T) {
	met := child("ok", `{attest: factor-exposure-days-150, is: true}`)
	okFacts := func(f Facts) Facts {
		f[AttestationFact("factor-exposure-days-150")] = []Value{yes}
		return f
	}
	cases := []struct {
		name    string
		check   string
		facts   Facts
		blocked bool
	}{
		{"nothing on record is a plain unknown", `{fact: platelets, window: 30d, op: ">=", value: 50}`, Facts{}, false},
		{"unreadable newest value", `{fact: platelets, window: 30d, op: ">=", value: 50}`,
			Facts{"platelets": {num(80, "2026-11-01"), bad("2026-11-20", `unit "x" not understood`)}}, true},
		{"unreadable value on the same day", `{fact: platelets, window: 30d, op: ">=", value: 50}`,
			Facts{"platelets": {num(80, "2026-11-20"), bad("2026-11-20", `unit "x" not understood`)}}, true},
		{"lab interpretation against the number", `{fact: fix_inhibitor, window: 30d, is: negative}`,
			Facts{"fix_inhibitor": {{Num: 0.55, HasNum: true, Flag: Positive, Date: day("2026-11-10")}}}, true},
		{"same-day conflicting values", `{fact: platelets, window: 30d, op: ">=", value: 50}`,
			Facts{"platelets": {num(80, "2026-11-20"), {Num: 30, HasNum: true, Date: day("2026-11-20"), Source: "Observation/b"}}}, true},
		{"same-day conflicting readings", `{fact: hbsag, window: 12mo, is: negative}`,
			Facts{"hbsag": {{Flag: Negative, Date: day("2026-10-01"), Source: "Observation/a"}, {Flag: Positive, Date: day("2026-10-01"), Source: "Observation/b"}}}, true},
		{"comparator straddling the threshold", `{fact: fix_activity, select: lowest, op: "<=", value: 2}`,
			Facts{"fix_activity": {{Num: 5, HasNum: true, Comparator: "<", Date: day("2019-01-01")}}}, true},
		{"no ULN for a ×ULN check", `{fact: alt, window: 30d, op: "<=", uln: 2}`, Facts{"alt": {num(30, "2026-11-10")}}, true},
		{"conflicting codes", `{fact: fibrosis_stage, window: 12mo, in: [F0, F1, F2]}`,
			Facts{"fibrosis_stage": {{Code: "F1", Date: day("2026-10-01"), Source: "Observation/a"}, {Code: "F3", Date: day("2026-10-01"), Source: "Observation/b"}}}, true},
		{"unreadable newer code", `{fact: fibrosis_stage, window: 12mo, in: [F0, F1, F2]}`,
			Facts{"fibrosis_stage": {{Code: "F1", Date: day("2026-09-01")}, bad("2026-10-01", "unrecognised fibrosis stage")}}, true},
		{"absent with an unreadable diagnosis", `{fact: hepatitis_b, is: absent}`, Facts{"hepatitis_b": {bad("", "code not understood")}}, true},
		{"absent with nothing on record", `{fact: hepatitis_b, is: absent}`, Facts{}, false},
		{"positive that only fails to rule out", `{fact: anti_hcv, window: 12mo, is: negative, on_positive: unknown}`,
			Facts{"anti_hcv": {{Flag: Positive, Date: day("2026-10-01")}}}, false},
		{"an unreadable value where no failure is possible", `{fact: anti_hcv, window: 12mo, is: negative, on_positive: unknown}`,
			Facts{"anti_hcv": {bad("2026-10-01", "unrecognised result")}}, false},
		{"attestation answers that disagree", `{attest: other-coagulation-disorder, is: false}`,
			Facts{AttestationFact("other-coagulation-disorder"): {{Flag: Negative, Date: day("2026-11-01"), Source: "QuestionnaireResponse/a"}, {Flag: Positive, Date: day("2026-11-01"), Source: "QuestionnaireResponse/b"}}}, true},
		{"birth dates that disagree", `{fact: age, op: ">=", value: 18}`,
			Facts{"birth_date": {{Date: day("1980-01-01"), Source: "Patient/a"}, {Date: day("1990-01-01"), Source: "Patient/b"}}}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := eval(t, criterion("s", "    screen:\n"+child("x", tc.check)+met), okFacts(tc.facts))
			s := d.Criteria[0]
			if s.Children[0].Result != Unknown {
				t.Fatalf("child %s (%s), want unknown", s.Children[0].Result, s.Children[0].Reason)
			}
			want := Met
			if tc.blocked {
				want = Unknown
			}
			if s.Result != want {
				t.Fatalf("screen %s (%s), want %s", s.Result, s.Reason, want)
			}
			if tc.blocked && (!strings.HasPrefix(s.Reason, "cannot be settled from the record") || len(d.Missing) == 0) {
				t.Errorf("blocked screen: reason %q, missing %q", s.Reason, d.Missing)
			}
		})
	}
}

// TestCompositeTruthWithBlocked: screen and any over {met, not met, plain
// unknown, blocked unknown} (item 3).
func TestCompositeTruthWithBlocked(t *testing.T) {
	// The kinds of child, each a leaf with the facts that make it so.
	type kind struct {
		check string
		facts Facts
	}
	mk := func(link string) map[string]kind {
		f := AttestationFact(link)
		return map[string]kind{
			"met":     {`{attest: ` + link + `, is: true}`, Facts{f: {yes}}},
			"not-met": {`{attest: ` + link + `, is: true}`, Facts{f: {no}}},
			"unknown": {`{attest: ` + link + `, is: true}`, Facts{}},
			"blocked": {`{attest: ` + link + `, is: true}`, Facts{f: {{Flag: Positive, Source: "QuestionnaireResponse/a"}, {Flag: Negative, Source: "QuestionnaireResponse/b"}}}},
		}
	}
	a, b := mk("factor-exposure-days-150"), mk("repeated-spontaneous-bleeds")
	screen := func(x, y string) Result {
		switch {
		case x == "not-met" || y == "not-met":
			return NotMet
		case x == "blocked" || y == "blocked":
			return Unknown
		case x == "met" || y == "met":
			return Met
		}
		return Unknown
	}
	anyOf := func(x, y string) Result {
		switch {
		case x == "met" || y == "met":
			return Met
		case x == "not-met" && y == "not-met":
			return NotMet
		}
		return Unknown
	}
	kinds := []string{"met", "not-met", "unknown", "blocked"}
	for op, want := range map[string]func(x, y string) Result{"screen": screen, "any": anyOf} {
		for _, x := range kinds {
			for _, y := range kinds {
				f := Facts{}
				for k, v := range a[x].facts {
					f[k] = v
				}
				for k, v := range b[y].facts {
					f[k] = v
				}
				d := eval(t, criterion("s", "    "+op+":\n"+child("a", a[x].check)+child("b", b[y].check)), f)
				if got := d.Criteria[0].Result; got != want(x, y) {
					t.Errorf("%s(%s, %s) = %s, want %s", op, x, y, got, want(x, y))
				}
			}
		}
	}
}

// TestUndatedUnreadable: an unreadable value with no date counts in every
// window and as the newest value (item 2).
func TestUndatedUnreadable(t *testing.T) {
	cases := []struct {
		name, check string
		facts       Facts
	}{
		{"stops a passing number", `{fact: platelets, window: 30d, op: ">=", value: 50}`, Facts{"platelets": {num(212, "2026-11-20"), bad("", "value not readable")}}},
		{"stops a passing reading", `{fact: hbsag, window: 3mo, is: negative}`, Facts{"hbsag": {{Flag: Negative, Date: day("2026-11-01")}, bad("", "unrecognised result")}}},
		{"counts inside a short window", `{fact: platelets, window: 30d, op: ">=", value: 50}`, Facts{"platelets": {bad("", "value not readable")}}},
		{"stops a code", `{fact: sex, equals: male}`, Facts{"sex": {{Code: "male"}, bad("", "code not understood")}}},
		{"stops an event rule-out", `{fact: prior_gene_therapy, is: undocumented}`, Facts{"prior_gene_therapy": {bad("", "product not understood")}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := eval(t, leaf(tc.check), tc.facts)
			if r := d.Criteria[0]; r.Result != Unknown {
				t.Fatalf("%s (%s), want unknown", r.Result, r.Reason)
			}
			if !missingHas(d, `Observation/bad "Mystery result"`) {
				t.Errorf("missing %q does not name the unreadable value", d.Missing)
			}
		})
	}
	// A dated unreadable value outside the window stays outside it.
	d := eval(t, leaf(`{fact: platelets, window: 30d, op: ">=", value: 50}`), Facts{"platelets": {num(212, "2026-11-20"), bad("2026-01-01", "value not readable")}})
	if d.Criteria[0].Result != Met {
		t.Errorf("old unreadable value outside the window: %s", d.Criteria[0].Result)
	}
}

// TestAttestationEvidenceBlocked: unreadable evidence outranks the
// prescriber's answer (item 4).
func TestAttestationEvidenceBlocked(t *testing.T) {
	pgt := `{attest: prior-gene-therapy, is: false, evidence: [{fact: prior_gene_therapy, is: present}]}`
	hiv := `{attest: hiv-uncontrolled, is: false, evidence: [{fact: hiv_rna, window: 12mo, is: positive}, {fact: cd4, window: 12mo, op: "<=", value: 200}]}`
	coag := `{attest: other-coagulation-disorder, is: false, evidence: [{fact: other_coagulation_disorder, is: present}, {fact: hemophilia_a, is: present}]}`
	cases := []struct {
		name, check string
		facts       Facts
		want        Result
		missing     string
	}{
		{"unreadable prior gene therapy claim", pgt, Facts{"prior_gene_therapy": {bad("2024-01-01", "product code not understood")}, AttestationFact("prior-gene-therapy"): {no}},
			Unknown, `x: Observation/bad "Mystery result" product code not understood`},
		{"readable claim and an unreadable one", pgt, Facts{"prior_gene_therapy": {bad("2024-01-01", "p"), {Flag: Positive, Date: day("2023-01-01"), Source: "Claim/c"}}, AttestationFact("prior-gene-therapy"): {no}},
			NotMet, ""},
		{"unreadable newer CD4", hiv, Facts{"cd4": {num(810, "2026-06-01"), bad("2026-10-01", `unit "cells" not understood`)}, AttestationFact("hiv-uncontrolled"): {no}},
			Unknown, `unit "cells" not understood`},
		{"CD4 straddling 200", hiv, Facts{"cd4": {{Num: 250, HasNum: true, Comparator: "<", Date: day("2026-10-01"), Source: "Observation/c"}}, AttestationFact("hiv-uncontrolled"): {no}},
			Unknown, "CD4+ count dated on or after 2025-11-24 reported as an exact value"},
		{"readable evidence, attestation answers", hiv, Facts{"cd4": {num(810, "2026-10-01")}, AttestationFact("hiv-uncontrolled"): {no}}, Met, ""},
		{"a documented finding outranks a blocked one", coag, Facts{"other_coagulation_disorder": {bad("", "p")}, "hemophilia_a": {{Flag: Positive, Source: "Condition/a"}}, AttestationFact("other-coagulation-disorder"): {no}},
			NotMet, ""},
		{"unreadable diagnosis blocks a present evidence", coag, Facts{"other_coagulation_disorder": {bad("", "code not understood")}, AttestationFact("other-coagulation-disorder"): {no}},
			Unknown, "code not understood"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := eval(t, leaf(tc.check), tc.facts)
			r := d.Criteria[0]
			if r.Result != tc.want {
				t.Fatalf("%s (%s), want %s", r.Result, r.Reason, tc.want)
			}
			if tc.missing != "" && !missingHas(d, tc.missing) {
				t.Errorf("missing %q lacks %q", d.Missing, tc.missing)
			}
			if tc.want == Unknown && d.Decision == Approve {
				t.Errorf("approved")
			}
		})
	}
}

// TestNeverPositive: histories (item 5).
func TestNeverPositive(t *testing.T) {
	ck := `{fact: fix_inhibitor, is: never-positive}`
	cases := []struct {
		name  string
		vals  []Value
		want  Result
		blame string
	}{
		{"negatives only", []Value{num(0.2, "2026-11-10"), num(0.1, "2020-01-01")}, Met, "2 negative"},
		{"an old positive", []Value{num(0.2, "2026-11-10"), num(2.4, "2011-03-09")}, NotMet, "2011-03-09"},
		{"the lab reads it positive under the cutoff", []Value{num(0.2, "2026-11-10"), {Num: 0.4, HasNum: true, Flag: Positive, Date: day("2015-01-01"), Source: "Observation/p"}}, NotMet, "was positive"},
		{"an interpretation-only positive", []Value{{Flag: Positive, Date: day("2015-01-01"), Source: "Observation/p"}}, NotMet, ""},
		{"the lab reads negative a positive number", []Value{num(0.2, "2026-11-10"), {Num: 0.9, HasNum: true, Flag: Negative, Date: day("2015-01-01"), Source: "Observation/a"}}, Unknown, "the lab reads it negative"},
		{"a range straddling the cutoff", []Value{num(0.2, "2026-11-10"), {Num: 1, HasNum: true, Comparator: "<", Date: day("2015-01-01"), Source: "Observation/a"}}, Unknown, "cutoff"},
		{"an old unreadable titer", []Value{num(0.2, "2026-11-10"), bad("2012-01-01", `unit "x" not understood`)}, Unknown, "cannot be read"},
		{"an undated unreadable titer", []Value{num(0.2, "2026-11-10"), bad("", `unit "x" not understood`)}, Unknown, "cannot be read"},
		{"a positive wins over an unreadable titer", []Value{bad("", "p"), num(3, "2012-01-01")}, NotMet, ""},
		{"nothing on record", nil, Unknown, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := eval(t, leaf(ck), Facts{"fix_inhibitor": tc.vals})
			r := d.Criteria[0]
			if r.Result != tc.want || !strings.Contains(r.Reason, tc.blame) {
				t.Fatalf("%s (%s), want %s with %q", r.Result, r.Reason, tc.want, tc.blame)
			}
		})
	}
}

// TestEverAndUndocumented: histories of diagnoses and the undocumented check
// (items 6 and 7).
func TestEverAndUndocumented(t *testing.T) {
	active := Value{Flag: Positive, Date: day("2020-01-01"), Source: "Condition/a"}
	resolved := Value{Flag: Negative, Date: day("2020-01-01"), Source: "Condition/r"}
	cases := []struct {
		name, check string
		vals        []Value
		want        Result
	}{
		{"absent: active", `{fact: factor_inhibitor_condition, is: absent}`, []Value{active}, NotMet},
		{"absent: resolved without ever", `{fact: factor_inhibitor_condition, is: absent}`, []Value{resolved}, Unknown},
		{"absent: resolved with ever", `{fact: factor_inhibitor_condition, is: absent, ever: true}`, []Value{resolved}, NotMet},
		{"absent: unreadable", `{fact: factor_inhibitor_condition, is: absent, ever: true}`, []Value{bad("", "p")}, Unknown},
		{"present: resolved with ever", `{fact: cirrhosis, is: present, ever: true}`, []Value{resolved}, Met},
		{"present: resolved without ever", `{fact: cirrhosis, is: present}`, []Value{resolved}, Unknown},
		{"undocumented: nothing", `{fact: prior_gene_therapy, is: undocumented}`, nil, Met},
		{"undocumented: one on record", `{fact: prior_gene_therapy, is: undocumented}`, []Value{active}, NotMet},
		{"undocumented: resolved without ever", `{fact: hiv, is: undocumented}`, []Value{resolved}, Met},
		{"undocumented: resolved with ever", `{fact: hiv, is: undocumented, ever: true}`, []Value{resolved}, NotMet},
		{"undocumented: unreadable", `{fact: hiv, is: undocumented, ever: true}`, []Value{bad("2026-01-01", "p")}, Unknown},
		{"undocumented: positive only fails to rule out", `{fact: hiv, is: undocumented, on_positive: unknown}`, []Value{active}, Unknown},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fact := tc.check[len("{fact: "):strings.Index(tc.check, ",")]
			d := eval(t, leaf(tc.check), Facts{fact: tc.vals})
			if r := d.Criteria[0]; r.Result != tc.want {
				t.Fatalf("%s (%s), want %s", r.Result, r.Reason, tc.want)
			}
		})
	}
}

func TestOnFailUnknown(t *testing.T) {
	src := criterion("g", "    on_fail: unknown\n    need: confirm the thing\n    check: {fact: prior_gene_therapy, is: undocumented}\n")
	d := eval(t, src, Facts{"prior_gene_therapy": {{Flag: Positive, Source: "Claim/c"}}})
	if r := d.Criteria[0]; r.Result != Unknown || d.Decision != Pend || !missingHas(d, "g: confirm the thing") {
		t.Fatalf("%s / %s, missing %q", r.Result, d.Decision, d.Missing)
	}
	// Inside a composite with its own need, the line to confirm survives.
	nested := criterion("p", "    need: the parent's words\n    all:\n      - id: g\n        text: t\n        citation: c\n        on_fail: unknown\n        need: confirm the thing\n        check: {fact: prior_gene_therapy, is: undocumented}\n")
	d = eval(t, nested, Facts{"prior_gene_therapy": {{Flag: Positive, Source: "Claim/c"}}})
	if !missingHas(d, "confirm the thing") || !missingHas(d, "the parent's words") {
		t.Errorf("missing %q", d.Missing)
	}
	if d = eval(t, src, Facts{}); d.Criteria[0].Result != Met {
		t.Errorf("nothing on record: %s", d.Criteria[0].Result)
	}
}

// TestNYHIV: NY 8.b and Roctavian 9.b — uncontrolled HIV is a CD4+ count of
// 200/µL or less (item 8).
func TestNYHIV(t *testing.T) {
	screenNeg := Value{Flag: Negative, Date: day("2026-10-28"), Source: "Observation/hiv"}
	hivDx := Value{Flag: Positive, Date: day("2015-01-01"), Source: "Condition/hiv"}
	cases := []struct {
		name string
		f    Facts
		want Result
		need string
	}{
		{"screen negative, no diagnosis", Facts{"hiv_screen": {screenNeg}}, Met, ""},
		{"RNA not detected (no number)", Facts{"hiv_rna": {{Flag: Negative, Date: day("2026-10-28"), Source: "Observation/vl"}}}, Met, ""},
		{"RNA below the assay's limit", Facts{"hiv_rna": {{Num: 20, HasNum: true, Comparator: "<", Date: day("2026-10-28"), Source: "Observation/vl"}}}, Met, ""},
		{"RNA detected", Facts{"hiv_rna": {num(35, "2026-10-28")}}, Unknown, "CD4+ count"},
		{"screen positive", Facts{"hiv_screen": {{Flag: Positive, Date: day("2026-10-28")}}}, Unknown, "CD4+ count"},
		{"low CD4 is evidence against", Facts{"hiv_screen": {screenNeg}, "cd4": {num(150, "2026-10-28")}}, NotMet, ""},
		{"HIV diagnosis without CD4", Facts{"hiv": {hivDx}, "hiv_rna": {{Flag: Negative, Date: day("2026-10-28")}}}, Unknown, "CD4+ count dated on or after 2026-08-24"},
		{"HIV diagnosis with a good CD4", Facts{"hiv": {hivDx}, "cd4": {num(500, "2026-10-28")}}, Met, ""},
		{"resolved HIV diagnosis is still HIV", Facts{"hiv": {{Flag: Negative, Source: "Condition/h"}}, "hiv_screen": {screenNeg}}, Unknown, "CD4+ count"},
		{"stale negative screen", Facts{"hiv_screen": {{Flag: Negative, Date: day("2026-01-01")}}}, Unknown, ""},
		{"unreadable newer CD4 blocks the rule-out", Facts{"hiv_screen": {screenNeg}, "cd4": {num(500, "2026-09-01"), bad("2026-10-30", `unit "x" not understood`)}}, Unknown, `unit "x" not understood`},
		{"unreadable HIV RNA is no evidence against", Facts{"hiv_rna": {bad("2026-10-30", "p")}, "cd4": {num(500, "2026-10-28")}}, Met, ""},
		{"nothing on record", Facts{}, Unknown, "CD4+ count"},
	}
	for _, id := range []string{"ny-pharmacy-109-hemgenix", "ny-pharmacy-109-roctavian"} {
		p, err := Lookup(id)
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range cases {
			t.Run(id+"/"+tc.name, func(t *testing.T) {
				tc.f.Sort()
				d := Evaluate(p, tc.f, AsOf(asOf))
				r := find(d.Criteria, map[string]string{"ny-pharmacy-109-hemgenix": "8.b", "ny-pharmacy-109-roctavian": "9.b"}[id])
				if r == nil {
					t.Fatal("no HIV criterion")
				}
				if r.Result != tc.want {
					t.Fatalf("%s (%s), want %s", r.Result, r.Reason, tc.want)
				}
				if tc.need != "" && !missingHas(d, tc.need) {
					t.Errorf("missing %q lacks %q", d.Missing, tc.need)
				}
			})
		}
	}
}

func find(rs []CriterionResult, id string) *CriterionResult {
	for i := range rs {
		if rs[i].ID == id {
			return &rs[i]
		}
		if r := find(rs[i].Children, id); r != nil {
			return r
		}
	}
	return nil
}

func TestNotDetected(t *testing.T) {
	ck := `{fact: hiv_rna, window: 3mo, is: not-detected}`
	cases := []struct {
		name string
		v    Value
		want Result
	}{
		{"flag only, not detected", Value{Flag: Negative, Date: day("2026-10-01")}, Met},
		{"below the limit", Value{Num: 20, HasNum: true, Comparator: "<", Date: day("2026-10-01")}, Met},
		{"at or below the limit", Value{Num: 50, HasNum: true, Comparator: "<=", Date: day("2026-10-01")}, Met},
		{"zero", num(0, "2026-10-01"), Met},
		{"detected, below 200", num(35, "2026-10-01"), NotMet},
		{"detected above a bound", Value{Num: 1e6, HasNum: true, Comparator: ">", Date: day("2026-10-01")}, NotMet},
		{"flag only, detected", Value{Flag: Positive, Date: day("2026-10-01")}, NotMet},
		{"the lab reads negative a detected number", Value{Num: 35, HasNum: true, Flag: Negative, Date: day("2026-10-01")}, Unknown},
		{"the lab reads detected a value below the limit", Value{Num: 20, HasNum: true, Comparator: "<", Flag: Positive, Date: day("2026-10-01")}, Unknown},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := eval(t, leaf(ck), Facts{"hiv_rna": {tc.v}})
			if r := d.Criteria[0]; r.Result != tc.want {
				t.Fatalf("%s (%s), want %s", r.Result, r.Reason, tc.want)
			}
		})
	}
	d := eval(t, leaf(`{fact: hiv_rna, window: 3mo, is: not-detected, on_positive: unknown}`), Facts{"hiv_rna": {num(35, "2026-10-01")}})
	if r := d.Criteria[0]; r.Result != Unknown || !strings.Contains(r.Reason, "does not rule it out") {
		t.Errorf("on_positive: unknown: %s (%s)", r.Result, r.Reason)
	}
}

// TestPartialBirthDates: a partial date is an age range (item 9).
func TestPartialBirthDates(t *testing.T) {
	year := func(y int, src string) Value {
		return Value{Date: time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC), Until: time.Date(y, 12, 31, 0, 0, 0, 0, time.UTC), Source: src}
	}
	cases := []struct {
		name   string
		births []Value
		want   Result
		text   string
	}{
		{"year straddling 18", []Value{year(2008, "Patient/p")}, Unknown, "Full date of birth (Patient/p gives 2008)"},
		{"year well over 18", []Value{year(1990, "Patient/p")}, Met, ""},
		{"year under 18", []Value{year(2010, "Patient/p")}, NotMet, ""},
		{"month straddling 18", []Value{{Date: day("2008-11-01"), Until: day("2008-11-30"), Source: "Patient/p"}}, Unknown, "gives 2008-11"},
		{"month decided", []Value{{Date: day("2008-10-01"), Until: day("2008-10-31"), Source: "Patient/p"}}, Met, ""},
		{"two dates that disagree", []Value{{Date: day("1989-03-14"), Source: "Patient/a"}, {Date: day("1989-03-15"), Source: "Patient/b"}}, Unknown, "the record gives two"},
		{"a full date inside a partial one", []Value{year(1990, "Patient/a"), {Date: day("1990-05-03"), Source: "Patient/b"}}, Met, ""},
		{"an unreadable birth date", []Value{{Date: day("1990-05-03"), Source: "Patient/a"}, {Source: "Patient/b", Problem: "birthDate not readable"}}, Unknown, "Patient/b birthDate not readable"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := eval(t, leaf(`{fact: age, op: ">=", value: 18}`), Facts{"birth_date": tc.births})
			if r := d.Criteria[0]; r.Result != tc.want {
				t.Fatalf("%s (%s), want %s", r.Result, r.Reason, tc.want)
			}
			if tc.text != "" && !missingHas(d, tc.text) {
				t.Errorf("missing %q lacks %q", d.Missing, tc.text)
			}
		})
	}
}

// TestDoseWeight: only an exact, agreed weight sets a dose (item 10).
func TestDoseWeight(t *testing.T) {
	w := func(n float64, cmp, src string) Value {
		return Value{Num: n, HasNum: true, Comparator: cmp, Unit: "kg", Date: day("2026-11-12"), Source: src}
	}
	cases := []struct {
		name    string
		vals    []Value
		want    Result
		present Result
		missing string
	}{
		{"exact", []Value{w(72.4, "", "Observation/w")}, Met, Met, ""},
		{"a bound", []Value{w(70, ">", "Observation/w")}, Unknown, Met, "as an exact value (Observation/w gives >70 kg)"},
		{"two weights that disagree", []Value{w(72.4, "", "Observation/a"), w(80, "", "Observation/b")}, Unknown, Met, "disagree (Observation/a, Observation/b)"},
		{"the same weight twice", []Value{w(72.4, "", "Observation/a"), w(72.4, "", "Observation/b")}, Met, Met, ""},
		{"an undated unreadable weight", []Value{w(72.4, "", "Observation/w"), {Source: "Observation/u", Text: "Body wt", Problem: `unit "st" not understood`}}, Unknown, Met, `Observation/u "Body wt" unit "st" not understood`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := eval(t, leaf(`{dose: true}`)+criterion("n", "    check: {fact: weight, window: 30d, is: present}\n"), Facts{"weight": tc.vals})
			if r := d.Criteria[0]; r.Result != tc.want {
				t.Fatalf("dose %s (%s), want %s", r.Result, r.Reason, tc.want)
			}
			if r := d.Criteria[1]; r.Result != tc.present {
				t.Errorf("is: present %s (%s)", r.Result, r.Reason)
			}
			if (d.Dose != nil) != (tc.want == Met) {
				t.Errorf("dose %+v", d.Dose)
			}
			if tc.missing != "" && !missingHas(d, tc.missing) {
				t.Errorf("missing %q lacks %q", d.Missing, tc.missing)
			}
		})
	}
}

// TestRecordGuards: every policy carries the deceased and ordered-drug guards (item 11).
func TestRecordGuards(t *testing.T) {
	c, err := builtinCatalog()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range c.Policies {
		last := p.Criteria[len(p.Criteria)-1]
		if last.ID != "record" || len(last.Children) != 2 {
			t.Errorf("%s: no record guards at the end", p.ID)
		}
	}
	ok := func() Facts {
		return Facts{AttestationFact("factor-exposure-days-150"): {yes}}
	}
	crit := leaf(`{attest: factor-exposure-days-150, is: true}`)
	if d := eval(t, crit, ok()); d.Decision != Approve {
		t.Fatalf("baseline: %s %q", d.Decision, d.Missing)
	}
	f := ok()
	f["deceased"] = []Value{{Flag: Positive, Date: day("2026-11-01"), Source: "Patient/p"}}
	d := eval(t, crit, f)
	if d.Decision != Pend || !missingHas(d, "record.alive: confirm the patient's status: the record says deceased") {
		t.Errorf("deceased: %s %q", d.Decision, d.Missing)
	}
	f = ok()
	f["requested_drug"] = []Value{{Code: "Roctavian", Source: "MedicationRequest/m"}}
	d = eval(t, crit, f)
	if r := find(d.Criteria, "record.order"); d.Decision != NotCovered || r.Reason != "the order is for Roctavian; this policy covers Hemgenix" {
		t.Errorf("other drug: %s %q", d.Decision, r.Reason)
	}
	f = ok()
	f["requested_drug"] = []Value{{Code: "hemgenix", Source: "MedicationRequest/m"}}
	if d = eval(t, crit, f); d.Decision != Approve {
		t.Errorf("the policy's drug: %s", d.Decision)
	}
	f = ok()
	f["requested_drug"] = []Value{{Code: "Hemgenix", Source: "Claim/c"}, {Code: "Beqvez", Source: "MedicationRequest/m"}}
	if d = eval(t, crit, f); d.Decision != Pend || !missingHas(d, "record.order: the drug requested — the record orders Hemgenix and Beqvez (Claim/c, MedicationRequest/m)") {
		t.Errorf("orders for two drugs: %s %q", d.Decision, d.Missing)
	}
	f = ok()
	f["requested_drug"] = []Value{{Source: "MedicationRequest/m", Text: "AAV thing", Problem: "product not understood"}}
	if d = eval(t, crit, f); d.Decision != Pend || !missingHas(d, `MedicationRequest/m "AAV thing" product not understood`) {
		t.Errorf("unreadable order: %s %q", d.Decision, d.Missing)
	}
}

// TestAttestationAnswers: the newest date wins; disagreement on it is unknown (item 12).
func TestAttestationAnswers(t *testing.T) {
	ans := func(f Flag, date, src string) Value {
		v := Value{Flag: f, Source: "QuestionnaireResponse/" + src}
		if date != "" {
			v.Date = day(date)
		}
		return v
	}
	cases := []struct {
		name string
		vals []Value
		want Result
	}{
		{"newest wins", []Value{ans(Negative, "2026-01-01", "a"), ans(Positive, "2026-11-01", "b")}, Met},
		{"newest wins (no)", []Value{ans(Positive, "2026-01-01", "a"), ans(Negative, "2026-11-01", "b")}, NotMet},
		{"two answers on one day disagree", []Value{ans(Positive, "2026-11-01", "a"), ans(Negative, "2026-11-01", "b")}, Unknown},
		{"one item answered twice", []Value{ans(Positive, "2026-11-01", "a"), ans(Negative, "2026-11-01", "a")}, Unknown},
		{"older disagreement is history", []Value{ans(Positive, "2026-01-01", "a"), ans(Negative, "2026-01-01", "b"), ans(Positive, "2026-11-01", "c")}, Met},
		{"a dated answer wins over an undated one", []Value{ans(Negative, "", "a"), ans(Positive, "2026-11-01", "b")}, Met},
		{"two undated answers disagree", []Value{ans(Negative, "", "a"), ans(Positive, "", "b")}, Unknown},
		{"an unreadable newer answer", []Value{ans(Positive, "2026-01-01", "a"), {Date: day("2026-11-01"), Source: "QuestionnaireResponse/c", Problem: "answer is not yes or no"}}, Unknown},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := eval(t, leaf(`{attest: factor-exposure-days-150, is: true}`), Facts{AttestationFact("factor-exposure-days-150"): tc.vals})
			r := d.Criteria[0]
			if r.Result != tc.want {
				t.Fatalf("%s (%s), want %s", r.Result, r.Reason, tc.want)
			}
			if tc.want == Unknown && (len(d.Needs) == 0 || len(d.Needs[0].LinkIDs) == 0) {
				t.Errorf("a conflict asks the prescriber again: needs %+v", d.Needs)
			}
		})
	}
}

// TestUnreadableLines: the missing line names the resource exactly, through
// need overrides and the merging of alternatives (item 13).
func TestUnreadableLines(t *testing.T) {
	kpa := Value{Date: day("2026-11-01"), Source: "Observation/xyz", Text: "Liver stiffness", Problem: `unit "KPA" not understood — correct or map it (--codemap)`}
	line := `Observation/xyz "Liver stiffness" unit "KPA" not understood — correct or map it (--codemap)`
	stiff := `{fact: liver_stiffness, window: 3mo, op: "<", value: 9}`
	cases := []struct {
		name, src string
		want      string
	}{
		{"leaf", leaf(stiff), "x: " + line},
		{"leaf with its own need", criterion("x", "    need: a FibroScan\n    check: "+stiff+"\n"), "x: " + line},
		{"screen", criterion("d", "    screen:\n"+child("stiffness", stiff)+child("stage", `{fact: fibrosis_stage, window: 3mo, in: [F0, F1, F2]}`)), "d: " + line},
		{"any", criterion("d", "    any:\n"+child("stiffness", stiff)+child("stage", `{fact: fibrosis_stage, window: 3mo, in: [F0, F1, F2]}`)), "d: " + line},
		{"composite need", criterion("d", "    need: liver staging\n    screen:\n"+child("stiffness", stiff)+child("stage", `{fact: fibrosis_stage, window: 3mo, in: [F0, F1, F2]}`)), "d: " + line},
		{"nested in all", criterion("8", "    all:\n      - id: d\n        text: t\n        citation: c\n        screen:\n"+
			strings.ReplaceAll(child("stiffness", stiff), "      ", "          ")), "8.d: " + line},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := eval(t, tc.src, Facts{"liver_stiffness": {kpa}})
			found := false
			for _, m := range d.Missing {
				found = found || m == tc.want
			}
			if !found {
				t.Errorf("missing %q lacks %q", d.Missing, tc.want)
			}
		})
	}
	// Without Text the quoted part is left out.
	d := eval(t, leaf(stiff), Facts{"liver_stiffness": {{Date: day("2026-11-01"), Source: "Observation/xyz", Problem: "value type not readable"}}})
	if len(d.Missing) != 1 || d.Missing[0] != "x: Observation/xyz value type not readable" {
		t.Errorf("missing %q", d.Missing)
	}
	// The other alternatives are still asked for, as one choice.
	d = eval(t, criterion("d", "    screen:\n"+child("stiffness", stiff)+child("stage", `{fact: fibrosis_stage, window: 3mo, in: [F0, F1, F2]}`)), Facts{"liver_stiffness": {kpa}})
	if !missingHas(d, "d: Liver fibrosis stage (METAVIR) dated on or after 2026-08-24") {
		t.Errorf("missing %q", d.Missing)
	}
}

// TestLintNewOptions: the linter knows every new key and where it applies.
func TestLintNewOptions(t *testing.T) {
	head := "id: t\ntitle: t\npayer: p\ndrugs: [Hemgenix]\nsource: s.txt\neffective: 2026-01-01\nrevised: 2026-01-01\ncriteria:\n"
	cases := []struct {
		name, criteria, want string
	}{
		{"ever on a lab", leaf(`{fact: platelets, window: 30d, op: ">=", value: 50, ever: true}`), "ever applies to condition and event facts"},
		{"ever with a reading", leaf(`{fact: cirrhosis, is: never-positive, ever: true}`), "is never-positive does not apply"},
		{"ever not boolean", leaf(`{fact: cirrhosis, is: absent, ever: yes}`), "ever must be true or false"},
		{"ever on an attestation", leaf(`{attest: prior-gene-therapy, is: false, ever: true}`), "not an attestation"},
		{"not-detected on a result", leaf(`{fact: hbsag, window: 3mo, is: not-detected}`), "is not-detected does not apply"},
		{"undocumented on a lab", leaf(`{fact: platelets, is: undocumented}`), "is undocumented does not apply"},
		{"on_positive with present", leaf(`{fact: cirrhosis, is: present, on_positive: unknown}`), "on_positive: unknown goes only with"},
		{"on_fail unknown without need", "  - id: x\n    text: t\n    citation: c\n    on_fail: unknown\n    check: {fact: deceased, is: undocumented}\n", "on_fail: unknown needs a need"},
		{"bad on_fail", "  - id: x\n    text: t\n    citation: c\n    on_fail: maybe\n    check: {fact: deceased, is: undocumented}\n", "not deny, not-covered or unknown"},
		{"unknown check key", leaf(`{fact: deceased, is: undocumented, evers: true}`), `unknown key "evers"`},
		{"id taken by the record guards", "  - id: record\n    text: t\n    citation: c\n    check: {fact: deceased, is: undocumented}\n", "taken by the record guards"},
		{"unknown is", leaf(`{fact: platelets, is: maybe}`), `is "maybe" is not one of present, absent, undocumented, negative, positive, not-detected, never-positive, policy-drug`},
		{"age against a uln", leaf(`{fact: age, op: ">=", uln: 2}`), "an age has no upper limit of normal"},
		{"dose evidence without a dose", leaf(`{attest: prior-gene-therapy, is: false, evidence: [{dose: true}]}`), "checks the dose but the policy has no dose"},
		{"diagnosis with a window", leaf(`{fact: hiv, window: 12mo, is: present}`), "a diagnosis check takes no window"},
		{"quantity read without positive_at", leaf(`{fact: platelets, window: 30d, is: negative}`), "has no positive_at; give a cutoff"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			errs := lintFiles(map[string]string{"p.yaml": head + tc.criteria})
			var all []string
			for _, e := range errs {
				all = append(all, e.Error())
			}
			joined := strings.Join(all, "\n")
			if !strings.Contains(joined, tc.want) || !strings.Contains(joined, "p.yaml:") {
				t.Errorf("lint %q lacks %q", joined, tc.want)
			}
		})
	}
	if errs := lintFiles(map[string]string{"p.yaml": head + leaf(`{fact: factor_inhibitor_condition, is: absent, ever: true}`)}); len(errs) != 0 {
		t.Errorf("valid policy: %v", errs)
	}
	// A kit table without rows cannot place any weight.
	dosed := strings.Replace(head, "criteria:\n", "dose: {vg_per_kg: 2e13, vg_per_ml: 1e13, kits: empty}\ncriteria:\n", 1)
	errs := lintFiles(map[string]string{"kits.yaml": "empty: {citation: c, rows: []}\n", "p.yaml": dosed + leaf(`{dose: true}`)})
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), `p.yaml:`) || !strings.Contains(errs[0].Error(), `kit table "empty" has no rows`) {
		t.Errorf("empty kit table: %v", errs)
	}
}

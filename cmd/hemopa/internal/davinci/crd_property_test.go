package davinci_test

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"hemopa/cmd/hemopa/internal/davinci"
	"hemopa/rules"
)

// propertyCases is how many random values each property test draws (seeded:
// a failure reproduces with the same case number).
const propertyCases = 20000

// propertySeed makes the random cases deterministic.
const propertySeed = 0x11_c0_de

// pick returns one element of xs.
func pick[T any](r *rand.Rand, xs ...T) T { return xs[r.IntN(len(xs))] }

// randText is a short, possibly empty, possibly non-ASCII or very long
// string (long enough to be clipped by CoverageInfoFor).
func randText(r *rand.Rand) string {
	switch r.IntN(8) {
	case 0:
		return ""
	case 1:
		return strings.Repeat("ALT ≤ 2 × ULN; ", 1+r.IntN(120)) // multi-byte runes across the 1000-byte cut
	case 2:
		return strings.Repeat("x", 990+r.IntN(20))
	default:
		return pick(r, "FIX activity", "AAV5 antibodies", "ALT ≤ 2 × ULN", "prophylaxis ≥ 150 exposure days", "HIV status", "hepatitis B/C", "age ≥ 18")
	}
}

// randCriteria is a random criterion tree of depth ≤ depth with random
// results (so some determinations have failed criteria and some none).
func randCriteria(r *rand.Rand, depth int) []rules.CriterionResult {
	n := r.IntN(4)
	out := make([]rules.CriterionResult, n)
	for i := range out {
		out[i] = rules.CriterionResult{
			ID:     fmt.Sprintf("%d.%c", i+1, 'A'+r.IntN(26)),
			Text:   randText(r),
			Result: pick(r, rules.Unknown, rules.Met, rules.NotMet, rules.NotMet),
		}
		if depth > 0 && r.IntN(2) == 0 {
			out[i].Children = randCriteria(r, depth-1)
		}
	}
	return out
}

// randDetermination is a random determination as the engine could return
// it: one of the four decisions, an as-of date and a policy always set.
func randDetermination(r *rand.Rand) *rules.Determination {
	det := &rules.Determination{
		Policy:   pick(r, "ucare-hemgenix", "ny-pharmacy-109-roctavian", "label-aligned-beqvez"),
		AsOf:     "2026-11-24",
		Decision: pick(r, rules.Approve, rules.Pend, rules.Deny, rules.NotCovered),
		Criteria: randCriteria(r, 3),
	}
	switch r.IntN(3) {
	case 0: // nil Missing
	case 1:
		det.Missing = []string{}
	default:
		for range 1 + r.IntN(6) {
			det.Missing = append(det.Missing, randText(r))
		}
	}
	return det
}

// TestPropertyCoverageInfoForValidates: whatever the determination (decision,
// missing documentation incl. none, failed criteria incl. none) and whether
// the hook may ask for documentation, CoverageInfoFor yields an assertion
// Validate accepts, whose texts are valid UTF-8, and which asks for
// documentation only when allowed to.
func TestPropertyCoverageInfoForValidates(t *testing.T) {
	r := rand.New(rand.NewPCG(propertySeed, 1))
	seen := map[string]int{}
	for i := range propertyCases {
		det := randDetermination(r)
		in := davinci.AssertionInput{Coverage: "Coverage/cov-" + fmt.Sprint(r.IntN(5)), AssertionID: fmt.Sprintf("%016x", r.Uint64()),
			AskDocumentation: r.IntN(2) == 0}
		ci := davinci.CoverageInfoFor(det, in)
		seen[string(det.Decision)+fmt.Sprint(in.AskDocumentation)]++
		if err := ci.Validate(); err != nil {
			t.Fatalf("case %d: %s (missing %q, ask %v): %v\n%+v", i, det.Decision, det.Missing, in.AskDocumentation, err, ci)
		}
		if !in.AskDocumentation && (ci.DocNeeded != "" || len(ci.Questionnaires) > 0) {
			t.Fatalf("case %d: secondary hook asks for documentation: %+v", i, ci)
		}
		if ci.Coverage != in.Coverage || ci.AssertionID != in.AssertionID || ci.Date != det.AsOf {
			t.Fatalf("case %d: coverage/assertion id/date not carried: %+v", i, ci)
		}
		for _, d := range ci.Details {
			if !utf8.ValidString(d.Value) || len(d.Value) > 1000+len("…") {
				t.Fatalf("case %d: detail value not clipped on a rune boundary (%d bytes)", i, len(d.Value))
			}
		}
		if err := independentRules(ci); err != nil {
			t.Fatalf("case %d: the test's own rules reject CoverageInfoFor's answer: %v\n%+v", i, err, ci)
		}
	}
	if len(seen) != 8 {
		t.Fatalf("not every decision × hook kind drawn: %v", seen)
	}
}

// independentRules is nil when ci meets every rule of brokenRules.
func independentRules(ci *davinci.CoverageInfo) error {
	if broken := brokenRules(ci); len(broken) > 0 {
		return fmt.Errorf("%s", strings.Join(broken, "; "))
	}
	return nil
}

// ruleCount is how many rules brokenRules states.
const ruleCount = 16

// brokenRules restates the coverage-information rules of CRD 2.2
// (ext-coverage-information, crd-ci-q1…q5) and of the product, written
// apart from Validate, and names those ci breaks.
func brokenRules(ci *davinci.CoverageInfo) []string {
	var broken []string
	rule := func(ok bool, name string) {
		if !ok {
			broken = append(broken, name)
		}
	}
	implies := func(a, b bool) bool { return !a || b }
	anyIs := func(v string) bool { return ci.Covered == v || ci.PANeeded == v || ci.DocNeeded == v }

	// Cardinalities 1..1.
	rule(ci.Coverage != "", "coverage 1..1")
	rule(ci.Date != "", "date 1..1")
	rule(ci.AssertionID != "", "coverage-assertion-id 1..1")
	rule(ci.Covered == "covered" || ci.Covered == "not-covered" || ci.Covered == "conditional" || ci.Covered == "indeterminate",
		"covered from the CoveredInfo value set")
	// q2 (and its converse, which the FHIRPath expression states).
	rule((ci.Covered == "not-covered") == (ci.PANeeded == ""), "q2: not-covered ⇔ no pa-needed")
	// q3 and the conditional rule.
	rule(implies(len(ci.InfoNeeded) > 0, anyIs("conditional")), "q3: info-needed ⇒ something conditional")
	rule(implies(anyIs("conditional"), len(ci.InfoNeeded) > 0), "conditional ⇒ info-needed")
	// q5.
	rule((ci.PANeeded == "satisfied") == (ci.SatisfiedPAID != ""), "q5: satisfied ⇔ satisfied-pa-id")
	// q1.
	rule(implies(len(ci.Questionnaires) > 0, ci.DocNeeded != ""), "q1: questionnaire ⇒ doc-needed")
	// OTH "must have at least one detail element".
	rule(implies(slices.Contains(ci.InfoNeeded, "OTH"), len(ci.Details) >= 1), "OTH ⇒ ≥ 1 detail")
	// Product rules Validate also enforces (not in the brief's list, needed
	// for "exactly"): indeterminate needs a reason, a detail is a name-value
	// pair (code 1..1, value 1..1), doc-purpose qualifies doc-needed.
	rule(implies(anyIs("indeterminate"), len(ci.Reasons) > 0), "indeterminate ⇒ reason")
	detailsOK := true
	for _, d := range ci.Details {
		detailsOK = detailsOK && d.Code != "" && d.Value != ""
	}
	rule(detailsOK, "detail code 1..1, value 1..1")
	rule(implies(len(ci.DocPurpose) > 0, ci.DocNeeded != ""), "doc-purpose ⇒ doc-needed")
	// q6 and q8.
	rule(implies(slices.Contains(ci.InfoNeeded, "OTH"), len(ci.Reasons) > 0), "q6: OTH ⇒ reason")
	rule(implies(len(ci.DocPurpose) > 0, len(ci.Reasons) > 0), "q8: doc-purpose ⇒ reason")
	rule(!((ci.PANeeded == "satisfied" || ci.PANeeded == "no-auth") && slices.Contains(ci.DocPurpose, "withpa")), "q4: satisfied/no-auth ⇒ no withpa")
	return broken
}

// randCoverageInfo is a random assertion, each field drawn from the valid
// codes, an unknown code or empty, so that every rule is met and broken
// often enough.
func randCoverageInfo(r *rand.Rand) *davinci.CoverageInfo {
	some := func(n int, gen func() string) []string {
		var out []string
		for range r.IntN(n + 1) {
			out = append(out, gen())
		}
		return out
	}
	str := func(p int, v string) string { // v with probability (p-1)/p, else ""
		if r.IntN(p) == 0 {
			return ""
		}
		return v
	}
	ci := &davinci.CoverageInfo{
		Coverage:    str(20, "Coverage/cov-1"),
		Covered:     pick(r, "covered", "not-covered", "conditional", "indeterminate", "", "bogus"),
		PANeeded:    pick(r, "", "", "auth-needed", "no-auth", "satisfied", "performpa", "conditional", "indeterminate"),
		DocNeeded:   pick(r, "", "", "", "clinical", "admin", "conditional", "indeterminate"),
		DocPurpose:  some(1, func() string { return pick(r, "withpa", "withclaim", "OTH") }),
		InfoNeeded:  some(2, func() string { return pick(r, "OTH", "performer", "location", "timeframe") }),
		Reasons:     some(1, func() string { return "a reason" }),
		Date:        str(20, "2026-11-24"),
		AssertionID: str(20, "a1"),
	}
	for range r.IntN(3) {
		ci.Details = append(ci.Details, davinci.Detail{Code: str(8, "Documentation needed"), Value: str(8, "FIX activity")})
	}
	ci.Questionnaires = some(1, func() string { return davinci.QuestionnaireCanonical })
	if ci.PANeeded == "satisfied" && r.IntN(6) != 0 || ci.PANeeded != "satisfied" && r.IntN(12) == 0 {
		ci.SatisfiedPAID = "PA-123"
	}
	return ci
}

// TestPropertyValidateIsExactlyTheRules: on random assertions Validate
// accepts exactly those the independently written rules accept; both
// outcomes are drawn often.
func TestPropertyValidateIsExactlyTheRules(t *testing.T) {
	r := rand.New(rand.NewPCG(propertySeed, 2))
	var valid, invalid int
	alone := map[string]int{} // rule → cases breaking only it
	for i := range propertyCases {
		ci := randCoverageInfo(r)
		got, want := ci.Validate(), independentRules(ci)
		if b := brokenRules(ci); len(b) == 1 {
			alone[b[0]]++
		}
		switch {
		case got == nil && want != nil:
			t.Fatalf("case %d: Validate accepts an assertion breaking %v:\n%+v", i, want, ci)
		case got != nil && want == nil:
			t.Fatalf("case %d: Validate rejects an assertion meeting every rule: %v\n%+v", i, got, ci)
		case got == nil:
			valid++
		default:
			invalid++
		}
	}
	t.Logf("%d cases: %d valid, %d invalid", propertyCases, valid, invalid)
	if valid < propertyCases/50 || invalid < propertyCases/50 {
		t.Fatalf("generator too lopsided: %d valid, %d invalid", valid, invalid)
	}
	// Each rule is broken on its own in some cases, so Validate is shown to
	// check every one of them (not merely to reject what another rule does).
	for _, name := range slices.Sorted(maps.Keys(alone)) {
		t.Logf("  only %q broken: %d cases", name, alone[name])
	}
	if len(alone) != ruleCount {
		t.Fatalf("only %d of %d rules broken alone by the generator: %v", len(alone), ruleCount, alone)
	}
}

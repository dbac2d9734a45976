package rules

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
)

// passingFacts is a fully documented patient every embedded policy but BCBSMS
// approves (the drug on the order left out: each policy takes it as its own).
func passingFacts(policy string) Facts {
	f := benchFacts()
	switch policy {
	case "label-aligned-beqvez":
		f["aavrh74var_nab"] = []Value{{Flag: Negative, Date: day("2026-10-01"), Source: "Observation/nab"}}
	case "ny-pharmacy-109-roctavian":
		delete(f, "hemophilia_b")
		delete(f, "fix_activity")
		delete(f, "fix_inhibitor")
		f["hemophilia_a"] = []Value{{Flag: Positive, Source: "Condition/a"}}
		f["fviii_activity"] = []Value{{Num: 1, HasNum: true, Comparator: "<", Date: day("2019-06-03"), Source: "Observation/f8"}}
		f["fviii_inhibitor"] = []Value{{Num: 0.3, HasNum: true, Comparator: "<", Date: day("2026-11-10"), Source: "Observation/inh"}}
		f["aav5_antibody"] = []Value{{Flag: Negative, Date: day("2026-11-05"), Source: "Observation/aav5"}}
	}
	f.Sort()
	return f
}

// withValue returns a copy of f with v added to fact.
func withValue(f Facts, fact string, v Value) Facts {
	g := maps.Clone(f)
	g[fact] = append(slices.Clone(f[fact]), v)
	g.Sort()
	return g
}

// TestMetamorphicUnreadable is a metamorphic check of the whole engine, over
// every embedded policy: starting from a passing patient and from each
// variant of it with one fact taken away, adding an unreadable value — to any
// fact the catalogue knows, attestations included, undated or at any date —
// never turns a decision that is not approve into approve. And on an
// approving patient, an unreadable value of a disqualifier the policy reads
// (a prior gene therapy, a death, an inhibitor history, a CD4 count) dated
// inside the policy's windows, or undated, stops the approval and is named in
// the missing documentation.
func TestMetamorphicUnreadable(t *testing.T) {
	c, err := builtinCatalog()
	if err != nil {
		t.Fatal(err)
	}
	factNames := make([]string, 0, len(c.Facts))
	for n, info := range c.Facts {
		if info.Kind != KindAge {
			factNames = append(factNames, n)
		}
	}
	slices.Sort(factNames)
	dates := []time.Time{{}, asOf, asOf.AddDate(0, 0, -10), day("2019-01-01")}
	const line = `: Observation/mystery "Mystery" not understood — correct or map it (--codemap)`
	unreadableAt := func(d time.Time) Value {
		return Value{Date: d, Source: "Observation/mystery", Text: "Mystery", Problem: "not understood — correct or map it (--codemap)"}
	}
	disqualifiers := map[string][]string{
		"ucare-hemgenix":            {"prior_gene_therapy", "deceased", "fix_inhibitor", "factor_inhibitor_condition", "cirrhosis", "cd4", "hepatitis_b"},
		"ny-pharmacy-109-hemgenix":  {"prior_gene_therapy", "deceased", "fix_inhibitor", "factor_inhibitor_condition", "cirrhosis", "cd4", "hepatitis_b"},
		"ny-pharmacy-109-roctavian": {"prior_gene_therapy", "deceased", "fviii_inhibitor", "factor_inhibitor_condition", "cirrhosis", "cd4", "hepatitis_c"},
		"label-aligned-hemgenix":    {"prior_gene_therapy", "deceased", "fix_inhibitor", "hiv_rna", "hbv_dna"},
		"label-aligned-beqvez":      {"prior_gene_therapy", "deceased", "aavrh74var_nab"},
	}
	runs, approveBases := 0, 0
	for _, p := range c.Policies {
		base := passingFacts(p.ID)
		d0 := Evaluate(p, base, AsOf(asOf))
		if p.ID != "bcbsms-hemophilia-b-gene-therapy" && d0.Decision != Approve {
			t.Fatalf("%s: passing patient gets %s (%v)", p.ID, d0.Decision, d0.Missing)
		}
		variants := []Facts{base}
		for _, n := range slices.Sorted(maps.Keys(base)) {
			g := maps.Clone(base)
			delete(g, n)
			variants = append(variants, g)
		}
		for vi, f := range variants {
			before := Evaluate(p, f, AsOf(asOf)).Decision
			if before == Approve {
				approveBases++
			}
			for _, fact := range factNames {
				for _, d := range dates {
					after := Evaluate(p, withValue(f, fact, unreadableAt(d)), AsOf(asOf))
					runs++
					if before != Approve && after.Decision == Approve {
						t.Errorf("%s variant %d: an unreadable %s (%s) turns %s into approve", p.ID, vi, fact, d.Format("2006-01-02"), before)
					}
				}
			}
		}
		for _, fact := range disqualifiers[p.ID] {
			for _, d := range dates[:3] { // inside every window (an old value may be stale, rightly unread)
				after := Evaluate(p, withValue(base, fact, unreadableAt(d)), AsOf(asOf))
				runs++
				if after.Decision == Approve {
					t.Errorf("%s: an unreadable %s (%s) is invisible: still approve", p.ID, fact, d.Format("2006-01-02"))
				}
				if !slices.ContainsFunc(after.Missing, func(m string) bool { return strings.HasSuffix(m, line) }) {
					t.Errorf("%s: an unreadable %s (%s) pends without naming it: %q", p.ID, fact, d.Format("2006-01-02"), after.Missing)
				}
			}
		}
	}
	t.Logf("%d evaluations; %d approving starting points", runs, approveBases)
}

package main

import (
	"fmt"
	"io"
	"strings"

	"hemopa/rules"
)

var marks = map[rules.Result]string{rules.Met: "✓", rules.NotMet: "✗", rules.Unknown: "?"}

// writeText renders determinations as checklists a reviewer reads in seconds:
// the decision first, then every criterion with its mark and reason, then what
// is missing. Several policies get a summary table first.
func writeText(w io.Writer, dets []*rules.Determination) {
	if len(dets) > 1 {
		fmt.Fprintf(w, "%-36s %-12s %s\n", "POLICY", "DECISION", "MISSING")
		for _, d := range dets {
			fmt.Fprintf(w, "%-36s %-12s %d\n", d.Policy, d.Decision, len(d.Missing))
		}
		fmt.Fprintln(w)
	}
	for i, d := range dets {
		if i > 0 {
			fmt.Fprintln(w, strings.Repeat("─", 72))
		}
		writeChecklist(w, d)
	}
}

func writeChecklist(w io.Writer, d *rules.Determination) {
	fmt.Fprintf(w, "%s — %s (revised %s)\n", d.Drug, d.Policy, d.PolicyVersion)
	line := "DECISION: " + strings.ToUpper(string(d.Decision))
	if d.Review != "none" {
		line += "  · review: " + d.Review
	}
	if d.ApprovalDays != nil {
		line += fmt.Sprintf("  · approval %d days", *d.ApprovalDays)
	}
	fmt.Fprintf(w, "%s  · as of %s\n", line, d.AsOf)
	if d.Dose != nil {
		fmt.Fprintf(w, "Dose: %.1f kg → %.3g vg, %.1f mL", d.Dose.WeightKg, d.Dose.VectorGenomes, d.Dose.VolumeML)
		if d.Dose.Kit != nil {
			fmt.Fprintf(w, " · kit %d vials, NDC %s", d.Dose.Kit.Vials, d.Dose.Kit.NDC)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)
	for _, c := range d.Criteria {
		writeCriterion(w, c, 0)
	}
	if len(d.Missing) > 0 {
		fmt.Fprintln(w, "\nMissing documentation:")
		for _, m := range d.Missing {
			fmt.Fprintf(w, "  - %s\n", m)
		}
	}
}

func writeCriterion(w io.Writer, c rules.CriterionResult, depth int) {
	indent := strings.Repeat("  ", depth)
	fmt.Fprintf(w, "%s%s %-10s %s\n", indent, marks[c.Result], c.ID, c.Text)
	// Leaves and decisive composites say why; a met composite needs no words.
	if len(c.Children) == 0 || c.Result != rules.Met {
		if c.Reason != "" && (len(c.Children) == 0 || c.Result == rules.NotMet) {
			fmt.Fprintf(w, "%s  %-10s ↳ %s\n", indent, "", c.Reason)
		}
	}
	// A met sub-tree needs no detail below the first level, and a met
	// alternative (any, screen) never does: one branch settled it.
	if c.Result == rules.Met && (depth > 0 || c.Op == rules.OpAny || c.Op == rules.OpScreen) {
		return
	}
	for _, ch := range c.Children {
		writeCriterion(w, ch, depth+1)
	}
}

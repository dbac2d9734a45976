package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"

	"hemopa/cmd/hemopa/internal/davinci"
	"hemopa/rules"
)

func init() {
	register("policies", "list, show or lint the payer policies (list | show ID | lint [FILE…])", runPolicies)
	register("questionnaire", "print the prescriber attestation Questionnaire (DTR form) as FHIR JSON", runQuestionnaire)
}

func runPolicies(ctx context.Context, args []string, env *Env) error {
	sub := "list"
	if len(args) > 0 {
		sub, args = args[0], args[1:]
	}
	switch sub {
	case "list":
		cat, err := rules.Embedded()
		if err != nil {
			return err
		}
		var b bytes.Buffer
		fmt.Fprintf(&b, "%-34s %-10s %-10s %-10s %-9s %s\n", "ID", "DRUGS", "EFFECTIVE", "REVISED", "CRITERIA", "SOURCE")
		for _, p := range cat.Policies {
			fmt.Fprintf(&b, "%-34s %-10s %-10s %-10s %-9d %s\n", p.ID, strings.Join(p.Drugs, ","), p.Effective, p.Revised, countCriteria(p.Criteria), p.Source)
		}
		_, err = env.Stdout.Write(b.Bytes())
		return err
	case "show":
		if len(args) != 1 {
			return usagef("usage: hemopa policies show ID")
		}
		p, err := rules.Lookup(args[0])
		if err != nil {
			return usagef("%v", err)
		}
		var b bytes.Buffer
		fmt.Fprintf(&b, "%s — %s\npayer: %s\ndrugs: %s\nsource: %s (effective %s, revised %s)\n", p.ID, p.Title, p.Payer, strings.Join(p.Drugs, ", "), p.Source, p.Effective, p.Revised)
		if p.ApprovalDays > 0 {
			fmt.Fprintf(&b, "approval: %d days\n", p.ApprovalDays)
		}
		if p.Review != "" {
			fmt.Fprintf(&b, "review: %s\n", p.Review)
		}
		if p.Dose != nil {
			fmt.Fprintf(&b, "dose: %g vg/kg at %g vg/mL", p.Dose.VGPerKg, p.Dose.VGPerML)
			if p.Dose.Kits != "" {
				fmt.Fprintf(&b, ", kits from %s", p.Dose.Kits)
			}
			fmt.Fprintln(&b)
		}
		fmt.Fprintln(&b)
		var walk func(cs []*rules.Criterion, depth int)
		walk = func(cs []*rules.Criterion, depth int) {
			for _, c := range cs {
				extra := ""
				if c.OnFail == rules.NotCovered {
					extra = " [not covered if failed]"
				}
				if c.Documentation != "" {
					extra += " [" + c.Documentation + "]"
				}
				fmt.Fprintf(&b, "%s%-14s %s%s\n%s%-14s   (%s)\n", strings.Repeat("  ", depth), c.ID, c.Text, extra, strings.Repeat("  ", depth), "", c.Citation)
				walk(c.Children, depth+1)
			}
		}
		walk(p.Criteria, 0)
		_, err = env.Stdout.Write(b.Bytes())
		return err
	case "lint":
		var files map[string][]byte
		if len(args) > 0 {
			files = map[string][]byte{}
			for _, f := range args {
				data, err := os.ReadFile(f)
				if err != nil {
					return usagef("%v", err)
				}
				files[f] = data
			}
		}
		errs := rules.Lint(files)
		for _, e := range errs {
			fmt.Fprintln(env.Stderr, e)
		}
		if len(errs) > 0 {
			return &exitError{code: 1, msg: fmt.Sprintf("%d problem(s)", len(errs))}
		}
		n := len(files)
		if files == nil {
			cat, _ := rules.Embedded()
			n = len(cat.Policies)
		}
		fmt.Fprintf(env.Stdout, "%d policies: ok\n", n)
		return nil
	}
	return usagef("unknown policies command %q (list, show ID, lint)", sub)
}

// countCriteria counts every node of the criteria trees.
func countCriteria(cs []*rules.Criterion) int {
	n := 0
	for _, c := range cs {
		n += 1 + countCriteria(c.Children)
	}
	return n
}

func runQuestionnaire(ctx context.Context, args []string, env *Env) error {
	if len(args) > 0 {
		return usagef("questionnaire takes no arguments")
	}
	cat, err := rules.Embedded()
	if err != nil {
		return err
	}
	b, err := davinci.JSON(davinci.Questionnaire(cat), true)
	if err != nil {
		return err
	}
	_, err = env.Stdout.Write(b)
	return err
}

package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing/fstest"

	"hemopa/cmd/hemopa/internal/davinci"
	"hemopa/cmd/hemopa/internal/pipeline"
	"hemopa/rules"
)

func init() {
	register("policies", "list, show, lint or test the payer policies (list | show ID | lint [DIR | FILE…] | test [DIR]; --policies DIR)", runPolicies)
	register("questionnaire", "print the prescriber attestation Questionnaire (DTR form) as FHIR JSON", runQuestionnaire)
}

func runPolicies(ctx context.Context, args []string, env *Env) error {
	sub := "list"
	if len(args) > 0 {
		sub, args = args[0], args[1:]
	}
	switch sub {
	case "lint":
		return lintPolicies(args, env)
	case "test":
		return testPolicies(args, env)
	}
	fs := flag.NewFlagSet("policies "+sub, flag.ContinueOnError)
	policyDir := fs.String("policies", "", policiesFlagHelp)
	if err := parseFlags(fs, args, env); err != nil {
		return err
	}
	if err := applyDefaults(fs, env, ""); err != nil {
		return err
	}
	args = fs.Args()
	var cat *rules.Catalog
	if sub == "list" || sub == "show" {
		c, err := pipeline.LoadPolicies(*policyDir)
		if err != nil {
			return usagef("--policies: %v", err)
		}
		cat = c
	}
	switch sub {
	case "list":
		if len(args) > 0 {
			return usagef("usage: hemopa policies list [--policies DIR]")
		}
		var b bytes.Buffer
		fmt.Fprintf(&b, "%-34s %-10s %-10s %-10s %-9s %s\n", "ID", "DRUGS", "EFFECTIVE", "REVISED", "CRITERIA", "SOURCE")
		for _, p := range cat.Policies {
			fmt.Fprintf(&b, "%-34s %-10s %-10s %-10s %-9d %s\n", p.ID, strings.Join(p.Drugs, ","), p.Effective, p.Revised, countCriteria(p.Criteria), p.Source)
		}
		_, err := env.Stdout.Write(b.Bytes())
		return err
	case "show":
		if len(args) != 1 {
			return usagef("usage: hemopa policies show [--policies DIR] ID")
		}
		p, err := cat.Lookup(args[0])
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
	}
	return usagef("unknown policies command %q (list, show ID, lint, test)", sub)
}

// lintPolicies lints the built-in policies (no argument), a policy directory
// (one directory argument) or policy files (read as a directory holding only
// them, with the built-in vocabulary). It accepts exactly what --policies
// would load.
func lintPolicies(args []string, env *Env) error {
	var (
		fsys fs.FS
		opts []rules.LoadOption
	)
	switch {
	case len(args) == 0:
		fsys = rules.Builtin()
	case len(args) == 1 && isDir(args[0]):
		fsys, opts = os.DirFS(args[0]), []rules.LoadOption{rules.Named(args[0])}
	default:
		m := fstest.MapFS{}
		for _, f := range args {
			if isDir(f) {
				return usagef("policies lint: %s is a directory: give one directory or policy files", f)
			}
			data, err := os.ReadFile(f)
			if err != nil {
				return usagef("%v", err)
			}
			if filepath.Dir(f) != filepath.Dir(args[0]) {
				return usagef("policies lint: %s and %s are in different directories (a policy directory is linted as one)", args[0], f)
			}
			m[filepath.Base(f)] = &fstest.MapFile{Data: data}
		}
		fsys = m
		if dir := filepath.Dir(args[0]); dir != "." {
			opts = append(opts, rules.Named(dir))
		}
	}
	errs := rules.Lint(fsys, opts...)
	for _, e := range errs {
		fmt.Fprintln(env.Stderr, e)
	}
	if len(errs) > 0 {
		return &exitError{code: 1, msg: fmt.Sprintf("%d problem(s)", len(errs))}
	}
	cat, err := rules.Load(fsys, opts...)
	if err != nil { // Lint and Load agree; this would be a bug in rules
		return err
	}
	fmt.Fprintf(env.Stdout, "%d policies: ok\n", len(cat.Policies))
	return nil
}

func isDir(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.IsDir()
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
	fs := flag.NewFlagSet("questionnaire", flag.ContinueOnError)
	policyDir := fs.String("policies", "", policiesFlagHelp)
	if err := parseFlags(fs, args, env); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("questionnaire takes no arguments")
	}
	if err := applyDefaults(fs, env, ""); err != nil {
		return err
	}
	cat, err := pipeline.LoadPolicies(*policyDir)
	if err != nil {
		return usagef("--policies: %v", err)
	}
	b, err := davinci.JSON(davinci.Questionnaire(cat), true)
	if err != nil {
		return err
	}
	_, err = env.Stdout.Write(b)
	return err
}

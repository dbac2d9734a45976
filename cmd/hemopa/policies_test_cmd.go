package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"hemopa/cmd/hemopa/internal/pipeline"
)

// testPolicies runs the test cases of a policy directory: `hemopa policies
// test [DIR]`. Without DIR it runs the built-in policies against the cases of
// the checkout it is run in (rules/policies/testdata; the binary does not
// embed them). One line per case; exit 1 if any case fails or cannot be read.
func testPolicies(args []string, env *Env) error {
	fs := flag.NewFlagSet("policies test", flag.ContinueOnError)
	codemap := fs.String("codemap", "", "site code map (YAML/JSON) for the bundle cases")
	verbose := fs.Bool("v", false, "also print each case's description and what a known issue gets wrong")
	if err := parseFlags(fs, args, env); err != nil {
		return err
	}
	if fs.NArg() > 1 {
		return usagef("usage: hemopa policies test [--codemap FILE] [-v] [DIR]")
	}
	policyDir, caseDir := fs.Arg(0), fs.Arg(0)
	if caseDir == "" {
		root, err := checkoutRules()
		if err != nil {
			return usagef("%v", err)
		}
		caseDir = root
	} else if !isDir(caseDir) {
		return usagef("policies test: %s is not a directory", caseDir)
	}
	p, err := newPipeline(*codemap, policyDir)
	if err != nil {
		return err
	}
	results, runErr := pipeline.RunCases(p, os.DirFS(caseDir), pipeline.CasesOnDisk(displayDir(caseDir)))
	var b bytes.Buffer
	failed, known := 0, 0
	for _, r := range results {
		fmt.Fprintf(&b, "%-5s %s/%s", r.Status, r.Policy, r.Name)
		switch r.Status {
		case pipeline.CaseFail:
			failed++
			fmt.Fprintf(&b, "  (%s)\n", filepath.Join(displayDir(caseDir), filepath.FromSlash(r.File)))
		case pipeline.CaseKnownIssue:
			known++
			fmt.Fprintf(&b, ": %s\n", oneLine(r.KnownIssue))
		default:
			fmt.Fprintln(&b)
		}
		if *verbose && r.Description != "" {
			fmt.Fprintf(&b, "      %s\n", oneLine(r.Description))
		}
		if r.Status == pipeline.CaseFail || (*verbose && r.Status == pipeline.CaseKnownIssue) {
			for _, m := range r.Mismatches {
				fmt.Fprintf(&b, "      %s\n", m)
			}
		}
	}
	fmt.Fprintf(&b, "%d cases: %d ok, %d known issues, %d failed\n", len(results), len(results)-failed-known, known, failed)
	if _, err := env.Stdout.Write(b.Bytes()); err != nil {
		return err
	}
	if runErr != nil {
		fmt.Fprintln(env.Stderr, runErr)
		return &exitError{code: 1, msg: "some cases cannot be read"}
	}
	if failed > 0 {
		return &exitError{code: 1, msg: fmt.Sprintf("%d of %d cases failed", failed, len(results))}
	}
	return nil
}

// checkoutRules finds the built-in policy directory (rules/, holding
// policies/testdata) of the hemopa checkout around the working directory.
func checkoutRules() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		mod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.HasPrefix(string(mod), "module hemopa\n") {
			rules := filepath.Join(dir, "rules")
			if !isDir(filepath.Join(rules, "policies", "testdata")) {
				return "", fmt.Errorf("%s has no policies/testdata", rules)
			}
			return rules, nil
		}
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no DIR given and not inside a hemopa checkout (the built-in policies' cases are read from rules/policies/testdata)")
		}
		dir = parent
	}
}

// displayDir names dir relative to the working directory when it is below it.
func displayDir(dir string) string {
	wd, err := os.Getwd()
	if err != nil || !filepath.IsAbs(dir) {
		return dir
	}
	if rel, err := filepath.Rel(wd, dir); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return rel
	}
	return dir
}

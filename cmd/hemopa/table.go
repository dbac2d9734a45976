package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"path/filepath"
	"strings"

	"hemopa/rules"
)

func init() {
	register("table", "evaluate several bundles and print decisions per patient × policy", runTable)
}

func runTable(ctx context.Context, args []string, env *Env) error {
	fs := flag.NewFlagSet("table", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	policy := fs.String("policy", "all", "policy id, a comma-separated list, or all")
	asOf := fs.String("as-of", "", "day the look-back windows count from (YYYY-MM-DD; default today)")
	codemap := fs.String("codemap", "", "site code map (YAML/JSON)")
	policyDir := fs.String("policies", "", policiesFlagHelp)
	if err := parseFlags(fs, args, env); err != nil {
		return err
	}
	if err := applyDefaults(fs, env, ""); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usagef("give one or more bundle files")
	}
	for _, a := range fs.Args() {
		if strings.HasPrefix(a, "-") && a != "-" {
			return usagef("%s: flags go before the files (hemopa table [flags] FILE…)", a)
		}
	}
	day, err := parseAsOf(*asOf)
	if err != nil {
		return err
	}
	p, err := newPipeline(*codemap, *policyDir)
	if err != nil {
		return err
	}
	policies, err := selectPolicies(p, *policy)
	if err != nil {
		return err
	}
	var out bytes.Buffer
	var row strings.Builder
	endRow := func() {
		fmt.Fprintln(&out, strings.TrimRight(row.String(), " "))
		row.Reset()
	}
	fmt.Fprintf(&row, "%-22s", "PATIENT")
	for _, pol := range policies {
		fmt.Fprintf(&row, " %-*s", colWidth(pol.ID), pol.ID)
	}
	endRow()
	for _, path := range fs.Args() {
		data, name, err := readInput(path, env.Stdin)
		if err != nil {
			return err
		}
		b, err := p.Decoder.DecodeBundle(data)
		if err != nil {
			return usagef("%s: %v", name, err)
		}
		dets, _, err := p.Decide(b, policies, day, "")
		if err != nil {
			return usagef("%s: %v", name, err)
		}
		fmt.Fprintf(&row, "%-22s", strings.TrimSuffix(filepath.Base(path), ".json"))
		for i, d := range dets {
			fmt.Fprintf(&row, " %-*s", colWidth(policies[i].ID), cell(d))
		}
		endRow()
	}
	fmt.Fprintf(&out, "\nas of %s · n = missing items · 'hemopa evaluate --bundle FILE --policy ID' shows the evidence\n", day.Format("2006-01-02"))
	_, err = env.Stdout.Write(out.Bytes())
	return err
}

func colWidth(id string) int { return max(len(id), 16) }

func cell(d *rules.Determination) string {
	if d.Decision == rules.Pend {
		return fmt.Sprintf("pend (%d)", len(d.Missing))
	}
	return string(d.Decision)
}

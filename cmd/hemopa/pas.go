package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"strings"
	"time"

	"hemopa/cmd/hemopa/internal/pas"
	"hemopa/cmd/hemopa/internal/router"
)

func init() {
	register("pas", "Da Vinci PAS offline: submit a PAS request bundle, or inquire about one", runPAS)
}

const pasUsage = "usage: hemopa pas submit|inquire --bundle FILE [--policy ID] [--store PATH] [--as-of YYYY-MM-DD] [--codemap FILE] [--policies DIR]"

// runPAS runs Claim/$submit or Claim/$inquire on a file, against a local
// store, and prints the response bundle. A rejected request (400) exits 2 with
// the OperationOutcome's path and diagnostics; no match for an inquiry (404)
// and a server error exit 1.
func runPAS(ctx context.Context, args []string, env *Env) error {
	if len(args) == 0 || (args[0] != "submit" && args[0] != "inquire") {
		return usagef("%s", pasUsage)
	}
	op := args[0]
	fs := flag.NewFlagSet("pas "+op, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	var bundle, policy, policyDir, store, asOf, codemap string
	fs.StringVar(&bundle, "bundle", "", "PAS request (or inquiry) Bundle JSON file, or - for stdin")
	fs.StringVar(&policy, "policy", "", "policy id deciding the drugs it is written for (default: each drug's default policy)")
	fs.StringVar(&store, "store", "", "decision store file (default: $XDG_DATA_HOME/hemopa/pas.db or ~/.local/share/hemopa/pas.db)")
	fs.StringVar(&asOf, "as-of", "", "review day the look-back windows count from (YYYY-MM-DD; default today)")
	fs.StringVar(&policyDir, "policies", "", policiesFlagHelp)
	fs.StringVar(&codemap, "codemap", "", "site code map (YAML/JSON) mapping local lab codes to facts")
	if err := fs.Parse(args[1:]); err != nil {
		return &exitError{code: 2}
	}
	if err := applyDefaults(fs, env, ""); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	if bundle == "" {
		return usagef("--bundle is required (%s)", pasUsage)
	}
	data, name, err := readInput(bundle, env.Stdin)
	if err != nil {
		return err
	}
	p, err := newPipeline(codemap, policyDir)
	if err != nil {
		return err
	}
	opts := []pas.Option{pas.WithPipeline(p)}
	if policy != "" {
		pol, err := p.Catalog.Lookup(policy)
		if err != nil {
			return usagef("--policy: %v", err)
		}
		r, err := router.ForPolicy(p.Catalog, pol)
		if err != nil {
			return usagef("--policy: %v", err)
		}
		opts = append(opts, pas.WithRouter(r))
	}
	if asOf != "" {
		day, err := parseAsOf(asOf)
		if err != nil {
			return err
		}
		opts = append(opts, pas.WithClock(func() time.Time { return day }))
	}
	if store == "" {
		if store, err = pas.DefaultStorePath(); err != nil {
			return usagef("%v", err)
		}
	}
	opts = append(opts, pas.WithStorePath(store))
	svc, err := pas.NewService(opts...)
	if err != nil {
		return err
	}
	defer svc.Close()
	var status int
	var resp []byte
	if op == "submit" {
		status, resp = svc.Submit(ctx, data)
	} else {
		status, resp = svc.Inquire(ctx, data)
	}
	if status != 200 {
		msg := fmt.Sprintf("%s: %s (status %d)", name, outcomeLine(resp), status)
		if status == 400 {
			return usagef("%s", msg)
		}
		return &exitError{code: 1, msg: msg}
	}
	var out bytes.Buffer
	if err := json.Indent(&out, resp, "", "  "); err != nil {
		return fmt.Errorf("response: %w", err)
	}
	out.WriteByte('\n')
	_, err = env.Stdout.Write(out.Bytes())
	return err
}

// outcomeLine is an OperationOutcome's first issue as "path: diagnostics".
func outcomeLine(resp []byte) string {
	var oo struct {
		Issue []struct {
			Diagnostics string   `json:"diagnostics"`
			Expression  []string `json:"expression"`
		} `json:"issue"`
	}
	if json.Unmarshal(resp, &oo) != nil || len(oo.Issue) == 0 {
		return "request failed"
	}
	is := oo.Issue[0]
	if len(is.Expression) > 0 {
		return strings.Join(is.Expression, ", ") + ": " + is.Diagnostics
	}
	return is.Diagnostics
}

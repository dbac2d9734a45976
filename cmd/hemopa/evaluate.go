package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"os"
	"regexp"
	"strings"

	"hemopa/rules"
)

func init() {
	register("evaluate", "decide prior authorization for one patient's FHIR data", runEvaluate)
}

type evalFlags struct {
	bundle, policy, policyDir, asOf, format, codemap, patient string
	live                                                      liveFlags
}

func runEvaluate(ctx context.Context, args []string, env *Env) error {
	fs := flag.NewFlagSet("evaluate", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	var f evalFlags
	fs.StringVar(&f.bundle, "bundle", "", "FHIR R4 Bundle JSON file, or - for stdin")
	fs.StringVar(&f.policy, "policy", "", "policy id, a comma-separated list, or all")
	fs.StringVar(&f.asOf, "as-of", "", "day the look-back windows count from (YYYY-MM-DD; default today)")
	fs.StringVar(&f.format, "format", "text", "output format: text or json")
	fs.StringVar(&f.policyDir, "policies", "", policiesFlagHelp)
	fs.StringVar(&f.codemap, "codemap", "", "site code map (YAML/JSON) mapping local lab codes to facts")
	fs.StringVar(&f.patient, "patient", "", "patient id (offline: which Patient in the bundle; live: required)")
	f.live.register(fs)
	if err := parseFlags(fs, args, env); err != nil {
		return err
	}
	onCommandLine := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { onCommandLine[fl.Name] = true })
	if err := applyDefaults(fs, env, f.live.config); err != nil {
		return err
	}
	if onCommandLine["bundle"] && !onCommandLine["fhir-server"] {
		f.live.server = "" // an offline run ignores a server from the environment or config
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	if f.format != "text" && f.format != "json" {
		return usagef("--format %q is not text or json", f.format)
	}
	if (f.bundle == "") == (f.live.server == "") {
		return usagef("give exactly one of --bundle FILE and --fhir-server URL")
	}
	patientSet := false
	fs.Visit(func(fl *flag.Flag) { patientSet = patientSet || fl.Name == "patient" }) // command line or config
	if err := checkPatientID(f.patient, patientSet); err != nil {
		return err
	}
	asOf, err := parseAsOf(f.asOf)
	if err != nil {
		return err
	}
	p, err := newPipeline(f.codemap, f.policyDir)
	if err != nil {
		return err
	}
	policies, err := selectPolicies(p, f.policy)
	if err != nil {
		return err
	}
	var dets []*rules.Determination
	var writeErr error
	if f.bundle != "" {
		data, name, err := readInput(f.bundle, env.Stdin)
		if err != nil {
			return err
		}
		b, err := p.Decoder.DecodeBundle(data)
		if err != nil {
			return usagef("%s: %v", name, err)
		}
		dets, _, err = p.Decide(b, policies, asOf, f.patient)
		if err != nil {
			return usagef("%s: %v", name, err)
		}
	} else {
		dets, writeErr, err = evaluateLive(ctx, p, &f, policies, asOf, env)
		if err != nil {
			return err
		}
	}
	// Render fully before writing: nothing half-written on error.
	var out bytes.Buffer
	if f.format == "json" {
		if err := writeJSON(&out, dets, f.policy == "all" || len(dets) > 1); err != nil {
			return err
		}
	} else {
		writeText(&out, dets)
	}
	if _, err := env.Stdout.Write(out.Bytes()); err != nil {
		return err
	}
	return writeErr
}

// fhirID is FHIR R4's id type: [A-Za-z0-9\-\.]{1,64}.
var fhirID = regexp.MustCompile(`^[A-Za-z0-9\-.]{1,64}$`)

// checkPatientID rejects a --patient that was given but is empty, or is not a
// FHIR id (a reference such as Patient/x, a search string): offline it would
// match nothing, live it would be pasted into a search.
func checkPatientID(id string, given bool) error {
	switch {
	case !given && id == "":
		return nil
	case strings.TrimSpace(id) == "":
		return usagef("--patient is empty (give a Patient id, or leave it out offline)")
	case !fhirID.MatchString(id):
		return usagef("--patient %q is not a FHIR id (letters, digits, '-' and '.', at most 64)", id)
	}
	return nil
}

// readInput reads a file or stdin ("-") and names it for error messages.
func readInput(path string, stdin io.Reader) ([]byte, string, error) {
	if path == "-" {
		b, err := io.ReadAll(stdin)
		if err != nil {
			return nil, "stdin", usagef("stdin: %v", err)
		}
		return b, "stdin", nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return nil, path, usagef("%s: %v", path, pe.Err)
		}
		return nil, path, usagef("%v", err)
	}
	return b, path, nil
}

// writeJSON writes one determination as an object, several as an array.
func writeJSON(w io.Writer, dets []*rules.Determination, many bool) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if many {
		return enc.Encode(dets)
	}
	return enc.Encode(dets[0])
}

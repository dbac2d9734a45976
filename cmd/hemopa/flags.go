package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"gopkg.in/yaml.v3"
)

// applyDefaults fills every flag not given on the command line, first from the
// environment (HEMOPA_<FLAG_NAME>, e.g. HEMOPA_FHIR_SERVER) and then from the
// YAML config file (keys are flag names, e.g. "fhir-server: https://…").
// Precedence: command line > environment > config file > built-in default.
func applyDefaults(fs *flag.FlagSet, env *Env, configPath string) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	config := map[string]any{}
	if configPath != "" {
		b, err := os.ReadFile(configPath)
		if err != nil {
			return usagef("--config: %v", err)
		}
		if err := yaml.Unmarshal(b, &config); err != nil {
			return usagef("--config %s: %v", configPath, err)
		}
		for k := range config {
			if fs.Lookup(k) == nil {
				return usagef("--config %s: unknown setting %q", configPath, k)
			}
		}
	}
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || err != nil || f.Name == "config" {
			return
		}
		if v := env.Getenv(envName(f.Name)); v != "" {
			if e := fs.Set(f.Name, v); e != nil {
				err = usagef("%s: %v", envName(f.Name), e)
			}
			return
		}
		if v, ok := config[f.Name]; ok {
			if e := fs.Set(f.Name, fmt.Sprint(v)); e != nil {
				err = usagef("--config %s: %s: %v", configPath, f.Name, e)
			}
		}
	})
	return err
}

func envName(flagName string) string {
	return "HEMOPA_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parseFlags parses args into fs. A bad flag is one line on stderr (exit 2),
// not the whole flag list; -h prints the flags on stdout (exit 0).
func parseFlags(fs *flag.FlagSet, args []string, env *Env) error {
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	fs.SetOutput(env.Stderr)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, flag.ErrHelp):
		fs.SetOutput(env.Stdout)
		fmt.Fprintf(env.Stdout, "usage: hemopa %s [flags]\n", fs.Name())
		fs.PrintDefaults()
		return &exitError{code: 0}
	}
	return usagef("%v (see 'hemopa %s -h')", err, fs.Name())
}

package main

import (
	"time"

	"hemopa/cmd/hemopa/internal/pipeline"
	"hemopa/rules"
)

// policiesFlagHelp is the --policies flag's help, the same on every command.
const policiesFlagHelp = "site policy directory (*.yaml or policies/*.yaml; linted before use; default: the built-in policies)"

func newPipeline(codemapPath, policyDir string) (*pipeline.Pipeline, error) {
	p, err := pipeline.New(pipeline.WithPolicyDir(policyDir), pipeline.WithCodeMap(codemapPath))
	if err != nil {
		return nil, usagef("%v", err)
	}
	return p, nil
}

func selectPolicies(p *pipeline.Pipeline, spec string) ([]*rules.Policy, error) {
	ps, err := p.SelectPolicies(spec)
	if err != nil {
		return nil, usagef("%v", err)
	}
	return ps, nil
}

func parseAsOf(s string) (time.Time, error) {
	if s == "" || s == "today" {
		return time.Now().UTC(), nil
	}
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		return time.Time{}, usagef("--as-of %q is not a date (YYYY-MM-DD)", s)
	}
	return t, nil
}

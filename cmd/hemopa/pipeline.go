package main

import (
	"time"

	"hemopa/cmd/hemopa/internal/pipeline"
	"hemopa/rules"
)

func newPipeline(codemapPath string) (*pipeline.Pipeline, error) {
	p, err := pipeline.New(codemapPath)
	if err != nil {
		return nil, usagef("%v", err)
	}
	return p, nil
}

func selectPolicies(spec string) ([]*rules.Policy, error) {
	ps, err := pipeline.SelectPolicies(spec)
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

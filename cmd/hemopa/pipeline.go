package main

import (
	"os"
	"strings"
	"time"

	bcrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"

	"hemopa/fhir"
	"hemopa/mapping"
	"hemopa/rules"
)

// pipeline is decode → map → evaluate, built once and shared.
type pipeline struct {
	decoder *fhir.Decoder
	mapper  *mapping.Mapper
}

func newPipeline(codemapPath string) (*pipeline, error) {
	var opts []mapping.Option
	if codemapPath != "" {
		b, err := os.ReadFile(codemapPath)
		if err != nil {
			return nil, usagef("--codemap: %v", err)
		}
		opts = append(opts, mapping.WithCodeMap(codemapPath, b))
	}
	m, err := mapping.New(opts...)
	if err != nil {
		return nil, usagef("%v", err)
	}
	d, err := fhir.NewDecoder(fhir.WithFilter(func(p fhir.Peek) bool { return m.Wants(p.ResourceType, p.Codes()) }))
	if err != nil {
		return nil, err
	}
	return &pipeline{decoder: d, mapper: m}, nil
}

// selectPolicies resolves --policy (an id, a comma list, or "all").
func selectPolicies(spec string) ([]*rules.Policy, error) {
	cat, err := rules.Embedded()
	if err != nil {
		return nil, err
	}
	if spec == "" {
		return nil, usagef("--policy is required (an id, or all; see 'hemopa policies list')")
	}
	if spec == "all" {
		return cat.Policies, nil
	}
	var out []*rules.Policy
	for _, id := range splitComma(spec) {
		p, err := cat.Lookup(id)
		if err != nil {
			return nil, usagef("%v", err)
		}
		out = append(out, p)
	}
	return out, nil
}

// decide maps one patient's bundle and evaluates each policy.
func (p *pipeline) decide(b *bcrpb.Bundle, policies []*rules.Policy, asOf time.Time, patientID string) ([]*rules.Determination, *mapping.Chart, error) {
	var mopts []mapping.MapOption
	if patientID != "" {
		mopts = append(mopts, mapping.ForPatient(patientID))
	}
	chart, err := p.mapper.Map(b, mopts...)
	if err != nil {
		return nil, nil, err
	}
	dets := make([]*rules.Determination, 0, len(policies))
	for _, pol := range policies {
		dets = append(dets, rules.Evaluate(pol, chart.Facts, rules.AsOf(asOf)))
	}
	return dets, chart, nil
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

func splitComma(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

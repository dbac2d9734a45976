// Package pipeline is the product's one path from FHIR to a decision:
// decode (keeping only what mapping wants) → map to facts → evaluate policies.
// The CLI, the live FHIR path and the server all use it.
package pipeline

import (
	"fmt"
	"os"
	"strings"
	"time"

	bcrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"

	"hemopa/fhir"
	"hemopa/mapping"
	"hemopa/rules"
)

// decodeCacheSize bounds the decoded-resource cache (a few KiB each).
const decodeCacheSize = 4096

// Pipeline is safe for concurrent use.
type Pipeline struct {
	Decoder *fhir.Decoder
	Mapper  *mapping.Mapper
}

// New builds the pipeline, with a site code map file if codemapPath is set.
func New(codemapPath string) (*Pipeline, error) {
	var opts []mapping.Option
	if codemapPath != "" {
		b, err := os.ReadFile(codemapPath)
		if err != nil {
			return nil, fmt.Errorf("--codemap: %w", err)
		}
		opts = append(opts, mapping.WithCodeMap(codemapPath, b))
	}
	m, err := mapping.New(opts...)
	if err != nil {
		return nil, err
	}
	// The cache is bounded (memory stays flat) and pays off in the service,
	// where the same prefetch or PAS bundle arrives more than once.
	d, err := fhir.NewDecoder(fhir.WithFilter(func(p fhir.Peek) bool { return m.Wants(p.ResourceType, p.Raw) }), fhir.WithCache(decodeCacheSize))
	if err != nil {
		return nil, err
	}
	return &Pipeline{Decoder: d, Mapper: m}, nil
}

// SelectPolicies resolves a policy spec: an id, a comma-separated list, or
// "all". Spaces around ids and empty list items (a trailing comma) are
// ignored; a spec naming no policy, an unknown id, an id given twice or "all"
// inside a list is an error. The result is never empty.
func SelectPolicies(spec string) ([]*rules.Policy, error) {
	cat, err := rules.Embedded()
	if err != nil {
		return nil, err
	}
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return nil, fmt.Errorf("--policy is required (an id, or all; see 'hemopa policies list')")
	}
	if spec == "all" {
		return cat.Policies, nil
	}
	var out []*rules.Policy
	seen := map[string]bool{}
	for _, id := range strings.Split(spec, ",") {
		if id = strings.TrimSpace(id); id == "" {
			continue
		}
		if id == "all" {
			return nil, fmt.Errorf("--policy: \"all\" cannot be part of a list")
		}
		if seen[id] {
			return nil, fmt.Errorf("--policy: %s is listed more than once", id)
		}
		seen[id] = true
		p, err := cat.Lookup(id)
		if err != nil {
			return nil, fmt.Errorf("--policy: %w", err)
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--policy %q: no policy id (give an id, a comma-separated list, or all; see 'hemopa policies list')", spec)
	}
	return out, nil
}

// Decide maps one patient's bundle and evaluates each policy as of a day.
// patientID picks the patient when the bundle holds several ("" otherwise).
// Extra mapping options (mapping.WithGaps) may follow.
func (p *Pipeline) Decide(b *bcrpb.Bundle, policies []*rules.Policy, asOf time.Time, patientID string, extra ...mapping.MapOption) ([]*rules.Determination, *mapping.Chart, error) {
	mopts := append([]mapping.MapOption(nil), extra...)
	if patientID != "" {
		mopts = append(mopts, mapping.ForPatient(patientID))
	}
	chart, err := p.Mapper.Map(b, mopts...)
	if err != nil {
		return nil, nil, err
	}
	dets := make([]*rules.Determination, 0, len(policies))
	for _, pol := range policies {
		dets = append(dets, rules.Evaluate(pol, chart.Facts, rules.AsOf(asOf)))
	}
	return dets, chart, nil
}

// DecideJSON decodes Bundle JSON and decides; decoding errors name the FHIR path.
func (p *Pipeline) DecideJSON(data []byte, policies []*rules.Policy, asOf time.Time, patientID string) ([]*rules.Determination, *mapping.Chart, error) {
	b, err := p.Decoder.DecodeBundle(data)
	if err != nil {
		return nil, nil, err
	}
	return p.Decide(b, policies, asOf, patientID)
}

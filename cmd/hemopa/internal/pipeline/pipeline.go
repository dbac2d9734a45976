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

// Pipeline is safe for concurrent use. It carries the policy catalog its
// mapper was built for: the policies it selects and evaluates come from it.
type Pipeline struct {
	Decoder *fhir.Decoder
	Mapper  *mapping.Mapper
	Catalog *rules.Catalog
}

// Option configures New.
type Option func(*config) error

type config struct {
	catalog *rules.Catalog
	mopts   []mapping.Option
}

// WithCatalog evaluates a loaded policy catalog instead of the built-in one.
func WithCatalog(c *rules.Catalog) Option {
	return func(cfg *config) error {
		if c == nil {
			return fmt.Errorf("pipeline: nil policy catalog")
		}
		cfg.catalog = c
		return nil
	}
}

// WithPolicyDir loads a site's policy directory (linted first: a directory
// with any problem is refused, naming the file and line). "" keeps the
// built-in policies.
func WithPolicyDir(dir string) Option {
	return func(cfg *config) error {
		if dir == "" {
			return nil
		}
		c, err := LoadPolicies(dir)
		if err != nil {
			return fmt.Errorf("--policies: %w", err)
		}
		cfg.catalog = c
		return nil
	}
}

// LoadPolicies loads a policy directory from disk ("" = the built-in set).
func LoadPolicies(dir string) (*rules.Catalog, error) {
	if dir == "" {
		return rules.Load(rules.Builtin())
	}
	st, err := os.Stat(dir)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%s: not a directory", dir)
	}
	// Load's messages name each file under dir with its line.
	return rules.Load(os.DirFS(dir), rules.Named(dir))
}

// WithCodeMap adds a site code map file ("" = none).
func WithCodeMap(path string) Option {
	return func(cfg *config) error {
		if path == "" {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("--codemap: %w", err)
		}
		cfg.mopts = append(cfg.mopts, mapping.WithCodeMap(path, b))
		return nil
	}
}

// New builds the pipeline: the built-in policies and code tables unless
// options say otherwise.
func New(opts ...Option) (*Pipeline, error) {
	var cfg config
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	if cfg.catalog == nil {
		c, err := rules.Load(rules.Builtin())
		if err != nil {
			return nil, err
		}
		cfg.catalog = c
	}
	m, err := mapping.New(cfg.catalog, cfg.mopts...)
	if err != nil {
		return nil, err
	}
	// The cache is bounded (memory stays flat) and pays off in the service,
	// where the same prefetch or PAS bundle arrives more than once.
	d, err := fhir.NewDecoder(fhir.WithFilter(func(p fhir.Peek) bool { return m.Wants(p.ResourceType, p.Raw) }), fhir.WithCache(decodeCacheSize))
	if err != nil {
		return nil, err
	}
	return &Pipeline{Decoder: d, Mapper: m, Catalog: cfg.catalog}, nil
}

// SelectPolicies resolves a policy spec against the pipeline's catalog: an
// id, a comma-separated list, or "all". Spaces around ids and empty list
// items (a trailing comma) are ignored; a spec naming no policy, an unknown
// id, an id given twice or "all" inside a list is an error. The result is
// never empty.
func (p *Pipeline) SelectPolicies(spec string) ([]*rules.Policy, error) {
	cat := p.Catalog
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

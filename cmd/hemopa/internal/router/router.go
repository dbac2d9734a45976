// Package router chooses the policy that decides a gene therapy for a payer
// (drug × payer → policy): the one routing shared by CRD, DTR, PAS and the
// CLI, configured once and checked against the policy catalog when built.
package router

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"hemopa/rules"
)

//go:embed defaults.yaml
var defaultsYAML []byte

// builtin is defaults.yaml: the drugs the product decides for and the
// policy for each when nothing is configured.
var builtin = func() (d struct {
	Drugs         []string          `yaml:"drugs"`
	DefaultPolicy map[string]string `yaml:"default_policy"`
}) {
	dec := yaml.NewDecoder(bytes.NewReader(defaultsYAML))
	dec.KnownFields(true)
	if err := dec.Decode(&d); err != nil {
		panic("router: defaults.yaml: " + err.Error()) // embedded and tested: a broken build
	}
	return d
}()

// Drugs the product decides for (defaults.yaml).
var Drugs = builtin.Drugs

// Config is the routing configuration; its YAML keys are the serve config's
// payers: and default_policy:.
type Config struct {
	// Payers map a payor to the policies of that payer.
	Payers []Payer `yaml:"payers"`
	// DefaultPolicy is the policy per drug (Hemgenix, Beqvez, Roctavian)
	// when the payer is not listed or has no policy for the drug.
	DefaultPolicy map[string]string `yaml:"default_policy"`
	// Unmanaged is the answer about orders hemopa has no policy for, for
	// every payer that sets none (nil: DefaultUnmanaged).
	Unmanaged *Unmanaged `yaml:"unmanaged"`
}

// Payer maps a payor to its policies (the first covering the drug wins).
// Policy is shorthand for a first entry of Policies.
type Payer struct {
	Name     string     `yaml:"name"`
	Match    PayerMatch `yaml:"match"`
	Policy   string     `yaml:"policy"`
	Policies []string   `yaml:"policies"`
	// Unmanaged is what this payer wants said about orders hemopa has no
	// policy for (nil: the configuration's Unmanaged).
	Unmanaged *Unmanaged `yaml:"unmanaged"`
	// AuthorizeAtOrder lets CRD grant the authorization at order time: on a
	// primary hook, an approval needing no human review is answered
	// pa-needed satisfied with a satisfied-pa-id recorded for PAS (default
	// false: auth-needed, the PA goes through PAS).
	AuthorizeAtOrder bool `yaml:"authorize_at_order"`
}

// PayerMatch matches a payor: every field set must match.
type PayerMatch struct {
	System    string `yaml:"system"`    // one of the payor's identifiers: system …
	Value     string `yaml:"value"`     // … and value
	Reference string `yaml:"reference"` // payor reference, e.g. Organization/ucare (Type/id tail compared)
	Display   string `yaml:"display"`   // payor display or Organization.name, case-insensitive
}

// Payor is who pays, as a request names it: a Coverage.payor, or the payor
// Organization a PAS Claim references.
type Payor struct {
	Reference   string       // the reference as written
	Display     string       // the reference's display, or Organization.name
	Identifiers []Identifier // the reference's identifier, or Organization.identifier
}

// Identifier is one identifier of a payor.
type Identifier struct{ System, Value string }

// ErrUnrouted is Route's answer for a payor no configured payer matches when
// the drug has no default policy.
var ErrUnrouted = errors.New("the payor is not one this service decides for, and no default policy covers the drug")

// Router routes a drug under a payor to a policy. Build it with New; it is
// immutable and safe for concurrent use.
type Router struct {
	payers    []payer
	defaults  map[string]*rules.Policy
	unmanaged Unmanaged
}

type payer struct {
	name      string
	match     PayerMatch
	policies  []*rules.Policy
	unmanaged *Unmanaged
	atOrder   bool
}

// Normalize folds each payer's Policy shorthand into its Policies (then
// Policy is empty); New does it to its own copy.
func (c *Config) Normalize() {
	for i, p := range c.Payers {
		if p.Policy != "" {
			c.Payers[i].Policies = append([]string{p.Policy}, p.Policies...)
			c.Payers[i].Policy = ""
		}
	}
}

// New checks cfg against cat and builds its Router. Errors name the config
// key at fault (payers[i] (name), default_policy.Drug), all of them at once.
func New(cat *rules.Catalog, cfg Config) (*Router, error) {
	cfg.Payers = slices.Clone(cfg.Payers)
	cfg.Normalize()
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	r := &Router{defaults: map[string]*rules.Policy{}, unmanaged: DefaultUnmanaged}
	if cfg.Unmanaged != nil {
		if err := cfg.Unmanaged.check("unmanaged"); err != nil {
			bad("%v", err)
		}
		r.unmanaged = *cfg.Unmanaged
	}
	for i, p := range cfg.Payers {
		where := fmt.Sprintf("payers[%d] (%s)", i, p.Name)
		m := p.Match
		if m == (PayerMatch{}) {
			bad("%s: match needs system+value, reference or display", where)
		}
		if (m.System == "") != (m.Value == "") {
			bad("%s: match.system and match.value go together", where)
		}
		if len(p.Policies) == 0 {
			bad("%s: policy or policies is required", where)
		}
		py := payer{name: p.Name, match: m, atOrder: p.AuthorizeAtOrder}
		if p.Unmanaged != nil {
			if err := p.Unmanaged.check(where + ".unmanaged"); err != nil {
				bad("%v", err)
			}
			u := *p.Unmanaged
			py.unmanaged = &u
		}
		for _, id := range p.Policies {
			pol, err := cat.Lookup(id)
			if err != nil {
				bad("%s: %v", where, err)
				continue
			}
			py.policies = append(py.policies, pol)
		}
		r.payers = append(r.payers, py)
	}
	for _, drug := range slices.Sorted(maps.Keys(cfg.DefaultPolicy)) {
		id := cfg.DefaultPolicy[drug]
		if !slices.Contains(Drugs, drug) {
			bad("default_policy: %q is not one of %s", drug, strings.Join(Drugs, ", "))
			continue
		}
		pol, err := cat.Lookup(id)
		switch {
		case err != nil:
			bad("default_policy.%s: %v", drug, err)
		case !covers(pol, drug):
			bad("default_policy.%s: policy %s does not cover %s", drug, id, drug)
		default:
			r.defaults[drug] = pol
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return r, nil
}

// BuiltinDefaults returns the built-in drug → policy defaults (defaults.yaml) that cat has
// (a site's policy directory without one leaves that drug without a
// default), for Config.DefaultPolicy.
func BuiltinDefaults(cat *rules.Catalog) map[string]string {
	out := map[string]string{}
	for drug, id := range builtin.DefaultPolicy {
		if _, err := cat.Lookup(id); err == nil {
			out[drug] = id
		}
	}
	return out
}

// ForPolicy routes each drug pol is written for to pol, and the other drugs
// to their built-in defaults (where cat has them): the CLI's --policy.
func ForPolicy(cat *rules.Catalog, pol *rules.Policy) (*Router, error) {
	defaults := BuiltinDefaults(cat)
	for _, drug := range pol.Drugs {
		defaults[drug] = pol.ID
	}
	return New(cat, Config{DefaultPolicy: defaults})
}

// Route chooses the policy for drug under payors (a Coverage may name
// several; the first configured payer matching any of them is theirs): that
// payer's first policy covering the drug, else the drug's default policy.
// payer is the configured payer's name ("" when none matches). A nil policy
// with a nil error means the payer is listed but nothing covers the drug;
// no payer matching and no default is ErrUnrouted.
func (r *Router) Route(drug string, payors ...Payor) (pol *rules.Policy, payer string, err error) {
	p := r.payerOf(payors)
	if p != nil {
		for _, pol := range p.policies {
			if covers(pol, drug) {
				return pol, p.name, nil
			}
		}
	}
	if pol := r.defaults[drug]; pol != nil {
		return pol, nameOf(p), nil
	}
	if p == nil {
		return nil, "", ErrUnrouted
	}
	return nil, p.name, nil
}

// AuthorizesAtOrder reports whether the configured payer matching payors
// authorizes at order time (authorize_at_order); false when none matches.
func (r *Router) AuthorizesAtOrder(payors ...Payor) bool {
	p := r.payerOf(payors)
	return p != nil && p.atOrder
}

func nameOf(p *payer) string {
	if p == nil {
		return ""
	}
	return p.name
}

// payerOf is the first configured payer matching one of payors (nil: none).
func (r *Router) payerOf(payors []Payor) *payer {
	for i := range r.payers {
		p := &r.payers[i]
		for _, py := range payors {
			if p.match.matches(py) {
				return p
			}
		}
	}
	return nil
}

func (m PayerMatch) matches(p Payor) bool {
	if m.System != "" && !slices.Contains(p.Identifiers, Identifier{m.System, m.Value}) {
		return false
	}
	if m.Reference != "" && !SameRef(p.Reference, m.Reference) {
		return false
	}
	if m.Display != "" && !strings.EqualFold(strings.TrimSpace(p.Display), m.Display) {
		return false
	}
	return true
}

// SameRef compares references by their Type/id tail.
func SameRef(a, b string) bool {
	tail := func(s string) string {
		parts := strings.Split(strings.TrimRight(s, "/"), "/")
		if len(parts) < 2 {
			return s
		}
		return parts[len(parts)-2] + "/" + parts[len(parts)-1]
	}
	return a != "" && tail(a) == tail(b)
}

// covers reports whether a policy is written for a drug.
func covers(p *rules.Policy, drug string) bool { return slices.Contains(p.Drugs, drug) }

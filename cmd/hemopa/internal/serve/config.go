package serve

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"hemopa/auth"
	"hemopa/cmd/hemopa/internal/pipeline"
	"hemopa/cmd/hemopa/internal/router"
	"hemopa/rules"
)

// Config is the server configuration (YAML; see
// testdata/serve/config.example.yaml for a commented example). Relative file
// paths are resolved against the config file's directory.
type Config struct {
	// PublicBaseURL is the URL clients call, without a trailing slash; a
	// token's aud must equal it plus the request path.
	PublicBaseURL string `yaml:"public_base_url"`
	// Issuers are the allow-listed JWT issuers with their keys.
	Issuers []Issuer `yaml:"issuers"`
	// Routing is the routing of a drug under a payer to a policy: payers (a
	// Coverage's payor → the payer's policies) and default_policy (per drug).
	Routing router.Config `yaml:",inline"`
	// PolicyLinks are the documents cards link to, by policy id; other
	// policies use PolicyLinkTemplate with {policy} replaced.
	PolicyLinks        map[string]string `yaml:"policy_links"`
	PolicyLinkTemplate string            `yaml:"policy_link_template"`
	// DiscoveryAuth requires a JWT on GET /cds-services too (default false:
	// discovery is open, it carries no PHI). Hook, feedback, DTR and PAS
	// endpoints always verify the JWT, jti replay included.
	DiscoveryAuth bool `yaml:"discovery_auth"`
	// JWKSFile is the product's public JWKS, served at /.well-known/jwks.json.
	JWKSFile string `yaml:"jwks_file"`
	// BodyLimit caps request bodies in bytes (default 5 MiB); beyond: 413.
	BodyLimit int64 `yaml:"body_limit"`
	// RateLimit is per client: the JWT issuer, or the remote IP without auth.
	RateLimit RateLimit   `yaml:"rate_limit"`
	Timeouts  Timeouts    `yaml:"timeouts"`
	Token     TokenRules  `yaml:"token"`
	Cache     CacheConfig `yaml:"cache"`
	// AsOf fixes the evaluation day (YYYY-MM-DD) for tests; "" means today.
	AsOf string `yaml:"as_of"`
	// CodeMap is a site code map file (see hemopa evaluate --codemap).
	CodeMap string `yaml:"codemap"`
	// Policies is a site's policy directory (see hemopa evaluate --policies),
	// linted when the config is read; "" is the built-in policies.
	Policies string `yaml:"policies"`
	// PAS configures the Claim/$submit service.
	PAS PASConfig `yaml:"pas"`
	// AllowedFHIRServers are URL prefixes of the EHR FHIR servers the service
	// may read missing prefetch from with a hook's fhirAuthorization (empty:
	// any https server, or http on loopback). Guards against a hook steering
	// the service to arbitrary URLs.
	AllowedFHIRServers []string `yaml:"allowed_fhir_servers"`

	asOf    time.Time
	catalog *rules.Catalog
	router  *router.Router
}

// Issuer is one allow-listed JWT issuer: its keys from a JWKS URL (refreshed,
// refetched on an unknown kid) or a JWKS file.
type Issuer struct {
	Iss      string `yaml:"iss"`
	JWKSURL  string `yaml:"jwks_url"`
	JWKSFile string `yaml:"jwks_file"`
}

// RateLimit is a token bucket per client.
type RateLimit struct {
	PerSecond float64 `yaml:"per_second"` // default 50; negative disables
	Burst     int     `yaml:"burst"`      // default 2 × per_second
}

// Timeouts of the HTTP server and of FHIR reads made for missing prefetch.
type Timeouts struct {
	ReadHeader time.Duration `yaml:"read_header"` // default 5s
	Read       time.Duration `yaml:"read"`        // default 15s
	Write      time.Duration `yaml:"write"`       // default 30s
	Idle       time.Duration `yaml:"idle"`        // default 120s
	FHIR       time.Duration `yaml:"fhir"`        // default 8s, all reads of one hook call
	Shutdown   time.Duration `yaml:"shutdown"`    // default 10s
}

// TokenRules tune inbound JWT checks.
type TokenRules struct {
	Leeway      time.Duration `yaml:"leeway"`       // clock skew allowed on exp/iat (default 30s)
	MaxLifetime time.Duration `yaml:"max_lifetime"` // exp at most this far ahead (default 5m)
}

// CacheConfig bounds the in-memory cache of determinations (keyed by the
// digest of every input: the same data gives the same result). Decoded
// resources are cached by the pipeline's decoder. 0 keeps the default; a
// negative size disables the cache.
type CacheConfig struct {
	Decisions int           `yaml:"decisions"` // default 2000 determinations
	TTL       time.Duration `yaml:"ttl"`       // default 5m
}

// PASConfig is handed to the PAS service.
type PASConfig struct {
	Store string `yaml:"store"` // decision store path
}

// LoadConfig reads, defaults and checks a YAML config file.
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	cfg, err := ParseConfig(b, filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// ParseConfig parses YAML (unknown keys are errors); relative paths are
// resolved against dir.
func ParseConfig(data []byte, dir string) (*Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) { // empty file: defaults
		return nil, err
	}
	rel := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) && dir != "" {
			*p = filepath.Join(dir, *p)
		}
	}
	rel(&c.JWKSFile)
	rel(&c.CodeMap)
	rel(&c.Policies)
	rel(&c.PAS.Store)
	for i := range c.Issuers {
		rel(&c.Issuers[i].JWKSFile)
	}
	c.defaults()
	if err := c.check(); err != nil {
		return nil, err
	}
	return &c, nil
}

func (c *Config) defaults() {
	c.PublicBaseURL = strings.TrimRight(c.PublicBaseURL, "/")
	if c.BodyLimit == 0 {
		c.BodyLimit = 5 << 20
	}
	if c.RateLimit.PerSecond == 0 {
		c.RateLimit.PerSecond = 50
	}
	if c.RateLimit.Burst == 0 {
		c.RateLimit.Burst = max(1, int(2*c.RateLimit.PerSecond))
	}
	t := &c.Timeouts
	for _, d := range []struct {
		p   *time.Duration
		def time.Duration
	}{{&t.ReadHeader, 5 * time.Second}, {&t.Read, 15 * time.Second}, {&t.Write, 30 * time.Second},
		{&t.Idle, 120 * time.Second}, {&t.FHIR, 8 * time.Second}, {&t.Shutdown, 10 * time.Second},
		{&c.Token.Leeway, 30 * time.Second}, {&c.Token.MaxLifetime, 5 * time.Minute}, {&c.Cache.TTL, 5 * time.Minute}} {
		if *d.p == 0 {
			*d.p = d.def
		}
	}
	if c.Cache.Decisions == 0 {
		c.Cache.Decisions = 2000
	}
	if c.PolicyLinkTemplate == "" {
		c.PolicyLinkTemplate = "https://hemopa.org/policies/{policy}"
	}
}

func (c *Config) check() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.PublicBaseURL != "" {
		if u, err := url.Parse(c.PublicBaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
			bad("public_base_url %q: want an absolute http(s) URL without a query", c.PublicBaseURL)
		}
	}
	seen := map[string]bool{}
	for i, is := range c.Issuers {
		switch {
		case is.Iss == "":
			bad("issuers[%d]: iss is required", i)
		case seen[is.Iss]:
			bad("issuers[%d]: iss %q listed twice", i, is.Iss)
		}
		seen[is.Iss] = true
		if (is.JWKSURL == "") == (is.JWKSFile == "") {
			bad("issuers[%d] (%s): give exactly one of jwks_url and jwks_file", i, is.Iss)
		}
		if is.JWKSURL != "" {
			if u, err := url.Parse(is.JWKSURL); err != nil || (u.Scheme != "https" && !(u.Scheme == "http" && auth.IsLoopbackHost(u.Hostname()))) {
				bad("issuers[%d] (%s): jwks_url %q: want https (http only on loopback)", i, is.Iss, is.JWKSURL)
			}
		}
	}
	cat, err := pipeline.LoadPolicies(c.Policies)
	if err != nil {
		return fmt.Errorf("policies: %w", err)
	}
	c.catalog = cat
	known := func(where, id string) {
		if _, err := cat.Lookup(id); err != nil {
			bad("%s: %v", where, err)
		}
	}
	c.Routing.Normalize()
	if c.router, err = router.New(cat, c.Routing); err != nil {
		errs = append(errs, err)
	}
	for id := range c.PolicyLinks {
		known("policy_links", id)
	}
	if c.AsOf != "" {
		t, err := time.Parse("2006-01-02", c.AsOf)
		if err != nil {
			bad("as_of %q is not a date (YYYY-MM-DD)", c.AsOf)
		}
		c.asOf = t
	}
	if c.BodyLimit < 1024 {
		bad("body_limit %d: at least 1024 bytes", c.BodyLimit)
	}
	if c.Token.Leeway < 0 || c.Token.Leeway > 5*time.Minute {
		bad("token.leeway %v: between 0 and 5m", c.Token.Leeway)
	}
	return errors.Join(errs...)
}

// checkAuth reports what an authenticated server lacks.
func (c *Config) checkAuth() error {
	if c.PublicBaseURL == "" {
		return errors.New("public_base_url is required (a token's aud is checked against it)")
	}
	if len(c.Issuers) == 0 {
		return errors.New("issuers: at least one allow-listed issuer is required (or run with --insecure-dev on loopback)")
	}
	return nil
}

// fhirServerAllowed reports whether the service may call a hook's fhirServer.
func (c *Config) fhirServerAllowed(server string) bool {
	u, err := url.Parse(server)
	if err != nil || u.Host == "" || u.User != nil {
		return false
	}
	if len(c.AllowedFHIRServers) == 0 {
		return u.Scheme == "https" || (u.Scheme == "http" && auth.IsLoopbackHost(u.Hostname()))
	}
	for _, p := range c.AllowedFHIRServers {
		if server == strings.TrimRight(p, "/") || strings.HasPrefix(server, strings.TrimRight(p, "/")+"/") {
			return true
		}
	}
	return false
}

// Catalog is the policy catalog the config was checked against: the site's
// directory (Policies) or the built-in policies.
func (c *Config) Catalog() *rules.Catalog { return c.catalog }

// Router is the drug × payer → policy routing the config describes, checked
// against Catalog; CRD, DTR and PAS share it.
func (c *Config) Router() *router.Router { return c.router }

// FixedDay is the configured as_of day, if any.
func (c *Config) FixedDay() (time.Time, bool) { return c.asOf, !c.asOf.IsZero() }

// evalDay is the as-of day of an evaluation.
func (c *Config) evalDay() time.Time {
	if !c.asOf.IsZero() {
		return c.asOf
	}
	return time.Now().UTC()
}

// policyLink is the document a card links to.
func (c *Config) policyLink(id string) string {
	if l := c.PolicyLinks[id]; l != "" {
		return l
	}
	return strings.ReplaceAll(c.PolicyLinkTemplate, "{policy}", url.PathEscape(id))
}

package crd

import (
	"net/url"
	"time"

	"hemopa/cmd/hemopa/internal/pipeline"
	"hemopa/cmd/hemopa/internal/router"
)

// Service decides hook orders and questionnaire packages. Build it with
// New; it is safe for concurrent use.
type Service struct {
	p       *pipeline.Pipeline
	router  *router.Router
	dec     *decider
	link    func(policyID string) string
	day     func() time.Time
	auths   Authorizations // nil: never satisfied (see authorize.go)
	authErr func(error)
}

type options struct {
	link      func(string) string
	day       func() time.Time
	cacheSize int
	cacheTTL  time.Duration
	observe   func(cache string, hit bool)
	auths     Authorizations
	authErr   func(error)
}

// Option configures New.
type Option func(*options)

// WithPolicyLink sets the document a card links to for a policy (default:
// https://hemopa.org/policies/{id}).
func WithPolicyLink(link func(policyID string) string) Option {
	return func(o *options) { o.link = link }
}

// WithEvalDay sets the day determinations are made as of (default: today, UTC).
func WithEvalDay(day func() time.Time) Option { return func(o *options) { o.day = day } }

// WithCache bounds the caches of determinations and of the drug each order
// names (default 2000 entries, 5 minutes); a size below 1 caches nothing.
func WithCache(size int, ttl time.Duration) Option {
	return func(o *options) { o.cacheSize, o.cacheTTL = size, ttl }
}

// WithCacheObserver is told of each determination cache lookup (cache
// "decisions"), for metrics.
func WithCacheObserver(f func(cache string, hit bool)) Option {
	return func(o *options) { o.observe = f }
}

// New builds a Service deciding with p under r's routing.
func New(p *pipeline.Pipeline, r *router.Router, opts ...Option) *Service {
	o := options{
		link:      func(id string) string { return "https://hemopa.org/policies/" + url.PathEscape(id) },
		day:       func() time.Time { return time.Now().UTC() },
		cacheSize: 2000, cacheTTL: 5 * time.Minute,
		observe: func(string, bool) {},
	}
	for _, f := range opts {
		f(&o)
	}
	return &Service{p: p, router: r, link: o.link, day: o.day, auths: o.auths, authErr: o.authErr,
		dec: newDecider(p, o.cacheSize, o.cacheTTL, o.observe)}
}

// CacheEntries are the sizes of the determination and ordered-drug caches.
func (s *Service) CacheEntries() (decisions, drugs int) {
	return s.dec.decisions.len(), s.dec.drugs.len()
}

// Sweep drops expired determinations.
func (s *Service) Sweep() { s.dec.decisions.sweep() }

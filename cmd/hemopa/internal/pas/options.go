package pas

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"time"

	"hemopa/cmd/hemopa/internal/pipeline"
	"hemopa/cmd/hemopa/internal/router"
)

type config struct {
	p         *pipeline.Pipeline
	store     Store
	storePath string
	router    *router.Router
	now       func() time.Time
	log       *slog.Logger
	workers   int
}

// Option configures a Service.
type Option func(*config) error

// WithPipeline sets the decode → map → evaluate pipeline and with it the
// policy catalog (default: pipeline.New(), the built-in policies and code
// tables).
func WithPipeline(p *pipeline.Pipeline) Option {
	return func(c *config) error {
		if p == nil {
			return errors.New("pas: WithPipeline(nil)")
		}
		c.p = p
		return nil
	}
}

// WithStore persists submissions in st (default: a bbolt file at
// DefaultStorePath). The caller keeps ownership: Close does not close st.
func WithStore(st Store) Option {
	return func(c *config) error {
		if st == nil {
			return errors.New("pas: WithStore(nil)")
		}
		c.store = st
		return nil
	}
}

// WithStorePath opens the default bbolt store at path (closed by Close).
func WithStorePath(path string) Option {
	return func(c *config) error {
		if path == "" {
			return errors.New("pas: WithStorePath(\"\")")
		}
		c.storePath = path
		return nil
	}
}

// WithRouter chooses each line's policy with r, built on the pipeline's
// catalog (default: each drug's built-in default policy, where the catalog
// has it; see router.BuiltinDefaults). A line whose drug r routes to no
// policy is not reviewed.
func WithRouter(r *router.Router) Option {
	return func(c *config) error {
		if r == nil {
			return errors.New("pas: WithRouter(nil)")
		}
		c.router = r
		return nil
	}
}

// WithClock sets the clock: the review day (as-of date of the look-back
// windows) and ClaimResponse.created (default time.Now).
func WithClock(now func() time.Time) Option {
	return func(c *config) error {
		if now == nil {
			return errors.New("pas: WithClock(nil)")
		}
		c.now = now
		return nil
	}
}

// WithLogger logs one line per request: submission key prefix, counts,
// outcome, status, duration — never patient data (default: discard).
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return errors.New("pas: WithLogger(nil)")
		}
		c.log = l
		return nil
	}
}

// WithMaxConcurrent bounds how many submissions are decided at once (default
// GOMAXPROCS). Deciding is CPU-bound (decoding the bundle is most of it):
// more at once only slows each down, while a bound admits requests in
// arrival order, which keeps the slowest answers close to the typical ones
// and the memory in use proportional to the bound. Replays and inquiries are
// not bounded.
func WithMaxConcurrent(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return fmt.Errorf("pas: WithMaxConcurrent(%d): want at least 1", n)
		}
		c.workers = n
		return nil
	}
}

// NewService builds a Service. Options are applied in order.
func NewService(opts ...Option) (*Service, error) {
	c := &config{now: time.Now,
		log: slog.New(slog.DiscardHandler), workers: runtime.GOMAXPROCS(0)}
	for _, o := range opts {
		if err := o(c); err != nil {
			return nil, err
		}
	}
	var err error
	if c.p == nil {
		if c.p, err = pipeline.New(); err != nil {
			return nil, fmt.Errorf("pas: pipeline: %w", err)
		}
	}
	if c.router == nil {
		if c.router, err = router.New(c.p.Catalog, router.Config{DefaultPolicy: router.BuiltinDefaults(c.p.Catalog)}); err != nil {
			return nil, fmt.Errorf("pas: default policies: %w", err)
		}
	}
	s := &Service{p: c.p, router: c.router, store: c.store, now: c.now, log: c.log,
		work: make(chan struct{}, c.workers)}
	if s.store == nil {
		path := c.storePath
		if path == "" {
			if path, err = DefaultStorePath(); err != nil {
				return nil, err
			}
		}
		bs, err := OpenBolt(path)
		if err != nil {
			return nil, err
		}
		s.store, s.ownStore = bs, bs
	}
	return s, nil
}

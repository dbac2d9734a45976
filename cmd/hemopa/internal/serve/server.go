package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/hashicorp/go-cleanhttp"
	"github.com/prometheus/client_golang/prometheus"

	"hemopa/auth"
	"hemopa/cmd/hemopa/internal/crd"
	"hemopa/cmd/hemopa/internal/pipeline"
)

// pasService is the PAS endpoint implementation (cmd/hemopa/internal/pas):
// FHIR JSON in, status and FHIR JSON out (an OperationOutcome on 4xx).
type pasService interface {
	Submit(ctx context.Context, body []byte) (int, []byte)
	Inquire(ctx context.Context, body []byte) (int, []byte)
}

// Server is the hemopa HTTP service. Build it with New; it is safe for
// concurrent use.
type Server struct {
	cfg      *Config
	log      *slog.Logger
	p        *pipeline.Pipeline
	crd      *crd.Service
	prefetch []prefetchKey // the templates every order service advertises
	ver      *verifier     // nil in development mode
	lim      *limiters
	m        *metrics
	pas      pasService
	auths    crd.Authorizations // authorizations granted at order time; nil: none
	jwks     []byte
	outbound *http.Client // JWKS and EHR FHIR reads
	dev      bool
	handler  http.Handler
}

// Option configures New.
type Option func(*Server)

// WithLogger sets the JSON logger (default: slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.log = l } }

// WithPipeline uses an existing pipeline (default: built from cfg.CodeMap).
func WithPipeline(p *pipeline.Pipeline) Option { return func(s *Server) { s.p = p } }

// WithPAS mounts a PAS service at /fhir/Claim/$submit and $inquire (without
// it they answer 501).
func WithPAS(p pasService) Option { return func(s *Server) { s.pas = p } }

// WithAuthorizations records the authorizations payers with
// authorize_at_order grant at order time (pa-needed satisfied) in a — the
// PAS store, so that $submit for the order finds them. Without it no order
// is answered satisfied.
func WithAuthorizations(a crd.Authorizations) Option { return func(s *Server) { s.auths = a } }

// WithInsecureDev turns inbound authentication off. Serve then refuses any
// listener that is not loopback.
func WithInsecureDev() Option { return func(s *Server) { s.dev = true } }

// WithHTTPClient sets the client for outbound calls (issuers' JWKS, EHR FHIR
// servers); default: a pooled go-cleanhttp client.
func WithHTTPClient(hc *http.Client) Option { return func(s *Server) { s.outbound = hc } }

// New builds the server. ctx bounds background work (JWKS refresh, cache
// sweeping).
func New(ctx context.Context, cfg *Config, opts ...Option) (*Server, error) {
	s := &Server{cfg: cfg, m: newMetrics()}
	for _, o := range opts {
		o(s)
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.outbound == nil {
		s.outbound = cleanhttp.DefaultPooledClient()
	}
	if s.outbound.Transport == nil {
		s.outbound.Transport = http.DefaultTransport
	}
	if s.p == nil {
		p, err := pipeline.New(pipeline.WithCatalog(cfg.Catalog()), pipeline.WithCodeMap(cfg.CodeMap))
		if err != nil {
			return nil, fmt.Errorf("pipeline: %w", err)
		}
		s.p = p
	}
	crdOpts := []crd.Option{crd.WithPolicyLink(cfg.policyLink),
		crd.WithEvalDay(cfg.evalDay), crd.WithCache(cfg.Cache.Decisions, cfg.Cache.TTL), crd.WithCacheObserver(s.m.cache)}
	if s.auths != nil {
		crdOpts = append(crdOpts, crd.WithAuthorizations(s.auths, func(err error) {
			s.log.Error("record authorization at order time; answered auth-needed", "error", err.Error())
		}))
	}
	s.crd = crd.New(s.p, cfg.Router(), crdOpts...)
	s.prefetch = prefetchKeys(s.p.Mapper.LabCodes())
	s.lim = newLimiters(cfg.RateLimit)
	if cfg.JWKSFile != "" {
		b, err := loadPublicJWKS(cfg.JWKSFile)
		if err != nil {
			return nil, err
		}
		s.jwks = b
	}
	if !s.dev {
		if err := cfg.checkAuth(); err != nil {
			return nil, err
		}
		jwksClient := &http.Client{Transport: countingTransport{base: s.outbound.Transport, m: s.m}, Timeout: 15 * time.Second}
		v, err := newVerifier(ctx, cfg.Issuers, cfg.Token, jwksClient, s.log)
		if err != nil {
			return nil, err
		}
		s.ver = v
	}
	s.registerGauges()
	s.handler = s.routes()
	go s.sweep(ctx)
	return s, nil
}

// registerGauges exposes the sizes of what the server keeps in memory.
func (s *Server) registerGauges() {
	gauge := func(name, help string, labels prometheus.Labels, f func() float64) {
		s.m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help, ConstLabels: labels}, f))
	}
	const cacheHelp = "Entries held by an in-memory cache."
	gauge("hemopa_cache_entries", cacheHelp, prometheus.Labels{"cache": "decisions"}, func() float64 { n, _ := s.crd.CacheEntries(); return float64(n) })
	gauge("hemopa_cache_entries", cacheHelp, prometheus.Labels{"cache": "drugs"}, func() float64 { _, n := s.crd.CacheEntries(); return float64(n) })
	if s.ver != nil {
		gauge("hemopa_replay_cache_entries", "Token ids remembered to refuse replays (one per unexpired token).", nil,
			func() float64 { return float64(s.ver.jtis.len()) })
	}
}

// sweep drops expired cache entries until ctx ends.
func (s *Server) sweep(ctx context.Context) {
	t := time.NewTicker(max(s.cfg.Cache.TTL/2, time.Second))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.crd.Sweep()
		}
	}
}

// Handler is the server's HTTP handler.
func (s *Server) Handler() http.Handler { return s.handler }

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	api := func(pattern string, h apiFunc) { mux.Handle(pattern, s.api(pattern, h)) }
	discoveryEP := s.open // no PHI in it: open unless discovery_auth
	if s.cfg.DiscoveryAuth {
		discoveryEP = s.api
	}
	mux.Handle("GET /cds-services", discoveryEP("GET /cds-services", s.handleDiscovery))
	api("POST /cds-services/{id}", s.handleHook)
	api("POST /cds-services/{id}/feedback", s.handleFeedback)
	api("POST /fhir/Questionnaire/$questionnaire-package", s.handleQuestionnairePackage)
	api("POST /fhir/Claim/$submit", s.handlePAS(func(p pasService) func(context.Context, []byte) (int, []byte) { return p.Submit }))
	api("POST /fhir/Claim/$inquire", s.handlePAS(func(p pasService) func(context.Context, []byte) (int, []byte) { return p.Inquire }))
	ops := func(pattern string, h http.HandlerFunc) { mux.Handle(pattern, s.plain(pattern, h)) }
	ops("GET /healthz", s.handleHealth)
	ops("GET /readyz", s.handleReady)
	ops("GET /.well-known/jwks.json", s.handleJWKS)
	ops("GET /metrics", s.m.handler().ServeHTTP)
	mux.Handle("/", s.plain("other", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &httpError{Status: http.StatusNotFound, Code: "not-found", Msg: "no such endpoint"})
	}))
	return mux
}

// ListenAndServe listens on addr and serves until ctx ends, then shuts down
// gracefully.
func (s *Server) ListenAndServe(ctx context.Context, addr string) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", addr, err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves on ln until ctx ends, then stops taking requests and waits up
// to the shutdown timeout for those in flight. In development mode (no
// authentication) ln must be loopback.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if s.dev && !isLoopbackAddr(ln.Addr()) {
		ln.Close()
		return fmt.Errorf("--insecure-dev serves only on a loopback address, not %s", ln.Addr())
	}
	t := s.cfg.Timeouts
	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: t.ReadHeader,
		ReadTimeout:       t.Read,
		WriteTimeout:      t.Write,
		IdleTimeout:       t.Idle,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	s.log.Info("listening", "addr", ln.Addr().String(), "auth", !s.dev)
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	s.log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), t.Shutdown)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

func isLoopbackAddr(a net.Addr) bool {
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return false
	}
	return auth.IsLoopbackHost(host)
}

// IsLoopbackAddr reports whether a listen address ("host:port") is loopback.
func IsLoopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	return err == nil && auth.IsLoopbackHost(host)
}

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"time"

	"hemopa/cmd/hemopa/internal/pas"
	"hemopa/cmd/hemopa/internal/pipeline"
	"hemopa/cmd/hemopa/internal/serve"
)

func init() {
	register("serve", "run the CDS Hooks (CRD), DTR and PAS service", runServe)
}

// runServe runs the HTTP service until SIGTERM or interrupt, then shuts down
// gracefully. Logs are JSON on stderr.
func runServe(ctx context.Context, args []string, env *Env) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "listen address (host:port)")
	config := fs.String("config", "", "server config file (YAML; see testdata/serve/config.example.yaml)")
	dev := fs.Bool("insecure-dev", false, "no inbound authentication (development only; loopback addresses only)")
	fs.Usage = func() {
		fmt.Fprintln(env.Stderr, "usage: hemopa serve --config FILE [--addr HOST:PORT] [--insecure-dev]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return &exitError{code: 2}
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	if *dev && !serve.IsLoopbackAddr(*addr) {
		return usagef("--insecure-dev needs a loopback --addr (127.0.0.1, ::1 or localhost), not %q", *addr)
	}
	var cfg *serve.Config
	var err error
	if *config == "" {
		if !*dev {
			return usagef("--config FILE is required (issuers, public base URL); only --insecure-dev may run without one")
		}
		cfg, err = serve.ParseConfig(nil, "")
	} else {
		cfg, err = serve.LoadConfig(*config)
	}
	if err != nil {
		return usagef("%v", err)
	}
	log := slog.New(slog.NewJSONHandler(env.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	opts := []serve.Option{serve.WithLogger(log)}
	if *dev {
		opts = append(opts, serve.WithInsecureDev())
		log.Warn("inbound authentication is off (--insecure-dev)")
	}
	p, err := pipeline.New(pipeline.WithCatalog(cfg.Catalog()), pipeline.WithCodeMap(cfg.CodeMap))
	if err != nil {
		return usagef("%v", err)
	}
	claims, err := newPASService(cfg, p, log)
	if err != nil {
		return usagef("%v", err)
	}
	defer claims.Close()
	// The PAS store also keeps the authorizations CRD grants at order time.
	opts = append(opts, serve.WithPipeline(p), serve.WithPAS(claims), serve.WithAuthorizations(claims))
	s, err := serve.New(ctx, cfg, opts...)
	if err != nil {
		return usagef("%v", err)
	}
	return s.ListenAndServe(ctx, *addr)
}

// newPASService builds the Claim/$submit service on the same pipeline, with
// the same payer → policy choice as the CDS services, and the config's store
// and as-of day.
func newPASService(cfg *serve.Config, p *pipeline.Pipeline, log *slog.Logger) (*pas.Service, error) {
	opts := []pas.Option{
		pas.WithPipeline(p),
		pas.WithLogger(log.With("component", "pas")),
		pas.WithRouter(cfg.Router()),
	}
	if cfg.PAS.Store != "" {
		opts = append(opts, pas.WithStorePath(cfg.PAS.Store))
	}
	if day, ok := cfg.FixedDay(); ok {
		opts = append(opts, pas.WithClock(func() time.Time { return day }))
	}
	return pas.NewService(opts...)
}

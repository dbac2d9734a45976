package main

import (
	"context"
	"flag"
	"time"

	"hemopa/cmd/hemopa/internal/pipeline"
	"hemopa/rules"
)

// liveFlags are the flags of the live (FHIR server) path. Each can also come
// from the environment as HEMOPA_<NAME> (e.g. HEMOPA_FHIR_SERVER).
type liveFlags struct {
	server, clientID, key, tokenURL, scope, outbox string
	writeBack                                      bool
	timeout                                        time.Duration
}

func (l *liveFlags) register(fs *flag.FlagSet, env *Env) {
	get := func(name, def string) string {
		if v := env.Getenv(name); v != "" {
			return v
		}
		return def
	}
	fs.StringVar(&l.server, "fhir-server", get("HEMOPA_FHIR_SERVER", ""), "FHIR R4 base URL (live mode)")
	fs.StringVar(&l.clientID, "client-id", get("HEMOPA_CLIENT_ID", ""), "SMART backend services client id")
	fs.StringVar(&l.key, "key", get("HEMOPA_KEY", ""), "private key file (PEM or JWK) for the client assertion")
	fs.StringVar(&l.tokenURL, "token-url", get("HEMOPA_TOKEN_URL", ""), "token endpoint (overrides .well-known/smart-configuration)")
	fs.StringVar(&l.scope, "scope", get("HEMOPA_SCOPE", ""), "scopes to request (default: what the policy reads, v2 or v1 as advertised)")
	fs.StringVar(&l.outbox, "outbox", get("HEMOPA_OUTBOX", "outbox"), "directory for write-backs that failed")
	fs.BoolVar(&l.writeBack, "write-back", get("HEMOPA_WRITE_BACK", "") == "true", "write ClaimResponse, QuestionnaireResponse and Task back")
	fs.DurationVar(&l.timeout, "timeout", 60*time.Second, "overall timeout for the FHIR exchange")
}

func evaluateLive(ctx context.Context, p *pipeline.Pipeline, f *evalFlags, policies []*rules.Policy, asOf time.Time, env *Env) ([]*rules.Determination, error) {
	return nil, usagef("live mode (--fhir-server) is being wired up: use --bundle")
}

// Package serve is hemopa's HTTP service: CDS Hooks 2.0 services with CRD
// 2.2 semantics (order-sign, order-select, order-dispatch), the DTR
// $questionnaire-package operation, the PAS Claim/$submit and $inquire
// endpoints (delegated to the PAS service), and the operational endpoints
// (/healthz, /readyz, /metrics, /.well-known/jwks.json).
//
// The decisions behind the CDS services and $questionnaire-package are
// package crd's (orders → policy through the config's router → determination
// → systemAction and cards, or the pre-filled package); serve is the HTTP
// shell around it: routing, authentication, limits, metrics, and gathering
// missing prefetch from the EHR with the hook's fhirAuthorization.
//
// Every CDS Hooks and FHIR request carries the client's JWT (RS384 or ES384,
// from an allow-listed issuer and JWKS, aud = the URL called, a fresh jti);
// a failure is a bare 401. Decisions come from the same pipeline as the CLI
// (decode → map → evaluate). Logs are JSON with a request id and never hold
// PHI, the inbound JWT or the EHR's fhirAuthorization token.
//
// The usual wiring (see cmd/hemopa/serve.go):
//
//	cfg, err := serve.LoadConfig("serve.yaml")
//	s, err := serve.New(ctx, cfg, serve.WithLogger(log))
//	err = s.ListenAndServe(ctx, "127.0.0.1:8080") // returns after a graceful shutdown
package serve

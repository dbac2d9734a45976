// Package integration holds the end-to-end tests that run hemopa against real
// servers: a HAPI FHIR JPA R4 server (Docker via testcontainers-go where an
// engine exists, else a local Java process built from Maven Central) and an
// oidc-provider authorization server for SMART Backend Services. With CI set,
// a server that cannot start fails the run instead of skipping it.
package integration

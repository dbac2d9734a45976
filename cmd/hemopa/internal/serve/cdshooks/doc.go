// Package cdshooks holds the CDS Hooks 2.0 wire format the server reads:
// the service request (hook, hookInstance, context, fhirServer,
// fhirAuthorization, prefetch), its validation for the order hooks, and raw
// FHIR resource helpers. It depends on the standard library only, so its
// decoder can be fuzzed at full speed (FuzzHookRequest).
package cdshooks

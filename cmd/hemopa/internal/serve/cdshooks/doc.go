// Package cdshooks holds the CDS Hooks 2.0 wire format the server reads:
// the service request (hook, hookInstance, context, fhirServer,
// fhirAuthorization, prefetch, the davinci-crd.configuration extension),
// its validation for the hooks served (order-sign, order-select,
// order-dispatch, appointment-book, encounter-start, encounter-discharge),
// and raw FHIR resource helpers. It depends on the standard library and
// gjson only, so its decoder can be fuzzed at full speed (FuzzHookRequest).
package cdshooks

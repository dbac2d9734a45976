// Package pas answers Da Vinci PAS (Prior Authorization Support) requests for
// hemophilia gene therapies: Claim/$submit decides each claim line that
// requests Hemgenix, Beqvez or Roctavian under the policy configured for the
// drug and payer, checks the claim against the billing and coding rules of
// policy 003, persists the response, and Claim/$inquire returns it later.
//
// A Service is built with functional options (NewService(WithStore(...),
// WithClock(...), ...)) and is safe for concurrent use. Submit and Inquire
// take the request body and return an HTTP status with a FHIR JSON body;
// Handler serves them over HTTP. The judgement calls (default policies, lines
// without a policy, coding violations, inquiry semantics, idempotency) are
// documented in README.md beside this file.
package pas

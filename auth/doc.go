// Package auth is a SMART Backend Services client (SMART App Launch 2.2):
// it discovers a FHIR server's token endpoint, authenticates with a
// private_key_jwt client assertion signed with RS384 or ES384, obtains
// client_credentials access tokens, reuses them for their lifetime and adds
// them to outgoing FHIR requests.
//
// The usual wiring is:
//
//	key, err := auth.LoadKey("keys/3kH2.pem")
//	c, err := auth.New(ctx, "my-client-id", key, auth.WithFHIRBase(fhirBase))
//	hc := c.HTTPClient(nil) // *http.Client that adds "Authorization: Bearer ..."
//
// A Client asks for a new token only when the cached one is about to expire
// (see WithRefreshBefore) or after the FHIR server answered 401 to it; each
// token request carries a freshly signed assertion with its own jti. A token
// request is never retried or redirected: the assertion it carries is single
// use.
//
// Keys are loaded from PEM (PKCS#1, PKCS#8, SEC1) or JWK files; GenerateKey,
// (*Key).WritePEM, WriteJWKS and AppendJWKS create and rotate them.
//
// Nothing in this package logs or puts into an error an access token, a
// client assertion or key material. OAuth error responses (RFC 6749 §5.2) are
// shown verbatim in *TokenError: they are not secrets.
package auth

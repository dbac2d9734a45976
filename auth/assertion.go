package auth

import (
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// ClientAssertionType is the client_assertion_type of a private_key_jwt
// token request (RFC 7523).
const ClientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// MaxAssertionLifetime is the longest exp - now SMART allows for a client
// assertion.
const MaxAssertionLifetime = 5 * time.Minute

// DefaultAssertionLifetime keeps exp inside the 5-minute limit even when the
// server's clock runs a little behind ours.
const DefaultAssertionLifetime = 4 * time.Minute

// Assertion describes one client assertion JWT.
type Assertion struct {
	// ClientID goes into iss and sub.
	ClientID string
	// Audience is the token endpoint URL; it is written as one JSON string,
	// never as an array.
	Audience string
	// JKU, when set, is put in the header (the client's registered JWKS URL).
	JKU string
	// Lifetime is exp - iat: DefaultAssertionLifetime when zero; at most
	// MaxAssertionLifetime.
	Lifetime time.Duration
	// Now is the issue time; time.Now when zero.
	Now time.Time
	// JTI is the JWT ID; a fresh 128-bit random value when empty.
	JTI string
}

// SignAssertion signs a client assertion with key: header alg (key.Alg),
// kid, typ "JWT" and optional jku; claims iss = sub = ClientID, aud, exp,
// iat, jti.
func SignAssertion(key *Key, a Assertion) (string, error) {
	if key == nil || key.signer == nil {
		return "", errors.New("auth: sign assertion: no key")
	}
	if key.KID == "" {
		return "", errors.New("auth: sign assertion: key has no kid")
	}
	if a.ClientID == "" || a.Audience == "" {
		return "", errors.New("auth: sign assertion: client ID and audience are required")
	}
	life := a.Lifetime
	if life == 0 {
		life = DefaultAssertionLifetime
	}
	if life < 0 || life > MaxAssertionLifetime {
		return "", fmt.Errorf("auth: sign assertion: lifetime %v not in (0, %v]", life, MaxAssertionLifetime)
	}
	now := a.Now
	if now.IsZero() {
		now = time.Now()
	}
	jti := a.JTI
	if jti == "" {
		jti = rand.Text() // 128 bits from crypto/rand
	}
	var method jwt.SigningMethod
	switch key.Alg {
	case RS384:
		method = jwt.SigningMethodRS384
	case ES384:
		method = jwt.SigningMethodES384
	default:
		return "", fmt.Errorf("auth: sign assertion: unsupported alg %q", key.Alg)
	}
	// MapClaims, not RegisteredClaims: golang-jwt marshals
	// RegisteredClaims.Audience as an array, which SMART servers reject.
	claims := jwt.MapClaims{
		"iss": a.ClientID,
		"sub": a.ClientID,
		"aud": a.Audience,
		"iat": now.Unix(),
		"exp": now.Add(life).Unix(),
		"jti": jti,
	}
	tok := jwt.NewWithClaims(method, claims)
	tok.Header["kid"] = key.KID
	tok.Header["typ"] = "JWT"
	if a.JKU != "" {
		tok.Header["jku"] = a.JKU
	}
	s, err := tok.SignedString(key.signer)
	if err != nil {
		return "", fmt.Errorf("auth: sign %s assertion with key %s: %w", key.Alg, key.KID, err)
	}
	return s, nil
}

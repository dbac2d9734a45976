package serve

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"
)

// allowedAlgs are the only signature algorithms accepted (CDS Hooks / SMART
// recommend RS384 and ES384). "none" and HMAC are refused by omission.
var allowedAlgs = []string{"RS384", "ES384"}

// authFailure is why a token was refused. It is a fixed word, safe to log
// and count; the client only sees a bare 401.
type authFailure string

const (
	failNoToken   authFailure = "no-token"
	failMalformed authFailure = "malformed"
	failIssuer    authFailure = "untrusted-issuer"
	failKID       authFailure = "no-kid"
	failInvalid   authFailure = "invalid" // signature, alg, aud, exp, iat, unknown kid
	failLifetime  authFailure = "lifetime"
	failJTI       authFailure = "no-jti"
	failReplay    authFailure = "replay"
)

func (f authFailure) Error() string { return "token refused: " + string(f) }

// verifier checks the inbound bearer JWTs.
type verifier struct {
	issuers     map[string]keyfunc.Keyfunc
	leeway      time.Duration
	maxLifetime time.Duration
	jtis        *jtiCache
	now         func() time.Time
}

// newVerifier loads every issuer's keys: JWKS files now, JWKS URLs in the
// background (refreshed hourly and refetched, at most once a minute, on an
// unknown kid). The refresh goroutines end with ctx.
func newVerifier(ctx context.Context, issuers []Issuer, rules TokenRules, hc *http.Client, log *slog.Logger) (*verifier, error) {
	v := &verifier{issuers: map[string]keyfunc.Keyfunc{}, leeway: rules.Leeway, maxLifetime: rules.MaxLifetime,
		jtis: newJTICache(1_000_000), now: time.Now}
	for _, is := range issuers {
		var kf keyfunc.Keyfunc
		var err error
		if is.JWKSFile != "" {
			var raw []byte
			if raw, err = os.ReadFile(is.JWKSFile); err == nil {
				kf, err = keyfunc.NewJWKSetJSON(json.RawMessage(raw))
			}
		} else {
			kf, err = keyfunc.NewDefaultOverrideCtx(ctx, []string{is.JWKSURL}, keyfunc.Override{
				Client:            hc,
				HTTPTimeout:       10 * time.Second,
				RefreshInterval:   time.Hour,
				RefreshUnknownKID: rate.NewLimiter(rate.Every(time.Minute), 1),
				RateLimitWaitMax:  50 * time.Millisecond, // an unknown kid must not hold a request
				RefreshErrorHandlerFunc: func(u string) func(context.Context, error) {
					return func(ctx context.Context, err error) {
						log.WarnContext(ctx, "JWKS refresh failed", "iss", is.Iss, "jwks_url", u, "error", err.Error())
					}
				},
			})
		}
		if err != nil {
			return nil, fmt.Errorf("issuer %s: JWKS: %w", is.Iss, err)
		}
		v.issuers[is.Iss] = kf
	}
	return v, nil
}

// verified is what a good token tells.
type verified struct {
	Issuer string
}

// verify checks the request's bearer token against aud (the exact URL
// called; any of the spellings given). It never returns or logs token
// content.
func (v *verifier) verify(ctx context.Context, r *http.Request, aud ...string) (*verified, error) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return nil, failNoToken
	}
	tok = strings.TrimSpace(tok)
	var peek jwt.RegisteredClaims
	unverified, _, err := jwt.NewParser().ParseUnverified(tok, &peek)
	if err != nil {
		return nil, failMalformed
	}
	kf, ok := v.issuers[peek.Issuer]
	if !ok {
		return nil, failIssuer
	}
	if kid, _ := unverified.Header["kid"].(string); kid == "" {
		return nil, failKID
	}
	var claims jwt.RegisteredClaims
	parser := jwt.NewParser(
		jwt.WithValidMethods(allowedAlgs),
		jwt.WithIssuer(peek.Issuer),
		jwt.WithAudience(aud...),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(v.leeway),
		jwt.WithTimeFunc(v.now),
	)
	if _, err := parser.ParseWithClaims(tok, &claims, strongKeys(kf.KeyfuncCtx(ctx))); err != nil {
		return nil, failInvalid
	}
	now := v.now()
	if claims.IssuedAt == nil || claims.ExpiresAt.Sub(now) > v.maxLifetime+v.leeway {
		return nil, failLifetime
	}
	if claims.ID == "" {
		return nil, failJTI
	}
	if !v.jtis.firstUse(newJTIKey(claims.Issuer, claims.ID), claims.ExpiresAt.Add(v.leeway)) {
		return nil, failReplay
	}
	return &verified{Issuer: claims.Issuer}, nil
}

// minRSABits is the smallest RSA key accepted (NIST SP 800-131A).
const minRSABits = 2048

// strongKeys refuses RSA keys shorter than minRSABits (golang-jwt already
// ties ES384 to P-384).
func strongKeys(kf jwt.Keyfunc) jwt.Keyfunc {
	return func(t *jwt.Token) (any, error) {
		k, err := kf(t)
		if err != nil {
			return nil, err
		}
		if rk, ok := k.(*rsa.PublicKey); ok && rk.N.BitLen() < minRSABits {
			return nil, errors.New("RSA key shorter than 2048 bits")
		}
		return k, nil
	}
}

// ready reports whether every issuer has at least one key.
func (v *verifier) ready(ctx context.Context) error {
	for iss, kf := range v.issuers {
		keys, err := kf.Storage().KeyReadAll(ctx)
		if err != nil || len(keys) == 0 {
			return fmt.Errorf("issuer %s: no keys loaded", iss)
		}
	}
	return nil
}

// isAuthFailure reports whether err is a refused token.
func isAuthFailure(err error) (authFailure, bool) {
	var f authFailure
	ok := errors.As(err, &f)
	return f, ok
}

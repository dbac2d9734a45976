package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"
)

// DefaultRefreshBefore is how long before expiry a cached token is replaced.
const DefaultRefreshBefore = 60 * time.Second

// defaultTokenTimeout bounds one token request.
const defaultTokenTimeout = 30 * time.Second

// Client obtains and caches SMART Backend Services access tokens for one
// client ID and key. It is an oauth2.TokenSource and is safe for concurrent
// use.
type Client struct {
	clientID          string
	key               *Key
	tokenURL          string
	tokenURLRedacted  string
	audience          string
	jku               string
	scopes            []string
	assertionLifetime time.Duration
	refreshBefore     time.Duration
	tokenTimeout      time.Duration
	tokenHTTP         *http.Client
	log               *slog.Logger
	hook              func(TokenRequestInfo)
	baseCtx           context.Context
	config            *SmartConfiguration

	requests atomic.Int64

	mu         sync.Mutex
	reuse      oauth2.TokenSource // oauth2.ReuseTokenSourceWithExpiry over src
	reuseDelta time.Duration      // its early expiry
	current    *oauth2.Token      // last token reuse handed out
	src        oauth2.TokenSource // fresh assertion and token request per call
}

// Option configures New.
type Option func(*settings)

type settings struct {
	fhirBase          string
	tokenURL          string
	config            *SmartConfiguration
	scopes            []string
	scopesSet         bool
	resourceTypes     []string
	writeBack         bool
	version           *ScopeVersion
	httpClient        *http.Client
	log               *slog.Logger
	jku               string
	audience          string
	assertionLifetime time.Duration
	refreshBefore     time.Duration
	tokenTimeout      time.Duration
	hook              func(TokenRequestInfo)
	insecureHTTP      bool
}

// WithFHIRBase names the FHIR server whose .well-known/smart-configuration
// New reads to find the token endpoint, the accepted signing algorithms and
// the scope syntax. Not read when WithTokenURL or WithSmartConfiguration is
// given.
func WithFHIRBase(base string) Option { return func(s *settings) { s.fhirBase = base } }

// WithTokenURL sets the token endpoint and skips discovery (some servers
// publish no smart-configuration).
func WithTokenURL(u string) Option { return func(s *settings) { s.tokenURL = u } }

// WithSmartConfiguration supplies an already discovered configuration.
func WithSmartConfiguration(sc *SmartConfiguration) Option {
	return func(s *settings) { s.config = sc }
}

// WithScopes sets the exact scopes requested, replacing the built list.
func WithScopes(scopes ...string) Option {
	return func(s *settings) { s.scopes, s.scopesSet = slices.Clone(scopes), true }
}

// WithResourceTypes sets the resource types read scopes are built for
// (default ReadResourceTypes).
func WithResourceTypes(types ...string) Option {
	return func(s *settings) { s.resourceTypes = slices.Clone(types) }
}

// WithWriteBack adds write scopes for WriteResourceTypes.
func WithWriteBack() Option { return func(s *settings) { s.writeBack = true } }

// WithScopeVersion forces v1 or v2 scope syntax instead of following the
// server's scopes_supported.
func WithScopeVersion(v ScopeVersion) Option { return func(s *settings) { s.version = &v } }

// WithHTTPClient sets the client used for discovery and token requests
// (default: a client with no retries). Token requests are sent with a copy
// that follows no redirects; hc must not retry POSTs by itself, since a
// replayed assertion is rejected.
func WithHTTPClient(hc *http.Client) Option { return func(s *settings) { s.httpClient = hc } }

// WithLogger sets the logger (default: discard). Tokens, assertions and keys
// are never logged.
func WithLogger(l *slog.Logger) Option { return func(s *settings) { s.log = l } }

// WithJKU puts a jku header (the client's registered JWKS URL) in assertions.
func WithJKU(u string) Option { return func(s *settings) { s.jku = u } }

// WithAssertionAudience overrides the assertion's aud (default: the token
// URL, as SMART requires).
func WithAssertionAudience(aud string) Option { return func(s *settings) { s.audience = aud } }

// WithAssertionLifetime sets exp - iat of assertions, at most 5 minutes
// (default DefaultAssertionLifetime).
func WithAssertionLifetime(d time.Duration) Option {
	return func(s *settings) { s.assertionLifetime = d }
}

// WithRefreshBefore sets how long before expiry a token is replaced (default
// DefaultRefreshBefore). For tokens living less than twice that, half their
// lifetime is used instead, so short-lived tokens are still reused.
func WithRefreshBefore(d time.Duration) Option { return func(s *settings) { s.refreshBefore = d } }

// WithTokenTimeout bounds each token request (default 30 s).
func WithTokenTimeout(d time.Duration) Option { return func(s *settings) { s.tokenTimeout = d } }

// WithTokenRequestHook calls f after every token request, successful or not.
// f runs while other callers wait for the token: keep it quick.
func WithTokenRequestHook(f func(TokenRequestInfo)) Option {
	return func(s *settings) { s.hook = f }
}

// WithInsecureHTTP allows a plain-http token endpoint on a host other than
// loopback. Only for tests on isolated networks.
func WithInsecureHTTP() Option { return func(s *settings) { s.insecureHTTP = true } }

// New makes a Client for clientID signing with key. Unless WithTokenURL or
// WithSmartConfiguration is given, it discovers the token endpoint from
// WithFHIRBase. Token requests started later run under a context derived
// from ctx without its cancellation.
func New(ctx context.Context, clientID string, key *Key, opts ...Option) (*Client, error) {
	if clientID == "" {
		return nil, errors.New("auth: client ID is required")
	}
	if key == nil || key.signer == nil || key.KID == "" {
		return nil, errors.New("auth: a key with a kid is required")
	}
	s := settings{
		assertionLifetime: DefaultAssertionLifetime,
		refreshBefore:     DefaultRefreshBefore,
		tokenTimeout:      defaultTokenTimeout,
	}
	for _, o := range opts {
		o(&s)
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.assertionLifetime <= 0 || s.assertionLifetime > MaxAssertionLifetime {
		return nil, fmt.Errorf("auth: assertion lifetime %v not in (0, %v]", s.assertionLifetime, MaxAssertionLifetime)
	}
	if s.refreshBefore <= 0 {
		return nil, fmt.Errorf("auth: refresh-before %v must be positive", s.refreshBefore)
	}
	hc := s.httpClient
	if hc == nil {
		hc = &http.Client{Timeout: defaultTokenTimeout}
	}

	sc := s.config
	tokenURL := s.tokenURL
	if tokenURL == "" {
		if sc == nil {
			if s.fhirBase == "" {
				return nil, errors.New("auth: need WithTokenURL, WithSmartConfiguration or WithFHIRBase")
			}
			var err error
			sc, err = Discover(ctx, hc, s.fhirBase)
			if err != nil {
				return nil, err
			}
		}
		tokenURL = sc.TokenEndpoint
	}
	if sc != nil {
		if err := sc.Check(key.Alg); err != nil {
			return nil, err
		}
		if !sc.supportsClientCredentials() {
			s.log.Warn("auth: server does not list client_credentials in grant_types_supported; trying anyway",
				"grant_types_supported", sc.GrantTypesSupported)
		}
	}
	if err := checkTokenURL(tokenURL, s.insecureHTTP); err != nil {
		return nil, err
	}

	scopes := s.scopes
	if !s.scopesSet {
		v := ScopesV2
		switch {
		case s.version != nil:
			v = *s.version
		case sc != nil:
			v = DetectScopeVersion(sc.ScopesSupported)
		}
		scopes = SystemScopes(v, s.resourceTypes, s.writeBack)
	}

	// Token requests: a copy of hc that never follows a redirect, which
	// would resend the single-use assertion.
	th := *hc
	th.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	c := &Client{
		clientID:          clientID,
		key:               key,
		tokenURL:          tokenURL,
		tokenURLRedacted:  redactURL(tokenURL),
		audience:          tokenURL,
		jku:               s.jku,
		scopes:            scopes,
		assertionLifetime: s.assertionLifetime,
		refreshBefore:     s.refreshBefore,
		tokenTimeout:      s.tokenTimeout,
		tokenHTTP:         &th,
		log:               s.log,
		hook:              s.hook,
		baseCtx:           context.WithoutCancel(ctx),
		config:            sc,
	}
	if s.audience != "" {
		c.audience = s.audience
	}
	c.src = tokenSourceFunc(c.requestToken)
	c.resetLocked(c.refreshBefore)
	c.log.Debug("auth: client ready", "client_id", clientID, "key", key, "token_url", c.tokenURLRedacted, "scopes", scopes)
	return c, nil
}

func checkTokenURL(u string, insecure bool) error {
	p, err := url.Parse(u)
	if err != nil || !p.IsAbs() || p.Host == "" {
		return fmt.Errorf("auth: token URL %q is not an absolute URL", redactURL(u))
	}
	switch p.Scheme {
	case "https":
		return nil
	case "http":
		if insecure || IsLoopbackHost(p.Hostname()) {
			return nil
		}
		return fmt.Errorf("auth: token URL %s is not https (allowed on loopback only)", redactURL(u))
	default:
		return fmt.Errorf("auth: token URL %s: unsupported scheme %q", redactURL(u), p.Scheme)
	}
}

type tokenSourceFunc func() (*oauth2.Token, error)

func (f tokenSourceFunc) Token() (*oauth2.Token, error) { return f() }

// resetLocked replaces the cache; c.mu must be held (or c unshared).
func (c *Client) resetLocked(delta time.Duration) {
	c.reuse = oauth2.ReuseTokenSourceWithExpiry(nil, c.src, delta)
	c.reuseDelta = delta
	c.current = nil
}

// earlyExpiry is how long before expiry tok should be replaced.
func (c *Client) earlyExpiry(tok *oauth2.Token) time.Duration {
	d := c.refreshBefore
	if life := time.Duration(tok.ExpiresIn) * time.Second; life > 0 && life < 2*d {
		d = life / 2
	}
	// oauth2 treats an expiry delta of 0 as "use 10 s".
	return max(d, time.Millisecond)
}

// Token returns a cached access token, requesting a new one when the cached
// one is within its refresh margin of expiry or was invalidated.
func (c *Client) Token() (*oauth2.Token, error) {
	c.mu.Lock()
	r := c.reuse
	c.mu.Unlock()
	tok, err := r.Token()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if r == c.reuse && tok != c.current {
		// A new token: with a short lifetime the 60 s margin would make
		// every call fetch again, so re-wrap it with a fitting margin.
		c.current = tok
		if d := c.earlyExpiry(tok); d != c.reuseDelta {
			c.reuse = oauth2.ReuseTokenSourceWithExpiry(tok, c.src, d)
			c.reuseDelta = d
		}
	}
	return tok, nil
}

// Invalidate drops the cached token if it is still stale (the token a FHIR
// server refused), so that the next Token call requests a new one. Calls for
// a token already replaced do nothing, so concurrent 401s cause one token
// request, not many.
func (c *Client) Invalidate(stale *oauth2.Token) {
	if stale == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.current != nil && c.current.AccessToken == stale.AccessToken {
		c.log.Debug("auth: dropping refused token")
		c.resetLocked(c.refreshBefore)
	}
}

// TokenRequests is the number of token requests sent so far.
func (c *Client) TokenRequests() int64 { return c.requests.Load() }

// TokenURL is the token endpoint in use.
func (c *Client) TokenURL() string { return c.tokenURL }

// Scopes are the scopes requested.
func (c *Client) Scopes() []string { return slices.Clone(c.scopes) }

// SmartConfiguration is the discovered or supplied configuration, or nil.
func (c *Client) SmartConfiguration() *SmartConfiguration { return c.config }

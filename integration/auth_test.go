package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"hemopa/auth"
	"hemopa/integration/harness"
)

// requireOAuth starts the oidc-provider server for t and stops it when t
// ends. When the server cannot start the test fails if CI is set and is
// skipped otherwise.
func requireOAuth(t *testing.T, opts ...harness.OAuthOption) *harness.OAuthServer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	srv, err := harness.StartOAuth(ctx, opts...)
	if err != nil {
		if harness.InCI() {
			t.Fatalf("oauth server: %v", err)
		}
		t.Skipf("oauth server unavailable (under CI it fails instead): %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("oauth server output:\n%s", srv.Logs())
		}
		srv.Close()
	})
	t.Logf("oidc-provider ready at %s in %v", srv.Issuer(), time.Since(start).Round(time.Millisecond))
	return srv
}

// oauthFHIRFixture is a FHIR stub next to the real authorization server: it
// serves smart-configuration naming oidc-provider's token endpoint and
// answers other requests 200 only for a bearer token the server says is
// active (introspection), 401 otherwise. It exists to observe the bearer
// header on the FHIR side; HAPI is tested elsewhere.
type oauthFHIRFixture struct {
	*httptest.Server
	Base string // FHIR base URL

	mu     sync.Mutex
	tokens []string // bearer tokens seen, in order
	status []int
}

func newOAuthFHIRFixture(t *testing.T, srv *harness.OAuthServer) *oauthFHIRFixture {
	t.Helper()
	f := &oauthFHIRFixture{}
	mux := http.NewServeMux()
	mux.Handle("GET /fhir/.well-known/smart-configuration", srv.SmartConfigHandler())
	mux.HandleFunc("/fhir/", func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		code := http.StatusUnauthorized
		if ok && tok != "" {
			active, _, err := srv.Introspect(r.Context(), tok)
			if err != nil {
				t.Errorf("introspect: %v", err)
			}
			if active {
				code = http.StatusOK
			}
		}
		f.mu.Lock()
		f.tokens = append(f.tokens, tok)
		f.status = append(f.status, code)
		f.mu.Unlock()
		if code != http.StatusOK {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			w.WriteHeader(code)
			return
		}
		w.Header().Set("Content-Type", "application/fhir+json")
		fmt.Fprint(w, `{"resourceType":"Patient","id":"p1"}`)
	})
	f.Server = httptest.NewServer(mux)
	f.Base = f.URL + "/fhir"
	t.Cleanup(f.Close)
	return f
}

func (f *oauthFHIRFixture) seen() (tokens []string, status []int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.tokens), slices.Clone(f.status)
}

func oauthGetPatient(t *testing.T, hc *http.Client, base string) {
	t.Helper()
	resp, err := hc.Get(base + "/Patient/p1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET Patient: HTTP %d", resp.StatusCode)
	}
}

var (
	oauthKeysOnce sync.Once
	oauthKeys     map[string]*auth.Key
)

// oauthTestKeys: one RS384 and one ES384 key per test binary (RSA-3072 is slow).
func oauthTestKeys(t *testing.T) map[string]*auth.Key {
	oauthKeysOnce.Do(func() {
		oauthKeys = map[string]*auth.Key{}
		for _, alg := range []string{auth.RS384, auth.ES384} {
			k, err := auth.GenerateKey(alg)
			if err != nil {
				panic(err)
			}
			oauthKeys[alg] = k
		}
	})
	return oauthKeys
}

func TestOAuthTokenRS384AndES384(t *testing.T) {
	k := oauthTestKeys(t)
	// A JWKS served on loopback: proves the server's jwks_uri fetch works.
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(auth.JWKS{Keys: []auth.PublicKey{k[auth.ES384].Public()}})
	}))
	defer jwks.Close()
	srv := requireOAuth(t,
		harness.WithOAuthClient(harness.OAuthClient{ID: "hemopa-rs", Keys: []any{k[auth.RS384].Public()}}),
		harness.WithOAuthClient(harness.OAuthClient{ID: "hemopa-es", Keys: []any{k[auth.ES384].Public()}}),
		harness.WithOAuthClient(harness.OAuthClient{ID: "hemopa-uri", JWKSURI: jwks.URL + "/jwks.json"}),
	)
	fhir := newOAuthFHIRFixture(t, srv)

	for _, tc := range []struct {
		name, clientID, alg string
		writeBack           bool
	}{
		{"RS384", "hemopa-rs", auth.RS384, false},
		{"ES384 with write-back", "hemopa-es", auth.ES384, true},
		{"ES384 via jwks_uri", "hemopa-uri", auth.ES384, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := []auth.Option{auth.WithFHIRBase(fhir.Base)}
			if tc.writeBack {
				opts = append(opts, auth.WithWriteBack())
			}
			c, err := auth.New(context.Background(), tc.clientID, k[tc.alg], opts...)
			if err != nil {
				t.Fatal(err)
			}
			if c.TokenURL() != srv.TokenURL() {
				t.Errorf("discovered token URL %s, want %s", c.TokenURL(), srv.TokenURL())
			}
			tok, err := c.Token()
			if err != nil {
				t.Fatal(err)
			}
			// Every scope asked for was granted: the server knows them all.
			granted := strings.Fields(fmt.Sprint(tok.Extra("scope")))
			slices.Sort(granted)
			want := c.Scopes()
			slices.Sort(want)
			if !slices.Equal(granted, want) {
				t.Errorf("granted scope %v, requested %v", granted, want)
			}
			if tok.ExpiresIn != 300 {
				t.Errorf("expires_in %d", tok.ExpiresIn)
			}
			oauthGetPatient(t, c.HTTPClient(nil), fhir.Base)
			tokens, _ := fhir.seen()
			if tokens[len(tokens)-1] != tok.AccessToken {
				t.Error("FHIR server did not see the issued token")
			}
		})
	}
}

func TestOAuthTokenReusedAcrossRequests(t *testing.T) {
	k := oauthTestKeys(t)[auth.ES384]
	srv := requireOAuth(t, harness.WithOAuthClient(harness.OAuthClient{ID: "hemopa", Keys: []any{k.Public()}}))
	fhir := newOAuthFHIRFixture(t, srv)
	c, err := auth.New(context.Background(), "hemopa", k, auth.WithFHIRBase(fhir.Base))
	if err != nil {
		t.Fatal(err)
	}
	hc := c.HTTPClient(nil)
	const n = 40
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := hc.Get(fhir.Base + "/Patient/p1")
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Errorf("HTTP %d", resp.StatusCode)
			}
		}()
	}
	wg.Wait()
	tokens, _ := fhir.seen()
	distinct := slices.Compact(slices.Sorted(slices.Values(tokens)))
	issued := oauthTokensIssued(srv, 1)
	t.Logf("%d FHIR requests: %d token request(s) by the client, %d token(s) issued by the server", n, c.TokenRequests(), issued)
	if c.TokenRequests() != 1 || issued != 1 || len(distinct) != 1 {
		t.Errorf("want exactly 1 token for %d requests: client counted %d, server issued %d, FHIR saw %d distinct",
			n, c.TokenRequests(), issued, len(distinct))
	}
}

func TestOAuthTokenRenewedAfterExpiry(t *testing.T) {
	const ttl = 3 * time.Second
	k := oauthTestKeys(t)[auth.RS384]
	srv := requireOAuth(t,
		harness.WithOAuthClient(harness.OAuthClient{ID: "hemopa", Keys: []any{k.Public()}}),
		harness.WithOAuthTokenTTL(ttl))
	fhir := newOAuthFHIRFixture(t, srv)
	c, err := auth.New(context.Background(), "hemopa", k, auth.WithFHIRBase(fhir.Base))
	if err != nil {
		t.Fatal(err)
	}
	hc := c.HTTPClient(nil)
	first, err := c.Token()
	if err != nil {
		t.Fatal(err)
	}
	if first.ExpiresIn != int64(ttl/time.Second) {
		t.Fatalf("expires_in %d, want %d", first.ExpiresIn, ttl/time.Second)
	}
	for range 5 {
		oauthGetPatient(t, hc, fhir.Base)
	}
	if c.TokenRequests() != 1 {
		t.Fatalf("%d token requests within a %v token's life, want 1", c.TokenRequests(), ttl)
	}
	time.Sleep(ttl + 500*time.Millisecond)
	if active, _, err := srv.Introspect(context.Background(), first.AccessToken); err != nil || active {
		t.Fatalf("first token still active after its TTL (active=%v, err=%v)", active, err)
	}
	for range 5 {
		oauthGetPatient(t, hc, fhir.Base) // 200 each: the client renewed before sending
	}
	tokens, status := fhir.seen()
	t.Logf("%d requests over %v with a %v TTL: %d token requests, statuses %v", len(tokens), ttl+500*time.Millisecond, ttl, c.TokenRequests(), status)
	if issued := oauthTokensIssued(srv, 2); c.TokenRequests() != 2 || issued != 2 {
		t.Errorf("client made %d token requests, server issued %d; want 2 (one renewal)", c.TokenRequests(), issued)
	}
	if tokens[len(tokens)-1] == first.AccessToken {
		t.Error("expired token still in use")
	}
}

func TestOAuthExpiredTokenRefusedThenRetried(t *testing.T) {
	// The client believes its token lives 60 s longer than the server does
	// (clock skew, or a server that shortens lifetimes): the FHIR server
	// refuses it with 401, and the transport renews once and retries.
	const ttl = 2 * time.Second
	k := oauthTestKeys(t)[auth.ES384]
	srv := requireOAuth(t,
		harness.WithOAuthClient(harness.OAuthClient{ID: "hemopa", Keys: []any{k.Public()}}),
		harness.WithOAuthTokenTTL(ttl))
	fhir := newOAuthFHIRFixture(t, srv)
	skewed := &http.Client{Transport: oauthExpiresInPadding{base: http.DefaultTransport, add: 60}}
	c, err := auth.New(context.Background(), "hemopa", k, auth.WithFHIRBase(fhir.Base), auth.WithHTTPClient(skewed))
	if err != nil {
		t.Fatal(err)
	}
	hc := c.HTTPClient(nil)
	oauthGetPatient(t, hc, fhir.Base)
	time.Sleep(ttl + 500*time.Millisecond)
	oauthGetPatient(t, hc, fhir.Base) // 401 with the expired token, then 200
	_, status := fhir.seen()
	if !slices.Equal(status, []int{200, 401, 200}) || c.TokenRequests() != 2 {
		t.Errorf("FHIR statuses %v with %d token requests; want [200 401 200] and 2", status, c.TokenRequests())
	}
}

// oauthExpiresInPadding adds seconds to expires_in in token responses.
type oauthExpiresInPadding struct {
	base http.RoundTripper
	add  int
}

func (p oauthExpiresInPadding) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := p.base.RoundTrip(r)
	if err != nil || resp.StatusCode != 200 || r.Method != http.MethodPost {
		return resp, err
	}
	var m map[string]any
	err = json.NewDecoder(resp.Body).Decode(&m)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	if e, ok := m["expires_in"].(float64); ok {
		m["expires_in"] = int(e) + p.add
	}
	b, _ := json.Marshal(m)
	resp.Body = io.NopCloser(strings.NewReader(string(b)))
	resp.ContentLength = int64(len(b))
	resp.Header.Del("Content-Length")
	return resp, nil
}

func TestOAuthRejections(t *testing.T) {
	k := oauthTestKeys(t)
	other, err := auth.GenerateKey(auth.ES384)
	if err != nil {
		t.Fatal(err)
	}
	srv := requireOAuth(t, harness.WithOAuthClient(harness.OAuthClient{ID: "hemopa", Keys: []any{k[auth.ES384].Public()}}))

	for _, tc := range []struct {
		name       string
		key        *auth.Key
		opts       []auth.Option
		wantDetail string // oidc-provider's error_detail: in its log, not its response
	}{
		{name: "unregistered key", key: other, wantDetail: "no applicable key found in the JSON Web Key Set"},
		{name: "registered kid, wrong key", key: oauthWithKID(t, other, k[auth.ES384].KID), wantDetail: "signature verification failed"},
		{name: "RS384 key not registered", key: k[auth.RS384], wantDetail: "no applicable key found in the JSON Web Key Set"},
		{name: "wrong aud", key: k[auth.ES384], opts: []auth.Option{auth.WithAssertionAudience("https://ehr.example/oauth2/token")},
			wantDetail: "audience (aud) must equal the endpoint url, issuer identifier or token endpoint url"},
		{name: "unknown client", key: k[auth.ES384], wantDetail: "client not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clientID := "hemopa"
			if tc.name == "unknown client" {
				clientID = "nobody"
			}
			logStart := len(srv.Logs())
			c, err := auth.New(context.Background(), clientID, tc.key, append([]auth.Option{auth.WithTokenURL(srv.TokenURL())}, tc.opts...)...)
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Token()
			var te *auth.TokenError
			if !errors.As(err, &te) {
				t.Fatalf("err = %v, want *auth.TokenError", err)
			}
			t.Logf("error: %v", err)
			if te.StatusCode != 400 && te.StatusCode != 401 || te.Code != "invalid_client" || te.Description == "" {
				t.Errorf("TokenError %+v", te)
			}
			// The message shows the server's fields verbatim.
			for _, s := range []string{`error="invalid_client"`, fmt.Sprintf("error_description=%q", te.Description), srv.TokenURL()} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q lacks %q", err, s)
				}
			}
			if !oauthWaitForLog(srv, logStart, tc.wantDetail) {
				t.Errorf("server log lacks %q:\n%s", tc.wantDetail, srv.Logs()[logStart:])
			}
		})
	}
}

// The server logs on stderr, which reaches us a moment after its HTTP
// responses: poll briefly.

// oauthWaitForLog reports whether want appears in the server's output after
// offset within 2 s.
func oauthWaitForLog(srv *harness.OAuthServer, offset int, want string) bool {
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if strings.Contains(srv.Logs()[offset:], want) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

// oauthTokensIssued waits up to 2 s for the server to have logged at least want
// issued tokens, then gives extra ones 200 ms to show, and returns the count.
func oauthTokensIssued(srv *harness.OAuthServer, want int) int {
	for deadline := time.Now().Add(2 * time.Second); srv.TokensIssued() < want && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	return srv.TokensIssued()
}

// oauthWithKID returns key under another kid (a key swapped behind a kid).
func oauthWithKID(t *testing.T, key *auth.Key, kid string) *auth.Key {
	k, err := auth.NewKey(key.Signer(), kid)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestOAuthReplayedAssertionRejected(t *testing.T) {
	k := oauthTestKeys(t)[auth.ES384]
	srv := requireOAuth(t, harness.WithOAuthClient(harness.OAuthClient{ID: "hemopa", Keys: []any{k.Public()}}))
	assertion, err := auth.SignAssertion(k, auth.Assertion{ClientID: "hemopa", Audience: srv.TokenURL()})
	if err != nil {
		t.Fatal(err)
	}
	post := func() (int, map[string]string) {
		form := url.Values{
			"grant_type":            {"client_credentials"},
			"scope":                 {"system/Patient.rs"},
			"client_assertion_type": {auth.ClientAssertionType},
			"client_assertion":      {assertion},
		}
		resp, err := http.PostForm(srv.TokenURL(), form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]string
		json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	if code, m := post(); code != 200 || m["access_token"] == "" {
		t.Fatalf("first use: HTTP %d %v", code, m["error"])
	}
	code, m := post()
	if code != 401 || m["error"] != "invalid_client" {
		t.Fatalf("replay: HTTP %d %v, want 401 invalid_client", code, m)
	}
	if !oauthWaitForLog(srv, 0, "client assertion tokens must only be used once") {
		t.Errorf("server log lacks the replay detail:\n%s", srv.Logs())
	}
	// The client never replays: each token request has its own jti.
	c, err := auth.New(context.Background(), "hemopa", k, auth.WithTokenURL(srv.TokenURL()))
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		tok, err := c.Token()
		if err != nil {
			t.Fatalf("token request %d: %v", c.TokenRequests(), err)
		}
		c.Invalidate(tok)
	}
}

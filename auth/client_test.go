package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeAS is a token endpoint that records what it was sent. It does not
// check signatures (integration tests run a real server for that).
type fakeAS struct {
	*httptest.Server
	mu       sync.Mutex
	requests []*recordedTokenRequest
	respond  func(w http.ResponseWriter, n int) // n counts from 1
}

type recordedTokenRequest struct {
	Method string
	Path   string
	Header http.Header
	Form   url.Values
}

func newFakeAS(t *testing.T, respond func(w http.ResponseWriter, n int)) *fakeAS {
	t.Helper()
	as := &fakeAS{respond: respond}
	if as.respond == nil {
		as.respond = func(w http.ResponseWriter, n int) {
			writeJSON(w, 200, map[string]any{"access_token": fmt.Sprintf("tok-%d", n), "token_type": "Bearer", "expires_in": 300, "scope": "system/Patient.rs"})
		}
	}
	as.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(body))
		as.mu.Lock()
		as.requests = append(as.requests, &recordedTokenRequest{r.Method, r.URL.Path, r.Header.Clone(), form})
		n := len(as.requests)
		as.mu.Unlock()
		as.respond(w, n)
	}))
	t.Cleanup(as.Close)
	return as
}

func (as *fakeAS) count() int {
	as.mu.Lock()
	defer as.mu.Unlock()
	return len(as.requests)
}

func (as *fakeAS) last() *recordedTokenRequest {
	as.mu.Lock()
	defer as.mu.Unlock()
	return as.requests[len(as.requests)-1]
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func newTestClient(t *testing.T, alg, tokenURL string, opts ...Option) *Client {
	t.Helper()
	c, err := New(context.Background(), "hemopa-test", testKey(t, alg), append([]Option{WithTokenURL(tokenURL)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// fhirStub answers 200 and records the Authorization headers it saw; reject
// decides a 401 from the token.
type fhirStub struct {
	*httptest.Server
	mu     sync.Mutex
	seen   []string
	bodies []string
	reject func(auth string) bool
}

func newFHIRStub(t *testing.T, reject func(string) bool) *fhirStub {
	f := &fhirStub{reject: reject}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := r.Header.Get("Authorization")
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.seen = append(f.seen, a)
		f.bodies = append(f.bodies, string(b))
		f.mu.Unlock()
		if f.reject != nil && f.reject(a) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		writeJSON(w, 200, map[string]string{"resourceType": "Patient"})
	}))
	t.Cleanup(f.Close)
	return f
}

func TestTokenRequestForm(t *testing.T) {
	for _, alg := range []string{RS384, ES384} {
		t.Run(alg, func(t *testing.T) {
			as := newFakeAS(t, nil)
			c := newTestClient(t, alg, as.URL+"/token", WithResourceTypes("Patient"), WithJKU("https://app.example/jwks.json"))
			if _, err := c.Token(); err != nil {
				t.Fatal(err)
			}
			r := as.last()
			if r.Method != http.MethodPost || r.Path != "/token" {
				t.Errorf("%s %s", r.Method, r.Path)
			}
			if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
				t.Errorf("Content-Type = %q", ct)
			}
			if a := r.Header.Get("Authorization"); a != "" {
				t.Errorf("token POST has an Authorization header %q", a)
			}
			want := map[string]string{
				"grant_type":            "client_credentials",
				"client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
				"scope":                 "system/Patient.rs",
			}
			for k, v := range want {
				if got := r.Form.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			if r.Form.Has("client_id") || r.Form.Has("client_secret") {
				t.Errorf("unexpected form fields: %v", r.Form)
			}
			h, claims := decodeJWT(t, r.Form.Get("client_assertion"))
			if h["alg"] != alg || h["kid"] != testKey(t, alg).KID || h["typ"] != "JWT" || h["jku"] != "https://app.example/jwks.json" {
				t.Errorf("header %v", h)
			}
			if aud, ok := claims["aud"].(string); !ok || aud != as.URL+"/token" {
				t.Errorf("aud = %#v, want the token URL as a string", claims["aud"])
			}
			if claims["iss"] != "hemopa-test" || claims["sub"] != "hemopa-test" {
				t.Errorf("claims %v", claims)
			}
			if exp := int64(claims["exp"].(float64)); exp > time.Now().Unix()+300 {
				t.Errorf("exp more than 5 min ahead")
			}
		})
	}
}

func TestFreshAssertionPerTokenRequest(t *testing.T) {
	as := newFakeAS(t, nil)
	c := newTestClient(t, ES384, as.URL)
	jtis := map[string]bool{}
	for range 5 {
		tok, err := c.Token()
		if err != nil {
			t.Fatal(err)
		}
		c.Invalidate(tok)
		_, claims := decodeJWT(t, as.last().Form.Get("client_assertion"))
		jtis[claims["jti"].(string)] = true
	}
	if len(jtis) != 5 || as.count() != 5 || c.TokenRequests() != 5 {
		t.Errorf("%d distinct jti over %d requests (counter %d)", len(jtis), as.count(), c.TokenRequests())
	}
}

func TestTokenResponses(t *testing.T) {
	for _, tc := range []struct {
		name        string
		status      int
		body        string
		wantExpires int64
		wantErr     []string // substrings of the error message
		notInErr    string
	}{
		{name: "number", status: 200, body: `{"access_token":"a","token_type":"Bearer","expires_in":300}`, wantExpires: 300},
		{name: "string expires_in", status: 200, body: `{"access_token":"a","token_type":"bearer","expires_in":"3600"}`, wantExpires: 3600},
		{name: "float expires_in", status: 200, body: `{"access_token":"a","token_type":"BEARER","expires_in":299.0}`, wantExpires: 299},
		{name: "no expires_in", status: 200, body: `{"access_token":"a","token_type":"Bearer"}`, wantExpires: 300},
		{name: "OAuth error verbatim", status: 401,
			body:    `{"error":"invalid_client","error_description":"client authentication failed: kid \"x\" not found"}`,
			wantErr: []string{"HTTP 401", `error="invalid_client"`, `error_description="client authentication failed: kid \"x\" not found"`, "/token"}},
		{name: "invalid_scope", status: 400, body: `{"error":"invalid_scope","error_description":"scope system/Foo.rs not allowed","error_uri":"https://x/e"}`,
			wantErr: []string{"HTTP 400", `error="invalid_scope"`, "system/Foo.rs", `error_uri="https://x/e"`}},
		{name: "HTML 502", status: 502, body: "<html>\n<body>Bad   gateway</body></html>", wantErr: []string{"HTTP 502", "<html> <body>Bad gateway"}},
		{name: "200 not JSON", status: 200, body: `access_token=secret-1`, wantErr: []string{"not a JSON object"}, notInErr: "secret-1"},
		{name: "200 no token", status: 200, body: `{"token_type":"Bearer","refresh":"secret-2"}`, wantErr: []string{"no access_token"}, notInErr: "secret-2"},
		{name: "200 with error", status: 200, body: `{"error":"invalid_request"}`, wantErr: []string{`error="invalid_request"`}},
		{name: "DPoP token", status: 200, body: `{"access_token":"secret-3","token_type":"DPoP","expires_in":60}`, wantErr: []string{`token_type "DPoP"`}, notInErr: "secret-3"},
		{name: "bad expires_in", status: 200, body: `{"access_token":"secret-4","token_type":"Bearer","expires_in":"soon"}`, wantErr: []string{"expires_in"}, notInErr: "secret-4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			as := newFakeAS(t, func(w http.ResponseWriter, _ int) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			})
			c := newTestClient(t, ES384, as.URL+"/token")
			start := time.Now()
			tok, err := c.Token()
			if len(tc.wantErr) > 0 {
				if err == nil {
					t.Fatal("want error")
				}
				var te *TokenError
				if !errors.As(err, &te) {
					t.Fatalf("error %T is not a *TokenError", err)
				}
				for _, s := range tc.wantErr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q lacks %q", err, s)
					}
				}
				if tc.notInErr != "" && strings.Contains(err.Error(), tc.notInErr) {
					t.Errorf("error %q leaks %q", err, tc.notInErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tok.Type() != "Bearer" || tok.ExpiresIn != tc.wantExpires {
				t.Errorf("type %q expires_in %d", tok.Type(), tok.ExpiresIn)
			}
			if d := tok.Expiry.Sub(start); d > time.Duration(tc.wantExpires+1)*time.Second || d < time.Duration(tc.wantExpires)*time.Second {
				t.Errorf("expiry %v after start, want ~%ds", d, tc.wantExpires)
			}
		})
	}
}

func TestReuseAcrossFHIRCalls(t *testing.T) {
	as := newFakeAS(t, nil)
	fhir := newFHIRStub(t, nil)
	var hooked atomic.Int64
	c := newTestClient(t, RS384, as.URL, WithTokenRequestHook(func(i TokenRequestInfo) {
		hooked.Add(1)
		if i.Err != nil || i.StatusCode != 200 || i.N != hooked.Load() {
			t.Errorf("hook info %+v", i)
		}
	}))
	hc := c.HTTPClient(nil)
	const n = 50
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := hc.Get(fmt.Sprintf("%s/Patient/%d", fhir.URL, i))
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Errorf("status %d", resp.StatusCode)
			}
		}()
	}
	wg.Wait()
	if as.count() != 1 || c.TokenRequests() != 1 || hooked.Load() != 1 {
		t.Errorf("%d FHIR calls made %d token requests (counter %d, hook %d), want 1", n, as.count(), c.TokenRequests(), hooked.Load())
	}
	for _, a := range fhir.seen {
		if a != "Bearer tok-1" {
			t.Fatalf("FHIR saw Authorization %q", a)
		}
	}
}

func TestShortLivedTokenReuse(t *testing.T) {
	as := newFakeAS(t, func(w http.ResponseWriter, n int) {
		writeJSON(w, 200, map[string]any{"access_token": fmt.Sprintf("tok-%d", n), "token_type": "Bearer", "expires_in": "2"})
	})
	c := newTestClient(t, ES384, as.URL)
	for range 10 {
		if _, err := c.Token(); err != nil {
			t.Fatal(err)
		}
	}
	if got := as.count(); got != 1 {
		t.Fatalf("10 calls within a 2 s token's life made %d token requests, want 1 (60 s margin bigger than lifetime?)", got)
	}
	time.Sleep(1100 * time.Millisecond) // past half of the lifetime
	tok, err := c.Token()
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken != "tok-2" || as.count() != 2 {
		t.Errorf("after the margin: token %q, %d requests", tok.AccessToken, as.count())
	}
	c.Token()
	if as.count() != 2 {
		t.Errorf("renewed token not reused: %d requests", as.count())
	}
}

func TestRetryOn401(t *testing.T) {
	for _, tc := range []struct {
		name          string
		reject        func(string) bool
		body          func(url string) *http.Request
		wantStatus    int
		wantTokenReqs int
		wantFHIRCalls int
	}{
		{
			name:   "GET: stale token refused once",
			reject: func(a string) bool { return a == "Bearer tok-1" },
			body: func(u string) *http.Request {
				r, _ := http.NewRequest(http.MethodGet, u, nil)
				return r
			},
			wantStatus: 200, wantTokenReqs: 2, wantFHIRCalls: 2,
		},
		{
			name:   "POST with replayable body",
			reject: func(a string) bool { return a == "Bearer tok-1" },
			body: func(u string) *http.Request {
				r, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(`{"resourceType":"Task"}`))
				return r
			},
			wantStatus: 200, wantTokenReqs: 2, wantFHIRCalls: 2,
		},
		{
			name:   "always 401: one retry only",
			reject: func(string) bool { return true },
			body: func(u string) *http.Request {
				r, _ := http.NewRequest(http.MethodGet, u, nil)
				return r
			},
			wantStatus: 401, wantTokenReqs: 2, wantFHIRCalls: 2,
		},
		{
			name:   "body not replayable: no retry",
			reject: func(a string) bool { return a == "Bearer tok-1" },
			body: func(u string) *http.Request {
				r, _ := http.NewRequest(http.MethodPost, u, io.NopCloser(strings.NewReader("x")))
				r.GetBody = nil
				return r
			},
			wantStatus: 401, wantTokenReqs: 1, wantFHIRCalls: 1,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			as := newFakeAS(t, nil)
			fhir := newFHIRStub(t, tc.reject)
			c := newTestClient(t, ES384, as.URL)
			resp, err := c.HTTPClient(nil).Do(tc.body(fhir.URL + "/Task"))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.wantStatus || as.count() != tc.wantTokenReqs || len(fhir.seen) != tc.wantFHIRCalls {
				t.Errorf("status %d, %d token requests, %d FHIR calls; want %d, %d, %d",
					resp.StatusCode, as.count(), len(fhir.seen), tc.wantStatus, tc.wantTokenReqs, tc.wantFHIRCalls)
			}
			if len(fhir.bodies) == 2 && fhir.bodies[0] != fhir.bodies[1] {
				t.Errorf("retried body %q differs from %q", fhir.bodies[1], fhir.bodies[0])
			}
		})
	}
}

func TestConcurrent401sRenewOnce(t *testing.T) {
	as := newFakeAS(t, nil)
	fhir := newFHIRStub(t, func(a string) bool { return a == "Bearer tok-1" })
	c := newTestClient(t, ES384, as.URL)
	if _, err := c.Token(); err != nil { // everyone starts with tok-1
		t.Fatal(err)
	}
	hc := c.HTTPClient(nil)
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := hc.Get(fhir.URL)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Errorf("status %d", resp.StatusCode)
			}
		}()
	}
	wg.Wait()
	if as.count() != 2 {
		t.Errorf("20 concurrent 401s made %d token requests, want 2 in all", as.count())
	}
}

func TestV1FallbackFromDiscovery(t *testing.T) {
	as := newFakeAS(t, nil)
	for _, tc := range []struct {
		name      string
		supported []string
		write     bool
		want      string
	}{
		{"v1 only", []string{"system/*.read", "system/Patient.read"}, false, "system/Patient.read system/Observation.read"},
		{"v1 write", []string{"system/*.read", "system/*.write"}, true, "system/Patient.read system/Observation.read system/ClaimResponse.write system/QuestionnaireResponse.write system/Task.write"},
		{"v2 listed", []string{"system/Patient.read", "system/Patient.rs"}, false, "system/Patient.rs system/Observation.rs"},
		{"no list", nil, true, "system/Patient.rs system/Observation.rs system/ClaimResponse.cu system/QuestionnaireResponse.cu system/Task.cu"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fhir := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/fhir/.well-known/smart-configuration" {
					http.NotFound(w, r)
					return
				}
				writeJSON(w, 200, map[string]any{"token_endpoint": as.URL + "/token", "scopes_supported": tc.supported})
			}))
			defer fhir.Close()
			opts := []Option{WithFHIRBase(fhir.URL + "/fhir"), WithResourceTypes("Patient", "Observation")}
			if tc.write {
				opts = append(opts, WithWriteBack())
			}
			c, err := New(context.Background(), "cid", testKey(t, ES384), opts...)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Token(); err != nil {
				t.Fatal(err)
			}
			if got := as.last().Form.Get("scope"); got != tc.want {
				t.Errorf("scope = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestDiscoveryRelativeTokenURL(t *testing.T) {
	var tokenPath, aud string
	mux := http.NewServeMux()
	mux.HandleFunc("GET /tenant/r4/.well-known/smart-configuration", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{
			"token_endpoint":                                   "../oauth2/token",
			"token_endpoint_auth_methods_supported":            []string{"private_key_jwt"},
			"token_endpoint_auth_signing_alg_values_supported": []string{"RS384", "ES384"},
			"grant_types_supported":                            []string{"client_credentials"},
		})
	})
	mux.HandleFunc("POST /tenant/oauth2/token", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		tokenPath = r.URL.Path
		_, claims := decodeJWT(t, r.PostForm.Get("client_assertion"))
		aud, _ = claims["aud"].(string)
		writeJSON(w, 200, map[string]any{"access_token": "a", "token_type": "Bearer", "expires_in": 300})
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c, err := New(context.Background(), "cid", testKey(t, RS384), WithFHIRBase(srv.URL+"/tenant/r4"))
	if err != nil {
		t.Fatal(err)
	}
	if want := srv.URL + "/tenant/oauth2/token"; c.TokenURL() != want {
		t.Fatalf("token URL %s, want %s", c.TokenURL(), want)
	}
	if _, err := c.Token(); err != nil {
		t.Fatal(err)
	}
	if tokenPath != "/tenant/oauth2/token" || aud != c.TokenURL() {
		t.Errorf("posted to %s with aud %s", tokenPath, aud)
	}
}

func TestExplicitTokenURLSkipsDiscovery(t *testing.T) {
	as := newFakeAS(t, nil)
	var discovered atomic.Bool
	fhir := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { discovered.Store(true) }))
	defer fhir.Close()
	c, err := New(context.Background(), "cid", testKey(t, ES384), WithFHIRBase(fhir.URL), WithTokenURL(as.URL+"/t"))
	if err != nil {
		t.Fatal(err)
	}
	if discovered.Load() || c.TokenURL() != as.URL+"/t" {
		t.Errorf("discovered %v, token URL %s", discovered.Load(), c.TokenURL())
	}
}

func TestTokenPOSTNotRedirectedOrRetried(t *testing.T) {
	var target atomic.Int64
	dest := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { target.Add(1) }))
	defer dest.Close()
	as := newFakeAS(t, func(w http.ResponseWriter, _ int) {
		w.Header().Set("Location", dest.URL)
		w.WriteHeader(http.StatusTemporaryRedirect)
	})
	c := newTestClient(t, ES384, as.URL)
	_, err := c.Token()
	var te *TokenError
	if !errors.As(err, &te) || te.StatusCode != 307 {
		t.Fatalf("err = %v", err)
	}
	if target.Load() != 0 || as.count() != 1 {
		t.Errorf("assertion replayed: redirect target hit %d times, %d POSTs", target.Load(), as.count())
	}
}

func TestNewErrors(t *testing.T) {
	key := testKey(t, ES384)
	rsaOnly := &SmartConfiguration{TokenEndpoint: "https://ehr.example/token", TokenEndpointAuthSigningAlgValuesSupported: []string{"RS384"}}
	for _, tc := range []struct {
		name     string
		clientID string
		key      *Key
		opts     []Option
		want     string
	}{
		{"no client", "", key, []Option{WithTokenURL("https://x/t")}, "client ID"},
		{"no key", "c", nil, []Option{WithTokenURL("https://x/t")}, "key"},
		{"no endpoint", "c", key, nil, "WithTokenURL"},
		{"plain http", "c", key, []Option{WithTokenURL("http://ehr.example/token")}, "not https"},
		{"relative", "c", key, []Option{WithTokenURL("/token")}, "absolute"},
		{"alg not accepted", "c", key, []Option{WithSmartConfiguration(rsaOnly)}, "ES384"},
		{"assertion too long", "c", key, []Option{WithTokenURL("https://x/t"), WithAssertionLifetime(10 * time.Minute)}, "lifetime"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(context.Background(), tc.clientID, tc.key, tc.opts...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
	if _, err := New(context.Background(), "c", key, WithTokenURL("http://ehr.example/token"), WithInsecureHTTP()); err != nil {
		t.Errorf("WithInsecureHTTP: %v", err)
	}
}

func TestLogsHoldNoSecrets(t *testing.T) {
	as := newFakeAS(t, nil)
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	fhir := newFHIRStub(t, func(a string) bool { return a == "Bearer tok-1" })
	c := newTestClient(t, ES384, as.URL, WithLogger(log))
	resp, err := c.HTTPClient(nil).Get(fhir.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	out := buf.String()
	if !strings.Contains(out, "token issued") || !strings.Contains(out, c.key.KID) {
		t.Fatalf("log lacks the expected events:\n%s", out)
	}
	for _, secret := range []string{"tok-1", "tok-2", as.last().Form.Get("client_assertion")[:40]} {
		if strings.Contains(out, secret) {
			t.Errorf("log holds %q:\n%s", secret, out)
		}
	}
}

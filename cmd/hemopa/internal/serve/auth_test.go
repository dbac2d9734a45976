package serve

import (
	"context"
	"crypto/x509"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestAuthMatrix: every way a token can be wrong is a bare 401; RS384 (JWKS
// file) and ES384 (JWKS URL) tokens pass.
func TestAuthMatrix(t *testing.T) {
	ts := newTestServer(t, serverOpts{discoveryAuth: true})
	const path = "/cds-services"
	pub, _ := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	replayed := ts.sign(t, path, token{jti: "used-once"})
	if status, body, _ := ts.do(t, "GET", path, nil, replayed); status != http.StatusOK {
		t.Fatalf("first use of a token: %d %s", status, body)
	}
	for _, tc := range []struct {
		name   string
		bearer string
		want   int
	}{
		{"valid RS384 (JWKS file)", ts.sign(t, path, token{}), 200},
		{"valid ES384 (JWKS URL)", ts.sign(t, path, token{alg: "ES384"}), 200},
		{"aud as an array holding the URL", ts.sign(t, path, token{aud: []string{"https://other.example.org", ts.URL + path}}), 200},
		{"no token", "-", 401},
		{"not a JWT", "not.a.jwt", 401},
		{"expired", ts.sign(t, path, token{exp: -2 * time.Minute, iat: -5 * time.Minute}), 401},
		{"no exp", ts.sign(t, path, token{noExp: true}), 401},
		{"no iat", ts.sign(t, path, token{noIat: true}), 401},
		{"iat in the future", ts.sign(t, path, token{iat: 10 * time.Minute, exp: 12 * time.Minute}), 401},
		{"lifetime too long", ts.sign(t, path, token{exp: time.Hour}), 401},
		{"wrong aud (another endpoint)", ts.sign(t, path, token{aud: ts.URL + "/cds-services/hemopa-order-sign"}), 401},
		{"wrong aud (another host)", ts.sign(t, path, token{aud: "https://evil.example.org" + path}), 401},
		{"unknown kid (file)", ts.sign(t, path, token{kid: "nope"}), 401},
		{"unknown kid (URL, refetched)", ts.sign(t, path, token{alg: "ES384", kid: "nope"}), 401},
		{"no kid", ts.sign(t, path, token{kid: "-"}), 401},
		{"signed by another key", ts.sign(t, path, token{key: otherRSA}), 401},
		{"RSA key under 2048 bits", ts.sign(t, path, token{kid: "rsa-weak", key: weakRSA}), 401},
		{"alg none", ts.sign(t, path, token{none: true}), 401},
		{"HS256 with a secret", ts.sign(t, path, token{hmac: []byte("shared-secret-shared-secret-32b!")}), 401},
		{"HS256 keyed with the RSA public key", ts.sign(t, path, token{hmac: pub}), 401},
		{"untrusted issuer", ts.sign(t, path, token{iss: "https://evil.example.org"}), 401},
		{"issuer/key mismatch (ES384 token as the RS384 issuer)", ts.sign(t, path, token{alg: "ES384", iss: issFile, kid: "ec-1"}), 401},
		{"replayed jti", replayed, 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body, hdr := ts.do(t, "GET", path, nil, tc.bearer)
			if status != tc.want {
				t.Fatalf("status %d, want %d: %s", status, tc.want, body)
			}
			if status == 401 {
				if len(body) != 0 {
					t.Errorf("401 with a body: %s", body)
				}
				if hdr.Get("WWW-Authenticate") == "" {
					t.Error("401 without WWW-Authenticate")
				}
			}
		})
	}
	logs := ts.logs.String()
	if strings.Contains(logs, "eyJ") {
		t.Error("a JWT reached the logs")
	}
	if !strings.Contains(logs, `"kind":"auth-replay"`) || !strings.Contains(logs, `"kind":"auth-untrusted-issuer"`) {
		t.Errorf("refusals are not logged by reason:\n%s", logs)
	}
}

// TestAuthEveryEndpoint: hooks, feedback, DTR and PAS all need a token; the
// operational endpoints do not, nor discovery unless discovery_auth.
func TestAuthEveryEndpoint(t *testing.T) {
	ts := newTestServer(t, serverOpts{})
	for _, ep := range []struct{ method, path string }{
		{"POST", "/cds-services/hemopa-order-sign"},
		{"POST", "/cds-services/hemopa-appointment-book"},
		{"POST", "/cds-services/hemopa-encounter-start"},
		{"POST", "/cds-services/hemopa-encounter-discharge"},
		{"POST", "/cds-services/hemopa-order-dispatch"},
		{"POST", "/cds-services/hemopa-order-select/feedback"},
		{"POST", "/fhir/Questionnaire/$questionnaire-package"},
		{"POST", "/fhir/Claim/$submit"},
		{"POST", "/fhir/Claim/$inquire"},
	} {
		if status, _, _ := ts.do(t, ep.method, ep.path, []byte(`{}`), "-"); status != http.StatusUnauthorized {
			t.Errorf("%s %s without a token: %d", ep.method, ep.path, status)
		}
	}
	for _, path := range []string{"/cds-services", "/healthz", "/readyz", "/.well-known/jwks.json", "/metrics"} {
		if status, body, _ := ts.do(t, "GET", path, nil, "-"); status != http.StatusOK {
			t.Errorf("GET %s: %d %s", path, status, body)
		}
	}
}

// TestInsecureDev: no auth at all, and only on loopback.
func TestInsecureDev(t *testing.T) {
	ts := newTestServer(t, serverOpts{dev: true})
	if status, body, _ := ts.do(t, "GET", "/cds-services", nil, "-"); status != http.StatusOK {
		t.Fatalf("dev mode without a token: %d %s", status, body)
	}
	ln, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Skipf("cannot listen on all interfaces: %v", err)
	}
	err = ts.Serve(context.Background(), ln)
	if err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("dev mode on 0.0.0.0: %v, want a refusal", err)
	}
	for addr, want := range map[string]bool{"127.0.0.1:8080": true, "[::1]:80": true, "localhost:1": true, "0.0.0.0:8080": false, ":8080": false, "10.1.2.3:80": false} {
		if got := IsLoopbackAddr(addr); got != want {
			t.Errorf("IsLoopbackAddr(%q) = %v", addr, got)
		}
	}
}

func TestJTICache(t *testing.T) {
	c := newJTICache(3)
	now := time.Unix(1_000_000, 0)
	c.now = func() time.Time { return now }
	a, b, d, e := newJTIKey("i", "a"), newJTIKey("i", "b"), newJTIKey("i", "d"), newJTIKey("j", "a")
	if !c.firstUse(a, now.Add(10*time.Second)) || c.firstUse(a, now.Add(10*time.Second)) {
		t.Fatal("first use, then a replay")
	}
	if !c.firstUse(e, now.Add(time.Second)) {
		t.Fatal("same jti from another issuer is another token")
	}
	if !c.firstUse(b, now.Add(100*time.Second)) || c.firstUse(d, now.Add(time.Second)) {
		t.Fatal("the cache holds 3: the fourth live token is refused")
	}
	now = now.Add(11 * time.Second) // a and e expired: forgotten
	if !c.firstUse(d, now.Add(time.Second)) || c.len() != 2 {
		t.Fatalf("after expiry: %d entries", c.len())
	}
	if !c.firstUse(a, now.Add(time.Second)) {
		t.Fatal("an expired jti is forgotten")
	}
	now = now.Add(time.Hour) // long idle: swept by bucket walk
	c.firstUse(newJTIKey("i", "z"), now.Add(time.Second))
	if c.len() != 1 {
		t.Errorf("after an hour: %d entries", c.len())
	}
}

// TestDiscoveryAuth: discovery_auth false (the default) serves discovery
// without a token while the hooks keep full verification, jti replay
// included; true puts discovery behind the JWT too.
func TestDiscoveryAuth(t *testing.T) {
	for _, tc := range []struct {
		name          string
		discoveryAuth bool
		noToken       int
	}{
		{"discovery_auth false (default)", false, http.StatusOK},
		{"discovery_auth true", true, http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t, serverOpts{discoveryAuth: tc.discoveryAuth})
			if status, body, _ := ts.do(t, "GET", "/cds-services", nil, "-"); status != tc.noToken {
				t.Errorf("discovery without a token: %d, want %d: %s", status, tc.noToken, body)
			}
			if status, body, _ := ts.do(t, "GET", "/cds-services", nil, ""); status != http.StatusOK {
				t.Errorf("discovery with a token: %d %s", status, body)
			}
			const path = "/cds-services/hemopa-order-sign"
			body := hookRequest(t, "b-approve", hookOrderSign, "ucare")
			if status, _, _ := ts.do(t, "POST", path, body, "-"); status != http.StatusUnauthorized {
				t.Errorf("hook without a token: %d", status)
			}
			once := ts.sign(t, path, token{jti: "hook-" + tc.name})
			if status, resp, _ := ts.do(t, "POST", path, body, once); status != http.StatusOK {
				t.Fatalf("hook, first use of a token: %d %s", status, resp)
			}
			if status, _, _ := ts.do(t, "POST", path, body, once); status != http.StatusUnauthorized {
				t.Errorf("hook, replayed jti: %d, want 401", status)
			}
		})
	}
}

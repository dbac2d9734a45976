package auth

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// decodeJWT returns the header and claims as raw JSON maps, so that types
// (aud a string, not an array) can be checked.
func decodeJWT(t testing.TB, s string) (header, claims map[string]any) {
	t.Helper()
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		t.Fatalf("JWT has %d parts", len(parts))
	}
	for i, dst := range []*map[string]any{&header, &claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, dst); err != nil {
			t.Fatal(err)
		}
	}
	return header, claims
}

func TestSignAssertion(t *testing.T) {
	const aud = "https://ehr.example/oauth2/token"
	for _, tc := range []struct {
		alg string
		jku string
	}{
		{alg: RS384},
		{alg: ES384, jku: "https://app.example/jwks.json"},
	} {
		t.Run(tc.alg, func(t *testing.T) {
			key := testKey(t, tc.alg)
			before := time.Now()
			s, err := SignAssertion(key, Assertion{ClientID: "cid", Audience: aud, JKU: tc.jku})
			if err != nil {
				t.Fatal(err)
			}
			h, c := decodeJWT(t, s)
			if h["alg"] != tc.alg || h["kid"] != key.KID || h["typ"] != "JWT" {
				t.Errorf("header = %v", h)
			}
			if jku, ok := h["jku"]; (tc.jku == "" && ok) || (tc.jku != "" && jku != tc.jku) {
				t.Errorf("jku = %v", jku)
			}
			if got, ok := c["aud"].(string); !ok || got != aud {
				t.Errorf("aud = %#v, want the string %q", c["aud"], aud)
			}
			if c["iss"] != "cid" || c["sub"] != "cid" {
				t.Errorf("iss/sub = %v/%v", c["iss"], c["sub"])
			}
			exp, iat := int64(c["exp"].(float64)), int64(c["iat"].(float64))
			if exp-iat > 300 || exp-before.Unix() > 300 || exp <= before.Unix() {
				t.Errorf("exp %d iat %d now %d: want exp within 5 min", exp, iat, before.Unix())
			}
			if jti, _ := c["jti"].(string); len(jti) < 20 {
				t.Errorf("jti = %q", jti)
			}
			// The signature verifies with the public JWK.
			pub, err := key.Public().CryptoPublicKey()
			if err != nil {
				t.Fatal(err)
			}
			_, err = jwt.Parse(s, func(*jwt.Token) (any, error) { return pub, nil },
				jwt.WithValidMethods([]string{tc.alg}), jwt.WithAudience(aud), jwt.WithIssuer("cid"))
			if err != nil {
				t.Errorf("verify: %v", err)
			}
		})
	}
}

func TestSignAssertionUniqueJTI(t *testing.T) {
	key := testKey(t, ES384)
	seen := map[string]bool{}
	for range 200 {
		s, err := SignAssertion(key, Assertion{ClientID: "c", Audience: "https://a/t"})
		if err != nil {
			t.Fatal(err)
		}
		_, c := decodeJWT(t, s)
		jti := c["jti"].(string)
		if seen[jti] {
			t.Fatalf("jti %q repeated", jti)
		}
		seen[jti] = true
	}
}

func TestSignAssertionErrors(t *testing.T) {
	key := testKey(t, ES384)
	noKid := *key
	noKid.KID = ""
	for _, tc := range []struct {
		name string
		key  *Key
		a    Assertion
	}{
		{"no key", nil, Assertion{ClientID: "c", Audience: "a"}},
		{"no kid", &noKid, Assertion{ClientID: "c", Audience: "a"}},
		{"no client", key, Assertion{Audience: "a"}},
		{"no aud", key, Assertion{ClientID: "c"}},
		{"too long", key, Assertion{ClientID: "c", Audience: "a", Lifetime: 6 * time.Minute}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := SignAssertion(tc.key, tc.a); err == nil {
				t.Fatal("want error")
			}
		})
	}
}

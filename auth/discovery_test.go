package auth

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestDiscover(t *testing.T) {
	for _, tc := range []struct {
		name     string
		basePath string // FHIR base path on the test server
		endpoint string // token_endpoint as published; "{srv}" is the server URL
		want     string // "{srv}" is the server URL
	}{
		{"absolute", "/fhir/r4", "https://auth.example/token", "https://auth.example/token"},
		{"root-relative", "/fhir/r4", "/oauth2/token", "{srv}/oauth2/token"},
		{"path-relative", "/fhir/r4", "auth/token", "{srv}/fhir/r4/auth/token"},
		{"path-relative, base with slash", "/fhir/r4/", "auth/token", "{srv}/fhir/r4/auth/token"},
		{"dot-dot", "/tenant/fhir", "../oauth/token", "{srv}/tenant/oauth/token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var gotPath string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				gotPath = r.URL.Path
				json.NewEncoder(w).Encode(map[string]any{
					"token_endpoint":                        tc.endpoint,
					"token_endpoint_auth_methods_supported": []string{"private_key_jwt"},
					"scopes_supported":                      []string{"system/Patient.read"},
				})
			}))
			defer srv.Close()
			sc, err := Discover(context.Background(), srv.Client(), srv.URL+tc.basePath)
			if err != nil {
				t.Fatal(err)
			}
			want := strings.ReplaceAll(tc.want, "{srv}", srv.URL)
			if sc.TokenEndpoint != want {
				t.Errorf("token endpoint = %s, want %s", sc.TokenEndpoint, want)
			}
			if wantPath := strings.TrimRight(tc.basePath, "/") + "/.well-known/smart-configuration"; gotPath != wantPath {
				t.Errorf("fetched %s, want %s", gotPath, wantPath)
			}
			if DetectScopeVersion(sc.ScopesSupported) != ScopesV1 {
				t.Error("scopes_supported not read")
			}
		})
	}
}

func TestDiscoverErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		body   string
		want   string
	}{
		{"404", 404, `{}`, "HTTP 404"},
		{"no token endpoint", 200, `{"issuer":"x"}`, "no token_endpoint"},
		{"not JSON", 200, `<html>`, "invalid JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tc.status)
				w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			_, err := Discover(context.Background(), nil, srv.URL)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestSmartConfigurationCheck(t *testing.T) {
	for _, tc := range []struct {
		name    string
		sc      SmartConfiguration
		alg     string
		wantErr bool
	}{
		{"empty lists", SmartConfiguration{}, ES384, false},
		{"ok", SmartConfiguration{TokenEndpointAuthMethodsSupported: []string{"client_secret_basic", "private_key_jwt"},
			TokenEndpointAuthSigningAlgValuesSupported: []string{"RS384", "ES384"}}, ES384, false},
		{"no private_key_jwt", SmartConfiguration{TokenEndpointAuthMethodsSupported: []string{"client_secret_basic"}}, RS384, true},
		{"RSA-only server (Epic)", SmartConfiguration{TokenEndpointAuthSigningAlgValuesSupported: []string{"RS384"}}, ES384, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.sc.Check(tc.alg); (err != nil) != tc.wantErr {
				t.Errorf("err = %v", err)
			}
		})
	}
}

package auth

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// SmartConfiguration is the part of a FHIR server's
// /.well-known/smart-configuration document that backend services use.
type SmartConfiguration struct {
	Issuer                                     string   `json:"issuer,omitempty"`
	JWKSURI                                    string   `json:"jwks_uri,omitempty"`
	TokenEndpoint                              string   `json:"token_endpoint"`
	TokenEndpointAuthMethodsSupported          []string `json:"token_endpoint_auth_methods_supported,omitempty"`
	TokenEndpointAuthSigningAlgValuesSupported []string `json:"token_endpoint_auth_signing_alg_values_supported,omitempty"`
	GrantTypesSupported                        []string `json:"grant_types_supported,omitempty"`
	ScopesSupported                            []string `json:"scopes_supported,omitempty"`
	Capabilities                               []string `json:"capabilities,omitempty"`
}

// maxDiscoveryBody bounds the discovery document read.
const maxDiscoveryBody = 1 << 20

// SmartConfigurationURL returns {fhirBase}/.well-known/smart-configuration.
func SmartConfigurationURL(fhirBase string) string {
	return strings.TrimRight(fhirBase, "/") + "/.well-known/smart-configuration"
}

// Discover fetches {fhirBase}/.well-known/smart-configuration with hc (nil
// means http.DefaultClient). A relative token_endpoint is resolved against
// the FHIR base (taken as a directory: "auth/token" under
// "https://ehr/fhir/r4" is "https://ehr/fhir/r4/auth/token"). Discover checks
// only that token_endpoint is present; see (*SmartConfiguration).Check.
func Discover(ctx context.Context, hc *http.Client, fhirBase string) (*SmartConfiguration, error) {
	if hc == nil {
		hc = http.DefaultClient
	}
	base, err := url.Parse(strings.TrimRight(fhirBase, "/") + "/")
	if err != nil || !base.IsAbs() {
		return nil, fmt.Errorf("auth: discovery: FHIR base %q is not an absolute URL", fhirBase)
	}
	u := SmartConfigurationURL(fhirBase)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("auth: discovery: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("auth: discovery: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDiscoveryBody+1))
	if err != nil {
		return nil, fmt.Errorf("auth: discovery: read %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("auth: discovery: GET %s: HTTP %d", u, resp.StatusCode)
	}
	if len(body) > maxDiscoveryBody {
		return nil, fmt.Errorf("auth: discovery: %s: document larger than %d bytes", u, maxDiscoveryBody)
	}
	var sc SmartConfiguration
	if err := json.Unmarshal(body, &sc); err != nil {
		return nil, fmt.Errorf("auth: discovery: %s: invalid JSON: %w", u, err)
	}
	if sc.TokenEndpoint == "" {
		return nil, fmt.Errorf("auth: discovery: %s has no token_endpoint", u)
	}
	ref, err := url.Parse(sc.TokenEndpoint)
	if err != nil {
		return nil, fmt.Errorf("auth: discovery: %s: invalid token_endpoint: %w", u, err)
	}
	sc.TokenEndpoint = base.ResolveReference(ref).String()
	if sc.JWKSURI != "" {
		if ref, err := url.Parse(sc.JWKSURI); err == nil {
			sc.JWKSURI = base.ResolveReference(ref).String()
		}
	}
	return &sc, nil
}

// Check reports whether the server says it accepts what this package sends:
// private_key_jwt client authentication signed with alg. Lists the server
// leaves out are not held against it.
func (sc *SmartConfiguration) Check(alg string) error {
	if m := sc.TokenEndpointAuthMethodsSupported; len(m) > 0 && !slices.Contains(m, "private_key_jwt") {
		return fmt.Errorf("auth: server does not list private_key_jwt in token_endpoint_auth_methods_supported %v", m)
	}
	if a := sc.TokenEndpointAuthSigningAlgValuesSupported; len(a) > 0 && !slices.Contains(a, alg) {
		return fmt.Errorf("auth: server does not accept %s client assertions (token_endpoint_auth_signing_alg_values_supported %v): use a key of another type", alg, a)
	}
	return nil
}

// supportsClientCredentials is false only when the server lists grant types
// without client_credentials.
func (sc *SmartConfiguration) supportsClientCredentials() bool {
	g := sc.GrantTypesSupported
	return len(g) == 0 || slices.Contains(g, "client_credentials")
}

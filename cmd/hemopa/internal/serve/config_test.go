package serve

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestExampleConfig(t *testing.T) {
	cfg, err := LoadConfig(filepath.Join(repoRoot(t), "testdata", "serve", "config.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.PublicBaseURL != "https://pa.example.org" || len(cfg.Issuers) != 2 || len(cfg.Routing.Payers) != 3 ||
		cfg.Routing.Payers[0].Policies[0] != "ucare-hemgenix" || cfg.Timeouts.FHIR != 8*time.Second || cfg.Cache.TTL != 5*time.Minute {
		t.Errorf("parsed %+v", cfg)
	}
	if !filepath.IsAbs(cfg.Issuers[1].JWKSFile) || !strings.HasSuffix(cfg.JWKSFile, filepath.Join("serve", "keys", "jwks.json")) {
		t.Errorf("relative paths not resolved: %s, %s", cfg.Issuers[1].JWKSFile, cfg.JWKSFile)
	}
	if err := cfg.checkAuth(); err != nil {
		t.Error(err)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"nonsense: 1", "field nonsense not found"},
		{"issuers: [{iss: a, jwks_url: https://x, jwks_file: f}]", "exactly one of jwks_url and jwks_file"},
		{"issuers: [{iss: a, jwks_url: http://ehr.example.org/jwks}]", "want https"},
		{"issuers: [{iss: a, jwks_file: f}, {iss: a, jwks_file: g}]", "listed twice"},
		{"payers: [{name: x, match: {display: X}, policy: nope}]", "unknown policy"},
		{"payers: [{name: x, policy: ucare-hemgenix}]", "match needs"},
		{"default_policy: {Hemgenix: ny-pharmacy-109-roctavian}", "does not cover Hemgenix"},
		{"default_policy: {Zolgensma: ucare-hemgenix}", "not one of"},
		{"as_of: tomorrow", "not a date"},
		{"public_base_url: ftp://x", "absolute http(s) URL"},
		{"body_limit: 10", "at least 1024"},
	} {
		if _, err := ParseConfig([]byte(tc.yaml), ""); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.yaml, err, tc.want)
		}
	}
	cfg, err := ParseConfig(nil, "")
	if err != nil {
		t.Fatalf("empty config: %v", err)
	}
	if cfg.checkAuth() == nil {
		t.Error("an empty config passes for an authenticated server")
	}
}

// TestConfigPolicies: the config's policies directory (relative to the
// config file) is the catalog payers and defaults are checked against; a
// directory that does not lint is refused naming its file and line.
func TestConfigPolicies(t *testing.T) {
	dir := t.TempDir()
	src, err := os.ReadFile(filepath.Join(repoRoot(t), "rules", "policies", "ucare-hemgenix.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	site := filepath.Join(dir, "site")
	os.Mkdir(site, 0o755)
	os.WriteFile(filepath.Join(site, "ucare.yaml"), src, 0o644)
	cfg, err := ParseConfig([]byte("policies: site\npayers: [{name: UCare, match: {display: UCare}, policy: ucare-hemgenix}]\n"), dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Catalog().Policies; len(got) != 1 || got[0].ID != "ucare-hemgenix" {
		t.Errorf("catalog = %v", got)
	}
	if _, err := ParseConfig([]byte("policies: site\ndefault_policy: {Beqvez: label-aligned-beqvez}\n"), dir); err == nil || !strings.Contains(err.Error(), "unknown policy") {
		t.Errorf("a default outside the site's directory: %v", err)
	}
	os.WriteFile(filepath.Join(site, "broken.yaml"), []byte("id: [\n"), 0o644)
	if _, err := ParseConfig([]byte("policies: site\n"), dir); err == nil || !strings.Contains(err.Error(), filepath.Join(site, "broken.yaml")) {
		t.Errorf("broken directory: %v", err)
	}
}

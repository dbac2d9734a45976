package router

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"hemopa/cmd/hemopa/internal/testenv"
	"hemopa/rules"
)

func mustNew(t *testing.T, cfg Config) *Router {
	t.Helper()
	r, err := New(testenv.Catalog(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestRoute: the payer's first policy covering the drug, else the drug's
// default; a listed payer with nothing covering has no policy; an unlisted
// payer without a default is ErrUnrouted.
func TestRoute(t *testing.T) {
	r := mustNew(t, Config{
		Payers: []Payer{
			{Name: "UCare", Match: PayerMatch{Display: "UCare"}, Policy: "ucare-hemgenix"},
			{Name: "UCare by id", Match: PayerMatch{System: "http://hemopa.org/fhir/sid/payer", Value: "ucare"}, Policy: "ucare-hemgenix"},
			{Name: "NY", Match: PayerMatch{Reference: "Organization/ny-medicaid"}, Policies: []string{"ny-pharmacy-109-hemgenix"}},
		},
		DefaultPolicy: map[string]string{"Beqvez": "label-aligned-beqvez"},
	})
	display := func(d string) Payor { return Payor{Display: d} }
	for _, tc := range []struct {
		name   string
		drug   string
		payors []Payor
		policy string
		payer  string
		err    error
	}{
		{"listed", "Hemgenix", []Payor{display("UCare")}, "ucare-hemgenix", "UCare", nil},
		{"display case and space", "Hemgenix", []Payor{display("ucare ")}, "ucare-hemgenix", "UCare", nil},
		{"listed, default for the drug", "Beqvez", []Payor{display("UCare")}, "label-aligned-beqvez", "UCare", nil},
		{"listed, nothing for the drug", "Roctavian", []Payor{display("UCare")}, "", "UCare", nil},
		{"unlisted, default", "Beqvez", []Payor{display("Other")}, "label-aligned-beqvez", "", nil},
		{"unlisted, no default", "Hemgenix", []Payor{display("Other")}, "", "", ErrUnrouted},
		{"no payor", "Hemgenix", nil, "", "", ErrUnrouted},
		{"one identifier of several", "Hemgenix", []Payor{{Display: "UCare Minnesota", Identifiers: []Identifier{
			{"http://hl7.org/fhir/sid/us-npi", "1"}, {"http://hemopa.org/fhir/sid/payer", "ucare"}}}}, "ucare-hemgenix", "UCare by id", nil},
		{"identifier value under another system", "Hemgenix", []Payor{{Identifiers: []Identifier{{"http://other", "ucare"}}}}, "", "", ErrUnrouted},
		{"absolute reference", "Hemgenix", []Payor{{Reference: "https://payer.example.org/fhir/Organization/ny-medicaid"}}, "ny-pharmacy-109-hemgenix", "NY", nil},
		{"second payor of a Coverage", "Hemgenix", []Payor{display("Other"), {Reference: "Organization/ny-medicaid"}}, "ny-pharmacy-109-hemgenix", "NY", nil},
		{"first configured payer wins", "Hemgenix", []Payor{{Reference: "Organization/ny-medicaid"}, display("UCare")}, "ucare-hemgenix", "UCare", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pol, payer, err := r.Route(tc.drug, tc.payors...)
			if !errors.Is(err, tc.err) {
				t.Fatalf("error %v, want %v", err, tc.err)
			}
			if got := idOf(pol); got != tc.policy || payer != tc.payer {
				t.Errorf("routed to %q under %q, want %q under %q", got, payer, tc.policy, tc.payer)
			}
		})
	}
}

func idOf(p *rules.Policy) string {
	if p == nil {
		return ""
	}
	return p.ID
}

// TestNewErrors: a configuration the catalog cannot serve is refused, naming
// the config key.
func TestNewErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Payers: []Payer{{Name: "x", Match: PayerMatch{Display: "X"}, Policy: "nope"}}}, "payers[0] (x): unknown policy"},
		{Config{Payers: []Payer{{Name: "x", Policy: "ucare-hemgenix"}}}, "payers[0] (x): match needs"},
		{Config{Payers: []Payer{{Name: "x", Match: PayerMatch{System: "s"}, Policy: "ucare-hemgenix"}}}, "match.system and match.value go together"},
		{Config{Payers: []Payer{{Name: "x", Match: PayerMatch{Display: "X"}}}}, "payers[0] (x): policy or policies is required"},
		{Config{DefaultPolicy: map[string]string{"Hemgenix": "ny-pharmacy-109-roctavian"}}, "default_policy.Hemgenix: policy ny-pharmacy-109-roctavian does not cover Hemgenix"},
		{Config{DefaultPolicy: map[string]string{"Hemgenix": "no-such-policy"}}, "default_policy.Hemgenix: unknown policy"},
		{Config{DefaultPolicy: map[string]string{"Zolgensma": "ucare-hemgenix"}}, `default_policy: "Zolgensma" is not one of`},
	} {
		if _, err := New(testenv.Catalog(t), tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

// TestBuiltinDefaults: each drug's built-in default, where the catalog has it.
func TestBuiltinDefaults(t *testing.T) {
	got := BuiltinDefaults(testenv.Catalog(t))
	want := map[string]string{"Hemgenix": "ucare-hemgenix", "Beqvez": "label-aligned-beqvez", "Roctavian": "ny-pharmacy-109-roctavian"}
	if len(got) != len(want) {
		t.Errorf("%v, want %v", got, want)
	}
	for drug, id := range want {
		if got[drug] != id {
			t.Errorf("%s: %q, want %q", drug, got[drug], id)
		}
	}
	// defaults.yaml names policies that exist and cover their drugs.
	if _, err := New(testenv.Catalog(t), Config{DefaultPolicy: got}); err != nil {
		t.Errorf("defaults.yaml against the built-in policies: %v", err)
	}
	dir := t.TempDir()
	src, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "rules", "policies", "ucare-hemgenix.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ucare.yaml"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	site, err := rules.Load(os.DirFS(dir))
	if err != nil {
		t.Fatal(err)
	}
	if got := BuiltinDefaults(site); len(got) != 1 || got["Hemgenix"] != "ucare-hemgenix" {
		t.Errorf("a site catalog with only ucare-hemgenix: %v", got)
	}
	if _, err := New(site, Config{DefaultPolicy: BuiltinDefaults(site)}); err != nil {
		t.Error(err)
	}
}

// TestAuthorizesAtOrder: authorize_at_order is read from the YAML, per payer,
// default false; an unlisted payor never authorizes at order time.
func TestAuthorizesAtOrder(t *testing.T) {
	var cfg Config
	if err := yamlDecode(`
payers:
  - name: NY
    match: {reference: Organization/ny-medicaid}
    policy: ny-pharmacy-109-hemgenix
    authorize_at_order: true
  - name: UCare
    match: {display: UCare}
    policy: ucare-hemgenix
`, &cfg); err != nil {
		t.Fatal(err)
	}
	r := mustNew(t, cfg)
	for _, tc := range []struct {
		payor Payor
		want  bool
	}{
		{Payor{Reference: "Organization/ny-medicaid"}, true},
		{Payor{Display: "UCare"}, false},
		{Payor{Display: "Other"}, false},
	} {
		if got := r.AuthorizesAtOrder(tc.payor); got != tc.want {
			t.Errorf("AuthorizesAtOrder(%+v) = %v, want %v", tc.payor, got, tc.want)
		}
	}
}

func yamlDecode(s string, v any) error {
	dec := yaml.NewDecoder(strings.NewReader(s))
	dec.KnownFields(true)
	return dec.Decode(v)
}

package rules

import (
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"
)

// siteDir is a site's policy directory: the built-in UCare policy with its
// platelet threshold raised from 50 to 100, under its own id, in a flat
// directory (no policies/ folder, no vocabulary files).
func siteDir(t *testing.T) fstest.MapFS {
	t.Helper()
	b, err := fs.ReadFile(Builtin(), "policies/ucare-hemgenix.yaml")
	if err != nil {
		t.Fatal(err)
	}
	src := strings.Replace(string(b), "id: ucare-hemgenix", "id: site-hemgenix", 1)
	before := src
	src = strings.Replace(src, `op: ">=", value: 50}`, `op: ">=", value: 100}`, 1)
	if src == before {
		t.Fatal("the UCare policy no longer has a platelet threshold of 50; update the test")
	}
	return fstest.MapFS{"site-hemgenix.yaml": {Data: []byte(src)}}
}

func TestLoadBuiltin(t *testing.T) {
	c, err := Load(Builtin())
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Policies) != 6 {
		t.Errorf("built-in policies = %d, want 6", len(c.Policies))
	}
	if _, err := c.Lookup("ucare-hemgenix"); err != nil {
		t.Error(err)
	}
}

// TestLoadSiteDirectory: a site's directory replaces the policies (the
// built-in ones are not there), keeps the built-in vocabulary, and its
// threshold changes the decision.
func TestLoadSiteDirectory(t *testing.T) {
	c, err := Load(siteDir(t), Named("/etc/hemopa/policies"))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Policies) != 1 || c.Policies[0].ID != "site-hemgenix" {
		t.Fatalf("policies = %v", c.Policies)
	}
	if _, err := c.Lookup("ucare-hemgenix"); err == nil {
		t.Error("a site directory must not carry the built-in policies along")
	}
	if len(c.Kits) == 0 || len(c.Attestations) == 0 {
		t.Error("the built-in vocabulary must be used where the directory has none")
	}
	site, _ := c.Lookup("site-hemgenix")
	builtin, _ := testCatalog(t).Lookup("ucare-hemgenix")
	facts := benchFacts() // platelets 180 × 10⁹/L: passes both
	if d := Evaluate(site, facts, AsOf(asOf)); d.Decision != Approve {
		t.Fatalf("site policy on the bench facts: %s %v", d.Decision, d.Missing)
	}
	facts["platelets"][0].Num = 75
	if d := Evaluate(builtin, facts, AsOf(asOf)); d.Decision != Approve {
		t.Errorf("built-in policy with platelets 75: %s, want approve", d.Decision)
	}
	if d := Evaluate(site, facts, AsOf(asOf)); d.Decision != Deny {
		t.Errorf("site policy (≥ 100) with platelets 75: %s, want deny", d.Decision)
	}
}

// TestLoadVocabularyOverride: a directory's kits.yaml replaces the built-in
// kit tables; a policy naming a kit table the directory lacks does not load.
func TestLoadVocabularyOverride(t *testing.T) {
	dir := siteDir(t)
	dir["kits.yaml"] = &fstest.MapFile{Data: []byte("other-table:\n  citation: c\n  rows:\n    - {min_kg: 40, max_kg: 200, vials: 10, volume_ml: 100, ndc: \"0000-0000-00\"}\n")}
	_, err := Load(dir, Named("site"))
	if err == nil || !strings.Contains(err.Error(), "site/site-hemgenix.yaml:") || !strings.Contains(err.Error(), "hemgenix-table1") {
		t.Fatalf("want the unknown kit table named with the file, got %v", err)
	}
}

// TestLoadRefuses: what does not lint does not load, and both name the file
// and line; an empty directory is refused.
func TestLoadRefuses(t *testing.T) {
	cases := []struct {
		name string
		dir  fstest.MapFS
		want string
	}{
		{"empty", fstest.MapFS{}, "site: no policy files"},
		{"broken YAML", fstest.MapFS{"a.yaml": {Data: []byte("id: [")}}, "site/a.yaml"},
		{"unknown fact", fstest.MapFS{"policies/a.yaml": {Data: []byte("id: a\ntitle: t\npayer: p\ndrugs: [Hemgenix]\nsource: s\neffective: 2026-01-01\nrevised: 2026-01-01\ncriteria:\n  - id: x\n    text: t\n    citation: c\n    check: {fact: nope, is: present}\n")}}, `site/policies/a.yaml:12: criterion x: unknown fact "nope"`},
		{"broken facts.yaml", fstest.MapFS{"facts.yaml": {Data: []byte("- {name: x, kind: numeric, bogus: 1}\n")}}, "site/facts.yaml"},
		{"duplicate id", fstest.MapFS{"a.yaml": siteDir(t)["site-hemgenix.yaml"], "b.yaml": siteDir(t)["site-hemgenix.yaml"]}, "duplicate policy id"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(tc.dir, Named("site"))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Load: %v, want %q", err, tc.want)
			}
			errs := Lint(tc.dir, Named("site"))
			if len(errs) == 0 {
				t.Errorf("Lint passed what Load refused")
			}
		})
	}
}

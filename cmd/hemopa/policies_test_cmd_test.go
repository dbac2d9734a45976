package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPoliciesTestBuiltin runs `hemopa policies test` in the checkout: the
// built-in policies with rules/policies/testdata, one line per case.
func TestPoliciesTestBuiltin(t *testing.T) {
	out, errs, code := runCLI(t, "", "policies", "test")
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, errs, out)
	}
	for _, want := range []string{"ok    ucare-hemgenix/approve\n", "ok    bcbsms-hemophilia-b-gene-therapy/bundle-b-approve\n", "ok    ucare-hemgenix/approve-weight-50.4-kg\n", "KNOWN ucare-hemgenix/approve-low-cd4-without-hiv: ", " 0 failed\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestPoliciesTestSite runs a site directory's cases: a wrong expectation
// fails (exit 1, naming the file and what differs), a malformed case is named
// file:line, and a directory whose cases all hold passes.
func TestPoliciesTestSite(t *testing.T) {
	policy, err := os.ReadFile("../../rules/policies/ucare-hemgenix.yaml")
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := os.ReadFile("../../testdata/patients/b-approve.json")
	if err != nil {
		t.Fatal(err)
	}
	const approve = "description: b-approve (000 § 1)\nas_of: 2026-11-24\nbundle: b.json\nexpect: {decision: approve}\n"
	cases := []struct {
		name   string
		cases  map[string]string
		code   int
		stdout []string
		stderr []string
	}{
		{"passes", map[string]string{"ok.yaml": approve}, 0, []string{"ok    ucare-hemgenix/ok\n", "1 cases: 1 ok, 0 known issues, 0 failed"}, nil},
		{"wrong expectation", map[string]string{"ok.yaml": approve, "wrong.yaml": strings.Replace(approve, "approve}", "deny, criteria: {1.K: not-met}}", 1)}, 1,
			[]string{"ok    ucare-hemgenix/ok\n", "FAIL  ucare-hemgenix/wrong  (", "wrong.yaml)", "decision: want deny, got approve", "1.K: want not-met, got met (Platelet count 212", "1 failed"},
			[]string{"1 of 2 cases failed"}},
		{"malformed", map[string]string{"ok.yaml": approve, "bad.yaml": approve + "colour: red\n"}, 1,
			[]string{"ok    ucare-hemgenix/ok\n"}, []string{filepath.Join("testdata", "ucare-hemgenix", "bad.yaml") + ":5: field colour is not a case key"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			cdir := filepath.Join(dir, "testdata", "ucare-hemgenix")
			if err := os.MkdirAll(cdir, 0o755); err != nil {
				t.Fatal(err)
			}
			files := map[string][]byte{filepath.Join(dir, "ucare-hemgenix.yaml"): policy, filepath.Join(cdir, "b.json"): bundle}
			for n, s := range c.cases {
				files[filepath.Join(cdir, n)] = []byte(s)
			}
			for n, b := range files {
				if err := os.WriteFile(n, b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			out, errs, code := runCLI(t, "", "policies", "test", dir)
			if code != c.code {
				t.Errorf("exit %d, want %d: %s", code, c.code, errs)
			}
			for _, w := range c.stdout {
				if !strings.Contains(out, w) {
					t.Errorf("stdout lacks %q:\n%s", w, out)
				}
			}
			for _, w := range c.stderr {
				if !strings.Contains(errs, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errs)
				}
			}
		})
	}
}

func TestPoliciesTestUsage(t *testing.T) {
	for _, args := range [][]string{{"a", "b"}, {filepath.Join(t.TempDir(), "missing")}, {"--nope"}} {
		_, errs, code := runCLI(t, "", append([]string{"policies", "test"}, args...)...)
		if code != 2 {
			t.Errorf("%q: exit %d, want 2 (%s)", args, code, errs)
		}
	}
}

// Package testenv finds what tests read from outside a package: the
// repository root and the shared folder beside it (../shared), which a fresh
// clone does not have.
//
// Outside CI a test that needs ../shared skips, saying which folder is
// missing; with CI=true it fails, so a CI run never passes by skipping.
package testenv

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// RepoRoot walks up from the working directory to the folder holding go.mod.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test directory")
		}
		dir = parent
	}
}

// InCI reports whether the tests run under CI: CI set, and not "false" or
// "0" (CI=true, CI=1 — what CI services set). The integration harness uses
// the same rule.
func InCI() bool {
	v := os.Getenv("CI")
	return v != "" && v != "false" && v != "0"
}

// Shared returns the path of parts inside ../shared. When that path does not
// exist the test skips outside CI and fails under CI=true.
func Shared(t testing.TB, parts ...string) string {
	t.Helper()
	p := filepath.Join(append([]string{RepoRoot(t), "..", "shared"}, parts...)...)
	if _, err := os.Stat(p); err != nil {
		if InCI() {
			t.Fatalf("%s is missing: CI must run with the shared folder beside the repository", p)
		}
		t.Skipf("%s not found (a fresh clone has no ../shared): skipped outside CI", p)
	}
	return p
}

// ReadShared reads a file inside ../shared, skipping or failing as Shared does.
func ReadShared(t testing.TB, parts ...string) []byte {
	t.Helper()
	b, err := os.ReadFile(Shared(t, parts...))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// OptionalShared reads a file inside ../shared that a test can do without
// (a fuzz seed): outside CI a missing file is (nil, false); under CI it fails,
// as Shared does.
func OptionalShared(t testing.TB, parts ...string) ([]byte, bool) {
	t.Helper()
	p := filepath.Join(append([]string{RepoRoot(t), "..", "shared"}, parts...)...)
	b, err := os.ReadFile(p)
	switch {
	case err == nil:
		return b, true
	case InCI():
		t.Fatalf("%s is missing: CI must run with the shared folder beside the repository", p)
	}
	return nil, false
}

// SamplePatients lists the bundled sample patient bundles
// (testdata/patients/*.json) as absolute paths; none is a failure.
func SamplePatients(tb testing.TB) []string {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join(RepoRoot(tb), "testdata", "patients", "*.json"))
	if err != nil || len(files) == 0 {
		tb.Fatalf("no sample patients in testdata/patients: %v", err)
	}
	return files
}

// SampleNames are the sample patients' names (b-approve, …).
func SampleNames(tb testing.TB) []string {
	tb.Helper()
	var names []string
	for _, f := range SamplePatients(tb) {
		names = append(names, strings.TrimSuffix(filepath.Base(f), ".json"))
	}
	return names
}

package rules_test

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

// TestDependencyDirection enforces the design card: rules imports no FHIR and
// no HTTP; mapping sees only rules' model; fhir and auth are leaves.
func TestDependencyDirection(t *testing.T) {
	forbidden := map[string][]string{
		"hemopa/rules":   {"hemopa/fhir", "hemopa/mapping", "hemopa/auth", "hemopa/cmd", "net/http", "github.com/google/fhir"},
		"hemopa/mapping": {"hemopa/fhir", "hemopa/auth", "hemopa/cmd", "net/http"},
		"hemopa/fhir":    {"hemopa/rules", "hemopa/mapping", "hemopa/auth", "hemopa/cmd"},
		"hemopa/auth":    {"hemopa/rules", "hemopa/mapping", "hemopa/fhir", "hemopa/cmd"},
	}
	for pkg, bad := range forbidden {
		out, err := exec.Command("go", "list", "-deps", "-json=ImportPath", pkg).Output()
		if err != nil {
			t.Fatalf("go list %s: %v", pkg, err)
		}
		dec := json.NewDecoder(strings.NewReader(string(out)))
		for dec.More() {
			var p struct{ ImportPath string }
			if err := dec.Decode(&p); err != nil {
				t.Fatal(err)
			}
			for _, b := range bad {
				if p.ImportPath == b || strings.HasPrefix(p.ImportPath, b+"/") {
					t.Errorf("%s depends on %s", pkg, p.ImportPath)
				}
			}
		}
	}
}

// TestPackageDocs: every package of the module says what it is for.
func TestPackageDocs(t *testing.T) {
	out, err := exec.Command("go", "list", "-e", "-json=ImportPath,Doc,Name", "hemopa/...").Output()
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p struct{ ImportPath, Doc, Name string }
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		if p.Doc == "" {
			t.Errorf("%s has no package doc comment", p.ImportPath)
		}
	}
}

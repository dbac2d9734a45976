package rules

import "testing"

func TestEmbeddedPoliciesLintClean(t *testing.T) {
	for _, err := range Lint(nil) {
		t.Error(err)
	}
	c, err := Embedded()
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Policies) != 6 {
		t.Fatalf("got %d policies, want 6", len(c.Policies))
	}
}

package testenv

import (
	"strings"
	"sync"
	"testing"

	"hemopa/rules"
)

var builtin = sync.OnceValues(func() (*rules.Catalog, error) { return rules.Load(rules.Builtin()) })

// Catalog is the built-in policy catalog (rules.Load(rules.Builtin())),
// loaded once per test binary.
func Catalog(tb testing.TB) *rules.Catalog {
	tb.Helper()
	c, err := builtin()
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// Policies resolves "all" or comma-separated ids in the built-in catalog.
func Policies(tb testing.TB, spec string) []*rules.Policy {
	tb.Helper()
	c := Catalog(tb)
	if spec == "all" {
		return c.Policies
	}
	var out []*rules.Policy
	for _, id := range strings.Split(spec, ",") {
		p, err := c.Lookup(strings.TrimSpace(id))
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

// Policy is one built-in policy.
func Policy(tb testing.TB, id string) *rules.Policy {
	tb.Helper()
	return Policies(tb, id)[0]
}

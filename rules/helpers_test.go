package rules

import (
	"sync"
	"testing"
	"testing/fstest"
)

// builtinCatalog is the built-in policy directory, loaded once for the tests.
var builtinCatalog = sync.OnceValues(func() (*Catalog, error) { return Load(Builtin()) })

func testCatalog(tb testing.TB) *Catalog {
	tb.Helper()
	c, err := builtinCatalog()
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// Lookup returns a built-in policy.
func Lookup(id string) (*Policy, error) {
	c, err := builtinCatalog()
	if err != nil {
		return nil, err
	}
	return c.Lookup(id)
}

// lintFiles lints a directory holding only these policy files.
func lintFiles(files map[string]string) []error {
	m := fstest.MapFS{}
	for n, s := range files {
		m[n] = &fstest.MapFile{Data: []byte(s)}
	}
	return Lint(m)
}

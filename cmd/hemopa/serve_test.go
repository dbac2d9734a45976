package main

import (
	"strings"
	"testing"
)

func TestServeUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"serve"}, "--config FILE is required"},
		{[]string{"serve", "--insecure-dev", "--addr", "0.0.0.0:8080"}, "needs a loopback --addr"},
		{[]string{"serve", "--config", "../../testdata/serve/missing.yaml"}, "no such file"},
		{[]string{"serve", "extra"}, "unexpected argument"},
	} {
		_, stderr, code := runCLI(t, "", tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q, want 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
}

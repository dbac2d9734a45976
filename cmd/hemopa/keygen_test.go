package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"hemopa/auth"
)

func runKeygenCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	env := &Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }}
	code = run(context.Background(), append([]string{"keygen"}, args...), env)
	return code, out.String(), errb.String()
}

func TestKeygen(t *testing.T) {
	for _, tc := range []struct {
		name     string
		args     []string
		wantAlgs []string
	}{
		{"default both", nil, []string{auth.RS384, auth.ES384}},
		{"ES384", []string{"--alg", "ES384"}, []string{auth.ES384}},
		{"rs384 lower case", []string{"--alg", "rs384"}, []string{auth.RS384}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "keys")
			code, stdout, stderr := runKeygenCLI(t, append([]string{"--out", dir}, tc.args...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			set, err := auth.ReadJWKS(filepath.Join(dir, "jwks.json"))
			if err != nil {
				t.Fatal(err)
			}
			if len(set.Keys) != len(tc.wantAlgs) {
				t.Fatalf("JWKS has %d keys, want %d", len(set.Keys), len(tc.wantAlgs))
			}
			for i, pub := range set.Keys {
				if pub.Alg != tc.wantAlgs[i] || pub.Use != "sig" || pub.Kid == "" {
					t.Errorf("JWKS key %+v", pub)
				}
				pemPath := filepath.Join(dir, pub.Kid+".pem")
				fi, err := os.Stat(pemPath)
				if err != nil {
					t.Fatal(err)
				}
				if fi.Mode().Perm() != 0o600 {
					t.Errorf("%s mode %v, want 0600", pemPath, fi.Mode().Perm())
				}
				key, err := auth.LoadKey(pemPath)
				if err != nil {
					t.Fatal(err)
				}
				if key.KID != pub.Kid || key.Alg != pub.Alg {
					t.Errorf("private key %v does not match JWKS entry %s/%s", key, pub.Kid, pub.Alg)
				}
				if !strings.Contains(stdout, pub.Kid) || !strings.Contains(stdout, pemPath) {
					t.Errorf("output lacks kid or path:\n%s", stdout)
				}
			}
			if strings.Contains(stdout, "PRIVATE KEY") || strings.Contains(stdout, `"d"`) || strings.Contains(stdout, `"n"`) {
				t.Errorf("output holds key material:\n%s", stdout)
			}
		})
	}
}

func TestKeygenRotation(t *testing.T) {
	dir := t.TempDir()
	if code, _, stderr := runKeygenCLI(t, "--out", dir, "--alg", "RS384"); code != 0 {
		t.Fatal(stderr)
	}
	jwks := filepath.Join(dir, "jwks.json")
	next := filepath.Join(dir, "next")
	code, stdout, stderr := runKeygenCLI(t, "--out", next, "--alg", "both", "--jwks", jwks)
	if code != 0 {
		t.Fatal(stderr)
	}
	set, err := auth.ReadJWKS(jwks)
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != 3 || set.Keys[0].Alg != auth.RS384 {
		t.Fatalf("rotated JWKS = %+v", set.Keys)
	}
	if !strings.Contains(stdout, "3 key(s)") {
		t.Errorf("output: %s", stdout)
	}
	if _, err := os.Stat(filepath.Join(next, "jwks.json")); err == nil {
		t.Error("--jwks given, but a second JWKS was written in --out")
	}
}

func TestKeygenUsage(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"bad alg", []string{"--out", dir, "--alg", "RS256"}, `"RS256" is not RS384, ES384 or both`},
		{"no out", nil, "--out DIR is required"},
		{"missing jwks", []string{"--out", dir, "--jwks", filepath.Join(dir, "nope.json")}, "--jwks"},
		{"extra arg", []string{"--out", dir, "x"}, "unexpected argument"},
		{"unknown flag", []string{"--bogus"}, "bogus"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runKeygenCLI(t, tc.args...)
			if code != 2 || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, stderr, tc.want)
			}
		})
	}
}

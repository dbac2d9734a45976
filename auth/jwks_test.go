package auth

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteAndAppendJWKS(t *testing.T) {
	rs, es := testKey(t, RS384), testKey(t, ES384)
	path := filepath.Join(t.TempDir(), "jwks.json")

	if err := WriteJWKS(path, rs.Public()); err != nil {
		t.Fatal(err)
	}
	// An old key with a member this package does not model must survive.
	data, _ := os.ReadFile(path)
	data = []byte(strings.Replace(string(data), `"kty"`, `"x5t#S256":"keep-me","kty"`, 1))
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := AppendJWKS(path, es.Public()); err != nil {
		t.Fatal(err)
	}
	if err := AppendJWKS(path, es.Public()); err != nil { // same key again: no-op
		t.Fatal(err)
	}
	set, err := ReadJWKS(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != 2 || set.Keys[0].Kid != rs.KID || set.Keys[1].Kid != es.KID {
		t.Fatalf("keys = %+v", set.Keys)
	}
	for _, k := range set.Keys {
		if k.Use != "sig" || k.Alg == "" {
			t.Errorf("key %s: use %q alg %q", k.Kid, k.Use, k.Alg)
		}
		if _, err := k.CryptoPublicKey(); err != nil {
			t.Errorf("key %s: %v", k.Kid, err)
		}
	}
	raw, _ := os.ReadFile(path)
	if !strings.Contains(string(raw), "keep-me") {
		t.Error("AppendJWKS dropped an unknown member of an old key")
	}
	if strings.Contains(string(raw), `"d"`) {
		t.Error("JWKS holds a private member")
	}

	for _, tc := range []struct {
		name string
		run  func() error
		want string
	}{
		{"kid clash", func() error {
			other := es.Public()
			other.Kid = rs.KID
			return AppendJWKS(path, other)
		}, "different key"},
		{"duplicate kid", func() error {
			return WriteJWKS(filepath.Join(t.TempDir(), "j.json"), rs.Public(), rs.Public())
		}, "duplicate"},
		{"no kid", func() error {
			p := rs.Public()
			p.Kid = ""
			return WriteJWKS(filepath.Join(t.TempDir(), "j.json"), p)
		}, "without kid"},
		{"private file", func() error {
			p := filepath.Join(t.TempDir(), "priv.json")
			os.WriteFile(p, []byte(`{"keys":[`+string(jwkJSON(t, es.Signer(), "x"))+`]}`), 0o600)
			return AppendJWKS(p, rs.Public())
		}, "private key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestAppendJWKSCreates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new.json")
	if err := AppendJWKS(path, testKey(t, ES384).Public()); err != nil {
		t.Fatal(err)
	}
	set, err := ReadJWKS(path)
	if err != nil || len(set.Keys) != 1 {
		t.Fatalf("set %+v, %v", set, err)
	}
}

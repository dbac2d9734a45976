package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Generating RSA-3072 keys is slow: share one per algorithm.
var (
	testKeysOnce sync.Once
	testKeys     map[string]*Key
)

func testKey(t testing.TB, alg string) *Key {
	t.Helper()
	testKeysOnce.Do(func() {
		testKeys = map[string]*Key{}
		for _, a := range []string{RS384, ES384} {
			k, err := GenerateKey(a)
			if err != nil {
				panic(err)
			}
			testKeys[a] = k
		}
	})
	return testKeys[alg]
}

func TestGenerateKey(t *testing.T) {
	for _, tc := range []struct {
		alg     string
		wantErr bool
	}{
		{alg: RS384},
		{alg: ES384},
		{alg: "RS256", wantErr: true},
		{alg: "es384", wantErr: true},
	} {
		t.Run(tc.alg, func(t *testing.T) {
			if tc.wantErr {
				if _, err := GenerateKey(tc.alg); err == nil {
					t.Fatal("want error")
				}
				return
			}
			k := testKey(t, tc.alg)
			if k.Alg != tc.alg {
				t.Errorf("alg = %q", k.Alg)
			}
			switch s := k.Signer().(type) {
			case *rsa.PrivateKey:
				if s.N.BitLen() != 3072 {
					t.Errorf("RSA bits = %d, want 3072", s.N.BitLen())
				}
			case *ecdsa.PrivateKey:
				if s.Curve != elliptic.P384() {
					t.Errorf("curve = %s", s.Curve.Params().Name)
				}
			}
			tp, err := Thumbprint(k.Signer().Public())
			if err != nil || k.KID != tp {
				t.Errorf("kid %q, thumbprint %q, %v", k.KID, tp, err)
			}
			pub := k.Public()
			if pub.Kid != k.KID || pub.Alg != tc.alg || pub.Use != "sig" {
				t.Errorf("public JWK = %+v", pub)
			}
		})
	}
}

// RFC 7638 §3.1 example.
func TestThumbprintRFC7638(t *testing.T) {
	n := "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
	nb, _ := b64Int(n, "n")
	got, err := Thumbprint(&rsa.PublicKey{N: nb, E: 65537})
	if err != nil {
		t.Fatal(err)
	}
	if want := "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"; got != want {
		t.Errorf("thumbprint = %s, want %s", got, want)
	}
}

func TestWritePEMAndLoad(t *testing.T) {
	for _, alg := range []string{RS384, ES384} {
		t.Run(alg, func(t *testing.T) {
			k := testKey(t, alg)
			path := filepath.Join(t.TempDir(), k.KID+".pem")
			if err := k.WritePEM(path); err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("mode = %v, want 0600", fi.Mode().Perm())
			}
			if err := k.WritePEM(path); err == nil {
				t.Error("WritePEM overwrote an existing file")
			}
			got, err := LoadKey(path)
			if err != nil {
				t.Fatal(err)
			}
			if got.KID != k.KID || got.Alg != k.Alg {
				t.Errorf("loaded %v, want %v", got, k)
			}
		})
	}
}

func pemBytes(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func TestParseKeyFormats(t *testing.T) {
	rk := testKey(t, RS384).Signer().(*rsa.PrivateKey)
	ek := testKey(t, ES384).Signer().(*ecdsa.PrivateKey)
	rkid, ekid := testKey(t, RS384).KID, testKey(t, ES384).KID
	pkcs8RSA, _ := x509.MarshalPKCS8PrivateKey(rk)
	pkcs8EC, _ := x509.MarshalPKCS8PrivateKey(ek)
	sec1, _ := x509.MarshalECPrivateKey(ek)
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p256der, _ := x509.MarshalPKCS8PrivateKey(p256)
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	pubDER, _ := x509.MarshalPKIXPublicKey(rk.Public())
	ecParams := pemBytes("EC PARAMETERS", []byte{0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22})

	rsaJWK := jwkJSON(t, rk, "")
	ecJWK := jwkJSON(t, ek, "my-kid")

	for _, tc := range []struct {
		name    string
		data    []byte
		alg     string
		kid     string
		wantErr string
	}{
		{name: "PKCS1", data: pemBytes("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rk)), alg: RS384, kid: rkid},
		{name: "PKCS8 RSA", data: pemBytes("PRIVATE KEY", pkcs8RSA), alg: RS384, kid: rkid},
		{name: "PKCS8 EC", data: pemBytes("PRIVATE KEY", pkcs8EC), alg: ES384, kid: ekid},
		{name: "SEC1", data: pemBytes("EC PRIVATE KEY", sec1), alg: ES384, kid: ekid},
		{name: "SEC1 after EC PARAMETERS", data: append(ecParams, pemBytes("EC PRIVATE KEY", sec1)...), alg: ES384, kid: ekid},
		{name: "JWK RSA thumbprint kid", data: rsaJWK, alg: RS384, kid: rkid},
		{name: "JWK EC own kid", data: ecJWK, alg: ES384, kid: "my-kid"},
		{name: "JWKS one private", data: []byte(`{"keys":[` + string(ecJWK) + `]}`), alg: ES384, kid: "my-kid"},
		{name: "JWK public only", data: mustJSON(testKey(t, ES384).Public()), wantErr: "public key"},
		{name: "JWK wrong alg", data: []byte(strings.Replace(string(ecJWK), `"kty"`, `"alg":"ES256","kty"`, 1)), wantErr: "alg"},
		{name: "P-256", data: pemBytes("PRIVATE KEY", p256der), wantErr: "P-256"},
		{name: "RSA-1024", data: pemBytes("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(small)), wantErr: "too small"},
		{name: "public PEM", data: pemBytes("PUBLIC KEY", pubDER), wantErr: "need a private key"},
		{name: "encrypted", data: pemBytes("ENCRYPTED PRIVATE KEY", []byte{1}), wantErr: "encrypted"},
		{name: "garbage", data: []byte("hello"), wantErr: "neither"},
		{name: "bad DER", data: pemBytes("PRIVATE KEY", []byte{1, 2, 3}), wantErr: "parse PRIVATE KEY"},
		{name: "bad JSON", data: []byte("{"), wantErr: "invalid JWK"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := ParseKey(tc.data)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if k.Alg != tc.alg || k.KID != tc.kid {
				t.Errorf("got alg %s kid %s, want %s %s", k.Alg, k.KID, tc.alg, tc.kid)
			}
		})
	}
}

func TestKeyPrintsNoSecrets(t *testing.T) {
	k := testKey(t, ES384)
	raw, err := k.Signer().(*ecdsa.PrivateKey).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	d := b64(raw)
	for _, s := range []string{fmt.Sprint(k), fmt.Sprintf("%+v", k), fmt.Sprintf("%#v", k), k.String()} {
		if strings.Contains(s, d) || !strings.Contains(s, k.KID) {
			t.Errorf("printed %q", s)
		}
	}
}

// jwkJSON renders a private JWK as a key file would hold it.
func jwkJSON(t testing.TB, key any, kid string) []byte {
	t.Helper()
	m := map[string]string{}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		m["kty"], m["n"], m["e"] = "RSA", b64(k.N.Bytes()), b64(big.NewInt(int64(k.E)).Bytes())
		m["d"], m["p"], m["q"] = b64(k.D.Bytes()), b64(k.Primes[0].Bytes()), b64(k.Primes[1].Bytes())
	case *ecdsa.PrivateKey:
		pub, _ := publicJWK(&k.PublicKey)
		m["kty"], m["crv"], m["x"], m["y"] = "EC", pub.Crv, pub.X, pub.Y
		raw, err := k.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		m["d"] = b64(raw)
	}
	if kid != "" {
		m["kid"] = kid
	}
	return mustJSON(m)
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func FuzzParseKey(f *testing.F) {
	rk := testKey(f, RS384).Signer().(*rsa.PrivateKey)
	ek := testKey(f, ES384).Signer().(*ecdsa.PrivateKey)
	sec1, _ := x509.MarshalECPrivateKey(ek)
	f.Add(pemBytes("EC PRIVATE KEY", sec1))
	f.Add(pemBytes("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rk)))
	f.Add(jwkJSON(f, ek, "k"))
	f.Add(jwkJSON(f, rk, ""))
	f.Add([]byte(`{"keys":[{"kty":"EC","crv":"P-384","x":"AA","y":"AA","d":"AA"}]}`))
	f.Add([]byte(`{"kty":"RSA","n":"AQAB","e":"AQAB","d":"AQ","p":"Aw","q":"BQ"}`))
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := ParseKey(data)
		if err != nil {
			if k != nil {
				t.Fatal("key and error")
			}
			return
		}
		if k.KID == "" || (k.Alg != RS384 && k.Alg != ES384) {
			t.Fatalf("bad key %v", k)
		}
		if _, err := SignAssertion(k, Assertion{ClientID: "c", Audience: "https://a/token"}); err != nil {
			t.Fatalf("parsed key cannot sign: %v", err)
		}
	})
}

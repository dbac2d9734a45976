package auth

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"os"
	"strings"
)

// Signing algorithms supported for client assertions.
const (
	RS384 = "RS384" // RSA PKCS#1 v1.5 with SHA-384; keys of at least 2048 bits.
	ES384 = "ES384" // ECDSA on P-384 with SHA-384.
)

// rsaGenerateBits is the size of RSA keys made by GenerateKey.
const rsaGenerateBits = 3072

// rsaMinBits is the smallest RSA key accepted for signing.
const rsaMinBits = 2048

// maxKeyFileSize bounds what LoadKey reads.
const maxKeyFileSize = 1 << 20

// Key is a private signing key with its key ID and algorithm.
//
// Its String, GoString and LogValue methods print only the key ID and
// algorithm, so a Key passed to fmt or slog by mistake leaks nothing.
type Key struct {
	// KID is the key ID put in the assertion header. For keys loaded from
	// PEM or generated it is the RFC 7638 JWK thumbprint of the public key.
	KID string
	// Alg is RS384 or ES384.
	Alg string

	signer crypto.Signer // *rsa.PrivateKey or *ecdsa.PrivateKey
}

// GenerateKey makes a new private key for alg: RS384 gives an RSA-3072 key,
// ES384 a P-384 key. The key ID is the key's RFC 7638 thumbprint.
func GenerateKey(alg string) (*Key, error) {
	var s crypto.Signer
	var err error
	switch alg {
	case RS384:
		s, err = rsa.GenerateKey(rand.Reader, rsaGenerateBits)
	case ES384:
		s, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	default:
		return nil, fmt.Errorf("auth: generate key: unsupported algorithm %q (want %s or %s)", alg, RS384, ES384)
	}
	if err != nil {
		return nil, fmt.Errorf("auth: generate %s key: %w", alg, err)
	}
	return newKey(s, "")
}

// NewKey wraps an *rsa.PrivateKey or a P-384 *ecdsa.PrivateKey. An empty kid
// is replaced by the key's RFC 7638 thumbprint.
func NewKey(signer crypto.Signer, kid string) (*Key, error) { return newKey(signer, kid) }

func newKey(s crypto.Signer, kid string) (*Key, error) {
	alg, err := algFor(s)
	if err != nil {
		return nil, err
	}
	k := &Key{KID: kid, Alg: alg, signer: s}
	if k.KID == "" {
		k.KID, err = Thumbprint(s.Public())
		if err != nil {
			return nil, err
		}
	}
	return k, nil
}

func algFor(s crypto.Signer) (string, error) {
	switch p := s.(type) {
	case *rsa.PrivateKey:
		if bits := p.N.BitLen(); bits < rsaMinBits {
			return "", fmt.Errorf("auth: RSA key of %d bits is too small (want at least %d)", bits, rsaMinBits)
		}
		return RS384, nil
	case *ecdsa.PrivateKey:
		if p.Curve != elliptic.P384() {
			return "", fmt.Errorf("auth: EC key on curve %s is not supported (want P-384 for %s)", p.Curve.Params().Name, ES384)
		}
		return ES384, nil
	case nil:
		return "", errors.New("auth: nil key")
	default:
		return "", fmt.Errorf("auth: unsupported key type %T (want RSA or P-384 EC)", s)
	}
}

// Signer returns the private key (*rsa.PrivateKey or *ecdsa.PrivateKey).
func (k *Key) Signer() crypto.Signer { return k.signer }

// Public returns the public half as a JWK with kid, alg and use "sig".
func (k *Key) Public() PublicKey {
	pub, err := publicJWK(k.signer.Public())
	if err != nil { // unreachable for keys built by this package
		panic(err)
	}
	pub.Kid, pub.Alg, pub.Use = k.KID, k.Alg, "sig"
	return pub
}

// String prints the key ID and algorithm only.
func (k *Key) String() string {
	if k == nil {
		return "auth.Key(nil)"
	}
	return fmt.Sprintf("auth.Key{kid=%s alg=%s}", k.KID, k.Alg)
}

// GoString prints the key ID and algorithm only.
func (k *Key) GoString() string { return k.String() }

// LogValue makes slog print the key ID and algorithm only.
func (k *Key) LogValue() slog.Value {
	if k == nil {
		return slog.StringValue("<nil>")
	}
	return slog.GroupValue(slog.String("kid", k.KID), slog.String("alg", k.Alg))
}

// Format keeps %v, %+v, %#v and %s on String.
func (k *Key) Format(f fmt.State, _ rune) { fmt.Fprint(f, k.String()) }

// WritePEM writes the private key as a PKCS#8 PEM file with mode 0600. It
// refuses to overwrite an existing file.
func (k *Key) WritePEM(path string) (err error) {
	der, err := x509.MarshalPKCS8PrivateKey(k.signer)
	if err != nil {
		return fmt.Errorf("auth: encode key %s: %w", k.KID, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("auth: write key %s: %w", k.KID, err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("auth: write key %s: %w", k.KID, cerr)
		}
		if err != nil {
			os.Remove(path)
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return fmt.Errorf("auth: write key %s: %w", k.KID, err)
	}
	if err := pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		return fmt.Errorf("auth: write key %s to %s: %w", k.KID, path, err)
	}
	return nil
}

// LoadKey reads a private key file: PEM (PKCS#1 "RSA PRIVATE KEY", PKCS#8
// "PRIVATE KEY", SEC1 "EC PRIVATE KEY") or a JWK (a JSON object with "d", or
// a JWKS holding exactly one private key). See ParseKey.
func LoadKey(path string) (*Key, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("auth: load key: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("auth: load key %s: %w", path, err)
	}
	if len(data) > maxKeyFileSize {
		return nil, fmt.Errorf("auth: load key %s: file larger than %d bytes", path, maxKeyFileSize)
	}
	k, err := ParseKey(data)
	if err != nil {
		return nil, fmt.Errorf("auth: load key %s: %w", path, err)
	}
	return k, nil
}

// ParseKey decodes a private key from PEM or JWK bytes. The algorithm follows
// from the key (RSA → RS384, P-384 → ES384). The key ID is the JWK's "kid"
// when it has one, else the RFC 7638 thumbprint of the public key. Error
// messages never quote the input.
func ParseKey(data []byte) (*Key, error) {
	trimmed := strings.TrimSpace(string(data))
	if strings.HasPrefix(trimmed, "{") {
		return parseJWKKey([]byte(trimmed))
	}
	rest := data
	sawPEM := false
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		sawPEM = true
		var (
			s   any
			err error
		)
		switch block.Type {
		case "EC PARAMETERS": // openssl ecparam -genkey writes these first
			continue
		case "RSA PRIVATE KEY":
			s, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		case "PRIVATE KEY":
			s, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			s, err = x509.ParseECPrivateKey(block.Bytes)
		case "ENCRYPTED PRIVATE KEY":
			return nil, errors.New("encrypted private keys are not supported: decrypt it first (openssl pkcs8 -in k.pem -out plain.pem)")
		case "PUBLIC KEY", "RSA PUBLIC KEY", "CERTIFICATE":
			return nil, fmt.Errorf("found a %s block, need a private key", block.Type)
		default:
			return nil, fmt.Errorf("unsupported PEM block type %q", block.Type)
		}
		if err != nil {
			return nil, fmt.Errorf("parse %s block: %w", block.Type, err)
		}
		if _, ok := block.Headers["Proc-Type"]; ok {
			return nil, errors.New("encrypted PEM keys are not supported")
		}
		signer, ok := s.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("unsupported key type %T", s)
		}
		return newKey(signer, "")
	}
	if sawPEM {
		return nil, errors.New("no private key block found")
	}
	return nil, errors.New("neither a PEM private key nor a JWK")
}

// PublicKey is a public JSON Web Key (RFC 7517) for an RSA or EC key.
type PublicKey struct {
	Kty string `json:"kty"`
	Kid string `json:"kid,omitempty"`
	Use string `json:"use,omitempty"`
	Alg string `json:"alg,omitempty"`
	// RSA
	N string `json:"n,omitempty"`
	E string `json:"e,omitempty"`
	// EC
	Crv string `json:"crv,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
}

// CryptoPublicKey decodes the JWK into an *rsa.PublicKey or *ecdsa.PublicKey.
func (p PublicKey) CryptoPublicKey() (crypto.PublicKey, error) {
	switch p.Kty {
	case "RSA":
		n, err := b64Int(p.N, "n")
		if err != nil {
			return nil, err
		}
		e, err := b64Int(p.E, "e")
		if err != nil {
			return nil, err
		}
		if !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31-1 {
			return nil, errors.New("jwk: RSA exponent out of range")
		}
		return &rsa.PublicKey{N: n, E: int(e.Int64())}, nil
	case "EC":
		if p.Crv != "P-384" {
			return nil, fmt.Errorf("jwk: unsupported curve %q (want P-384)", p.Crv)
		}
		// ParseUncompressedPublicKey rejects points not on the curve.
		x, err := b64Fixed(p.X, "x", 48)
		if err != nil {
			return nil, err
		}
		y, err := b64Fixed(p.Y, "y", 48)
		if err != nil {
			return nil, err
		}
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P384(), append(append([]byte{4}, x...), y...))
		if err != nil {
			return nil, fmt.Errorf("jwk: invalid EC point: %w", err)
		}
		return pub, nil
	case "":
		return nil, errors.New("jwk: missing kty")
	default:
		return nil, fmt.Errorf("jwk: unsupported kty %q", p.Kty)
	}
}

func publicJWK(pub crypto.PublicKey) (PublicKey, error) {
	switch p := pub.(type) {
	case *rsa.PublicKey:
		return PublicKey{Kty: "RSA", N: b64(p.N.Bytes()), E: b64(big.NewInt(int64(p.E)).Bytes())}, nil
	case *ecdsa.PublicKey:
		if p.Curve != elliptic.P384() {
			return PublicKey{}, fmt.Errorf("auth: unsupported curve %s", p.Curve.Params().Name)
		}
		b, err := p.Bytes() // 0x04 || X || Y, each coordinate of fixed size
		if err != nil {
			return PublicKey{}, fmt.Errorf("auth: %w", err)
		}
		size := (len(b) - 1) / 2
		return PublicKey{Kty: "EC", Crv: "P-384", X: b64(b[1 : 1+size]), Y: b64(b[1+size:])}, nil
	default:
		return PublicKey{}, fmt.Errorf("auth: unsupported public key type %T", pub)
	}
}

// Thumbprint returns the RFC 7638 SHA-256 JWK thumbprint (base64url, no
// padding) of an RSA or P-384 EC public key.
func Thumbprint(pub crypto.PublicKey) (string, error) {
	j, err := publicJWK(pub)
	if err != nil {
		return "", err
	}
	// RFC 7638 §3.2: required members only, lexicographic order, no spaces.
	var canon string
	switch j.Kty {
	case "RSA":
		canon = fmt.Sprintf(`{"e":%q,"kty":"RSA","n":%q}`, j.E, j.N)
	case "EC":
		canon = fmt.Sprintf(`{"crv":%q,"kty":"EC","x":%q,"y":%q}`, j.Crv, j.X, j.Y)
	}
	sum := sha256.Sum256([]byte(canon))
	return b64(sum[:]), nil
}

// privateJWK is a JWK as read from a key file, private members included.
type privateJWK struct {
	PublicKey
	D  string `json:"d"`
	P  string `json:"p"`
	Q  string `json:"q"`
	DP string `json:"dp"`
	DQ string `json:"dq"`
	QI string `json:"qi"`
}

func parseJWKKey(data []byte) (*Key, error) {
	var probe struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil, errors.New("invalid JWK JSON")
	}
	if probe.Keys != nil {
		var priv []json.RawMessage
		for _, raw := range probe.Keys {
			var j privateJWK
			if json.Unmarshal(raw, &j) == nil && j.D != "" {
				priv = append(priv, raw)
			}
		}
		if len(priv) != 1 {
			return nil, fmt.Errorf("JWKS holds %d private keys, want exactly 1", len(priv))
		}
		data = priv[0]
	}
	var j privateJWK
	if err := json.Unmarshal(data, &j); err != nil {
		return nil, errors.New("invalid JWK JSON")
	}
	if j.D == "" {
		return nil, errors.New("JWK has no private part (\"d\"): this is a public key")
	}
	pub, err := j.CryptoPublicKey()
	if err != nil {
		return nil, err
	}
	d, err := b64Int(j.D, "d")
	if err != nil {
		return nil, err
	}
	var s crypto.Signer
	switch p := pub.(type) {
	case *rsa.PublicKey:
		if j.P == "" || j.Q == "" {
			return nil, errors.New("jwk: RSA private key needs p and q")
		}
		pp, err := b64Int(j.P, "p")
		if err != nil {
			return nil, err
		}
		q, err := b64Int(j.Q, "q")
		if err != nil {
			return nil, err
		}
		rk := &rsa.PrivateKey{PublicKey: *p, D: d, Primes: []*big.Int{pp, q}}
		if err := rk.Validate(); err != nil {
			return nil, fmt.Errorf("jwk: invalid RSA private key: %w", err)
		}
		rk.Precompute()
		s = rk
	case *ecdsa.PublicKey:
		size := (p.Curve.Params().BitSize + 7) / 8
		if len(d.Bytes()) > size {
			return nil, errors.New("jwk: EC private scalar too long")
		}
		ek, err := ecdsa.ParseRawPrivateKey(p.Curve, d.FillBytes(make([]byte, size)))
		if err != nil {
			return nil, fmt.Errorf("jwk: invalid EC private key: %w", err)
		}
		want, err1 := p.Bytes()
		got, err2 := ek.PublicKey.Bytes()
		if err1 != nil || err2 != nil || !bytes.Equal(got, want) {
			return nil, errors.New("jwk: EC private key does not match x/y")
		}
		s = ek
	}
	k, err := newKey(s, j.Kid)
	if err != nil {
		return nil, err
	}
	if j.Alg != "" && j.Alg != k.Alg {
		return nil, fmt.Errorf("jwk: alg %q does not fit a %s key (want %s)", j.Alg, j.Kty, k.Alg)
	}
	return k, nil
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// b64Fixed decodes a base64url field that must be size bytes long (an EC
// coordinate, left-padded as RFC 7518 §6.2.1.2 requires; shorter values are
// padded for lenient producers).
func b64Fixed(s, name string, size int) ([]byte, error) {
	n, err := b64Int(s, name)
	if err != nil {
		return nil, err
	}
	if (n.BitLen()+7)/8 > size {
		return nil, fmt.Errorf("jwk: %q is longer than %d bytes", name, size)
	}
	return n.FillBytes(make([]byte, size)), nil
}

func b64Int(s, name string) (*big.Int, error) {
	if s == "" {
		return nil, fmt.Errorf("jwk: missing %q", name)
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return nil, fmt.Errorf("jwk: %q is not base64url", name)
	}
	if len(b) == 0 {
		return nil, fmt.Errorf("jwk: empty %q", name)
	}
	return new(big.Int).SetBytes(b), nil
}

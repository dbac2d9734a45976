package auth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// JWKS is a JSON Web Key Set holding public keys.
type JWKS struct {
	Keys []PublicKey `json:"keys"`
}

// WriteJWKS writes a public JWKS holding keys to path (mode 0644), replacing
// any existing file. The write is atomic (temporary file and rename).
func WriteJWKS(path string, keys ...PublicKey) error {
	raw := make([]json.RawMessage, 0, len(keys))
	seen := map[string]bool{}
	for _, k := range keys {
		if err := checkPublic(k); err != nil {
			return fmt.Errorf("auth: write JWKS %s: %w", path, err)
		}
		if seen[k.Kid] {
			return fmt.Errorf("auth: write JWKS %s: duplicate kid %q", path, k.Kid)
		}
		seen[k.Kid] = true
		b, err := json.Marshal(k)
		if err != nil {
			return fmt.Errorf("auth: write JWKS %s: %w", path, err)
		}
		raw = append(raw, b)
	}
	return writeJWKSRaw(path, raw)
}

// AppendJWKS adds keys to the JWKS at path, keeping the keys already there
// verbatim (members this package does not know included), so that a client
// can publish the old and the new key during a rotation. A missing file is
// created. A key whose kid is already present is skipped when it is the same
// key and is an error otherwise.
func AppendJWKS(path string, keys ...PublicKey) error {
	existing, err := readJWKSRaw(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("auth: append to JWKS: %w", err)
	}
	byKid := map[string]PublicKey{}
	for _, raw := range existing {
		var p PublicKey
		if err := json.Unmarshal(raw, &p); err != nil {
			return fmt.Errorf("auth: append to JWKS %s: invalid key: %w", path, err)
		}
		if p.Kid != "" {
			byKid[p.Kid] = p
		}
	}
	for _, k := range keys {
		if err := checkPublic(k); err != nil {
			return fmt.Errorf("auth: append to JWKS %s: %w", path, err)
		}
		if old, ok := byKid[k.Kid]; ok {
			if old.Kty == k.Kty && old.N == k.N && old.E == k.E && old.Crv == k.Crv && old.X == k.X && old.Y == k.Y {
				continue
			}
			return fmt.Errorf("auth: append to JWKS %s: kid %q already names a different key", path, k.Kid)
		}
		b, err := json.Marshal(k)
		if err != nil {
			return fmt.Errorf("auth: append to JWKS %s: %w", path, err)
		}
		existing = append(existing, b)
		byKid[k.Kid] = k
	}
	return writeJWKSRaw(path, existing)
}

// ReadJWKS reads a JWKS file. Members other than those of PublicKey are
// dropped.
func ReadJWKS(path string) (*JWKS, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("auth: read JWKS: %w", err)
	}
	var set JWKS
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("auth: read JWKS %s: %w", path, err)
	}
	return &set, nil
}

func checkPublic(k PublicKey) error {
	if k.Kid == "" {
		return errors.New("key without kid")
	}
	if _, err := k.CryptoPublicKey(); err != nil {
		return fmt.Errorf("key %q: %w", k.Kid, err)
	}
	return nil
}

func readJWKSRaw(path string) ([]json.RawMessage, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("%s: not a JWKS: %w", path, err)
	}
	for _, raw := range set.Keys {
		var probe struct {
			D *string `json:"d"`
		}
		if json.Unmarshal(raw, &probe) == nil && probe.D != nil {
			return nil, fmt.Errorf("%s: holds a private key; refusing to touch it", path)
		}
	}
	return set.Keys, nil
}

func writeJWKSRaw(path string, keys []json.RawMessage) error {
	if keys == nil {
		keys = []json.RawMessage{}
	}
	var buf bytes.Buffer
	buf.WriteString("{\n  \"keys\": [")
	for i, k := range keys {
		if i > 0 {
			buf.WriteString(",")
		}
		buf.WriteString("\n    ")
		var c bytes.Buffer
		if err := json.Compact(&c, k); err != nil {
			return fmt.Errorf("auth: write JWKS %s: %w", path, err)
		}
		buf.Write(c.Bytes())
	}
	if len(keys) > 0 {
		buf.WriteString("\n  ")
	}
	buf.WriteString("]\n}\n")

	tmp, err := os.CreateTemp(filepath.Dir(path), ".jwks-*.json")
	if err != nil {
		return fmt.Errorf("auth: write JWKS %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := tmp.Write(buf.Bytes()); err != nil {
		tmp.Close()
		return fmt.Errorf("auth: write JWKS %s: %w", path, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("auth: write JWKS %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("auth: write JWKS %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("auth: write JWKS %s: %w", path, err)
	}
	return nil
}

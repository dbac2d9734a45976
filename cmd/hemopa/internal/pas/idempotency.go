package pas

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"sync"
)

// submissionKey digests the request's entries (fullUrl and resource, in
// order, whitespace aside: a resent request is the same request, a resource
// re-serialised with its keys in another order is a new one) and the policy
// plan (a new policy version or routing decides anew). Bundle.id, timestamp
// and identifier are left out: they name the transmission, not the request.
func submissionKey(r *request, plan string) string {
	h := sha256.New()
	h.Write([]byte("hemopa-pas/1\x00"))
	h.Write([]byte(plan))
	h.Write([]byte{0})
	for _, e := range r.entries {
		h.Write([]byte(e.fullURL))
		h.Write([]byte{0})
		writeCompact(h, e.resource)
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// writeCompact writes valid JSON to w without the whitespace between tokens
// (what json.Compact does, in one pass without a buffer copy).
func writeCompact(w io.Writer, js []byte) {
	inString, escaped, from := false, false, 0
	for i, c := range js {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			if from < i {
				w.Write(js[from:i])
			}
			from = i + 1
		}
	}
	if from < len(js) {
		w.Write(js[from:])
	}
}

// keyLocks is a mutex per key, held only while someone uses it.
type keyLocks struct {
	mu    sync.Mutex
	byKey map[string]*keyLock
}

type keyLock struct {
	sync.Mutex
	users int
}

// lock locks key and returns its unlock.
func (k *keyLocks) lock(key string) (unlock func()) {
	k.mu.Lock()
	if k.byKey == nil {
		k.byKey = map[string]*keyLock{}
	}
	l := k.byKey[key]
	if l == nil {
		l = &keyLock{}
		k.byKey[key] = l
	}
	l.users++
	k.mu.Unlock()
	l.Lock()
	return func() {
		l.Unlock()
		k.mu.Lock()
		if l.users--; l.users == 0 {
			delete(k.byKey, key)
		}
		k.mu.Unlock()
	}
}

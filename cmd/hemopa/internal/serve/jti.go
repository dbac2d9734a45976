package serve

import (
	"crypto/sha256"
	"sync"
	"time"
)

// jtiKey is a token id's digest (issuer and jti): 16 bytes per remembered
// token, however long the ids.
type jtiKey [16]byte

func newJTIKey(iss, jti string) jtiKey {
	h := sha256.Sum256([]byte(iss + "\x00" + jti))
	return jtiKey(h[:16])
}

// jtiCache remembers token ids until their token expires, to refuse
// replays. Ids are filed by the second they may be forgotten, so expiring
// them costs only the expired ids; memory follows the tokens alive at once,
// bounded by max (beyond it new tokens are refused rather than memory grown).
type jtiCache struct {
	mu      sync.Mutex
	seen    map[jtiKey]int64   // key → unix second after which it is forgotten
	buckets map[int64][]jtiKey // unix second → keys filed there
	swept   int64              // buckets up to this second are gone
	max     int
	now     func() time.Time
}

func newJTICache(max int) *jtiCache {
	return &jtiCache{seen: map[jtiKey]int64{}, buckets: map[int64][]jtiKey{}, max: max, now: time.Now}
}

// firstUse records key until the given time and reports whether it was new.
// It also reports false when the cache is full.
func (c *jtiCache) firstUse(key jtiKey, until time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now().Unix()
	c.sweep(now)
	if _, ok := c.seen[key]; ok {
		return false
	}
	if len(c.seen) >= c.max {
		return false
	}
	sec := until.Unix() + 1
	c.seen[key] = sec
	c.buckets[sec] = append(c.buckets[sec], key)
	return true
}

// sweep forgets the keys whose second has passed.
func (c *jtiCache) sweep(now int64) {
	if c.swept == 0 || now-c.swept > int64(len(c.buckets)) {
		// First call, or a long idle gap: walk the buckets rather than the seconds.
		for sec, keys := range c.buckets {
			if sec <= now {
				c.drop(sec, keys)
			}
		}
		c.swept = now
		return
	}
	for ; c.swept < now; c.swept++ {
		if keys, ok := c.buckets[c.swept+1]; ok {
			c.drop(c.swept+1, keys)
		}
	}
}

func (c *jtiCache) drop(sec int64, keys []jtiKey) {
	for _, k := range keys {
		if c.seen[k] == sec {
			delete(c.seen, k)
		}
	}
	delete(c.buckets, sec)
}

func (c *jtiCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}

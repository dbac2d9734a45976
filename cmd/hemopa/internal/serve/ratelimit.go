package serve

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limiters holds a token bucket per client key (JWT issuer or remote IP).
// Buckets idle for 10 minutes are dropped, so memory follows active clients.
type limiters struct {
	mu        sync.Mutex
	perSecond rate.Limit
	burst     int
	byKey     map[string]*limiterEntry
	lastSweep time.Time
	now       func() time.Time
}

type limiterEntry struct {
	lim  *rate.Limiter
	used time.Time
}

// newLimiters returns nil (no limit) for a negative rate.
func newLimiters(rl RateLimit) *limiters {
	if rl.PerSecond < 0 {
		return nil
	}
	return &limiters{perSecond: rate.Limit(rl.PerSecond), burst: rl.Burst, byKey: map[string]*limiterEntry{}, now: time.Now}
}

// allow takes a token from key's bucket.
func (l *limiters) allow(key string) bool {
	if l == nil {
		return true
	}
	l.mu.Lock()
	now := l.now()
	if now.Sub(l.lastSweep) > time.Minute {
		for k, e := range l.byKey {
			if now.Sub(e.used) > 10*time.Minute {
				delete(l.byKey, k)
			}
		}
		l.lastSweep = now
	}
	e := l.byKey[key]
	if e == nil {
		e = &limiterEntry{lim: rate.NewLimiter(l.perSecond, l.burst)}
		l.byKey[key] = e
	}
	e.used = now
	l.mu.Unlock()
	return e.lim.AllowN(now, 1)
}

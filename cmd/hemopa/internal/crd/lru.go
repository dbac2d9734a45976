package crd

import (
	"container/list"
	"sync"
	"time"
)

// lru is a size- and age-bounded cache, safe for concurrent use. A nil or
// zero-size lru caches nothing.
type lru[K comparable, V any] struct {
	mu    sync.Mutex
	max   int
	ttl   time.Duration
	now   func() time.Time
	items map[K]*list.Element
	order *list.List // front: most recently used
}

type lruEntry[K comparable, V any] struct {
	key     K
	val     V
	expires time.Time
}

func newLRU[K comparable, V any](size int, ttl time.Duration) *lru[K, V] {
	if size <= 0 {
		return nil
	}
	return &lru[K, V]{max: size, ttl: ttl, now: time.Now, items: make(map[K]*list.Element, size), order: list.New()}
}

// get returns a live entry and marks it used.
func (c *lru[K, V]) get(k K) (V, bool) {
	var zero V
	if c == nil {
		return zero, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[k]
	if !ok {
		return zero, false
	}
	e := el.Value.(*lruEntry[K, V])
	if c.now().After(e.expires) {
		c.order.Remove(el)
		delete(c.items, k)
		return zero, false
	}
	c.order.MoveToFront(el)
	return e.val, true
}

// put stores an entry, evicting the least recently used beyond the size.
func (c *lru[K, V]) put(k K, v V) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	exp := c.now().Add(c.ttl)
	if el, ok := c.items[k]; ok {
		e := el.Value.(*lruEntry[K, V])
		e.val, e.expires = v, exp
		c.order.MoveToFront(el)
		return
	}
	c.items[k] = c.order.PushFront(&lruEntry[K, V]{key: k, val: v, expires: exp})
	for c.order.Len() > c.max {
		old := c.order.Back()
		c.order.Remove(old)
		delete(c.items, old.Value.(*lruEntry[K, V]).key)
	}
}

// len is the number of entries held (live or not yet evicted).
func (c *lru[K, V]) len() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}

// sweep drops expired entries, so cached data does not outlive its TTL in
// memory when nothing asks for it again.
func (c *lru[K, V]) sweep() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	for el := c.order.Back(); el != nil; {
		prev := el.Prev()
		if e := el.Value.(*lruEntry[K, V]); now.After(e.expires) {
			c.order.Remove(el)
			delete(c.items, e.key)
		}
		el = prev
	}
}

package crd

import (
	"testing"
	"time"
)

func TestLRU(t *testing.T) {
	c := newLRU[string, int](2, time.Minute)
	now := time.Unix(0, 0)
	c.now = func() time.Time { return now }
	c.put("a", 1)
	c.put("b", 2)
	if v, ok := c.get("a"); !ok || v != 1 {
		t.Fatal("a")
	}
	c.put("c", 3) // evicts b, the least recently used
	if _, ok := c.get("b"); ok {
		t.Error("b survived eviction")
	}
	now = now.Add(2 * time.Minute)
	if _, ok := c.get("a"); ok {
		t.Error("a outlived its TTL")
	}
	c.sweep()
	if c.len() != 0 {
		t.Errorf("%d entries after sweep", c.len())
	}
	var off *lru[string, int] = newLRU[string, int](-1, time.Minute)
	off.put("x", 1)
	if _, ok := off.get("x"); ok || off.len() != 0 {
		t.Error("a disabled cache cached")
	}
}

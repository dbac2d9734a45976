package davinci

import (
	"testing"

	"github.com/google/uuid"
)

func TestNameUUID(t *testing.T) {
	a, b := NameUUID("k1"), NameUUID("k2")
	if a != NameUUID("k1") || a == b {
		t.Fatalf("NameUUID not stable or not distinct: %s %s", a, b)
	}
	u, err := uuid.Parse(a)
	if err != nil || u.Version() != 5 || u.Variant() != uuid.RFC4122 {
		t.Errorf("%s: version %d variant %v (%v), want an RFC 9562 v5 UUID", a, u.Version(), u.Variant(), err)
	}
}

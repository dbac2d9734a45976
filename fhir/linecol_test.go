package fhir

import "testing"

func TestLineCol(t *testing.T) {
	data := []byte("{\n  \"a\": 1,\n  x\n}")
	for _, tc := range []struct {
		off       int64
		line, col int
	}{
		{0, 1, 1}, {1, 1, 2}, {2, 2, 1}, {14, 3, 3}, {999, 4, 2},
	} {
		if l, c := LineCol(data, tc.off); l != tc.line || c != tc.col {
			t.Errorf("LineCol(%d) = %d:%d, want %d:%d", tc.off, l, c, tc.line, tc.col)
		}
	}
}

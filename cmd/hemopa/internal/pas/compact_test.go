package pas

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// FuzzWriteCompact: writeCompact gives json.Compact's bytes for valid JSON.
func FuzzWriteCompact(f *testing.F) {
	for _, s := range []string{`{ "a" : [ 1 , 2 ] }`, `" x \" y \\ "`, "{\n\t\"k\": \"v\\n \\\" \"\r\n}", `[]`, `"\u00e9 ü"`} {
		f.Add([]byte(s))
	}
	files, _ := filepath.Glob(filepath.Join(repoRoot(f), "testdata", "pas", "*.json"))
	for _, file := range files[:min(2, len(files))] {
		if b, err := os.ReadFile(file); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, js []byte) {
		if !json.Valid(js) {
			return
		}
		var want, got bytes.Buffer
		if err := json.Compact(&want, js); err != nil {
			t.Fatal(err)
		}
		writeCompact(&got, js)
		if !bytes.Equal(want.Bytes(), got.Bytes()) {
			t.Fatalf("writeCompact %q, json.Compact %q", got.Bytes(), want.Bytes())
		}
	})
}

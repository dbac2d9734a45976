package fhir

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/tidwall/gjson"
)

// bigBundle joins the entries of every sample patient, n times over.
func bigBundle(b *testing.B, n int) []byte {
	files, _ := filepath.Glob("../testdata/patients/*.json")
	var entries [][]byte
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		gjson.GetBytes(data, "entry").ForEach(func(_, e gjson.Result) bool {
			entries = append(entries, []byte(e.Raw))
			return true
		})
	}
	var out bytes.Buffer
	out.WriteString(`{"resourceType":"Bundle","type":"collection","entry":[`)
	for i := range n {
		for j, e := range entries {
			if i+j > 0 {
				out.WriteByte(',')
			}
			out.Write(e)
		}
	}
	out.WriteString("]}")
	return out.Bytes()
}

// BenchmarkValidate is the strict validating pass alone (duplicate keys,
// UTF-8, uris); BenchmarkGJSONValid is the syntax-only check it replaced.
func BenchmarkValidate(b *testing.B) {
	data := bigBundle(b, 10)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if err := validate(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGJSONValid(b *testing.B) {
	data := bigBundle(b, 10)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if !gjson.ValidBytes(data) {
			b.Fatal("invalid")
		}
	}
}

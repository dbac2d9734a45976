package fhir

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDecodeBundle(t *testing.T) {
	d, err := NewDecoder()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, in string
		entries  int
		err      string
	}{
		{"collection", `{"resourceType":"Bundle","type":"collection","entry":[{"fullUrl":"urn:uuid:1","resource":{"resourceType":"Patient","id":"p"}}]}`, 1, ""},
		{"transaction with request", `{"resourceType":"Bundle","type":"transaction","entry":[{"resource":{"resourceType":"Patient","id":"p"},"request":{"method":"PUT","url":"Patient/p"}}]}`, 1, ""},
		{"searchset", `{"resourceType":"Bundle","type":"searchset","total":0}`, 0, ""},
		{"entry without resource", `{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"DELETE","url":"Patient/p"}}]}`, 0, ""},
		{"invalid JSON", `{"resourceType":"Bundle",`, 0, "invalid JSON"},
		{"trailing garbage", `{"resourceType":"Bundle"} x`, 0, "invalid JSON"},
		{"not an object", `[1,2]`, 0, "Bundle"},
		{"not a bundle", `{"resourceType":"Patient"}`, 0, "not a Bundle"},
		{"no resourceType", `{"type":"collection"}`, 0, "no resourceType"},
		{"entry without resourceType", `{"resourceType":"Bundle","entry":[{"resource":{"id":"x"}}]}`, 0, "Bundle.entry[0].resource: no resourceType"},
		{"invalid field value", `{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Patient","id":"p","birthDate":"yesterday"}}]}`, 0, "Bundle.entry[0].resource (Patient/p)"},
		{"unknown resource type", `{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Spaceship"}}]}`, 0, "Bundle.entry[0].resource (Spaceship)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, err := d.DecodeBundle([]byte(tc.in))
			if tc.err != "" {
				var de *DecodeError
				if err == nil || !strings.Contains(err.Error(), tc.err) || !errors.As(err, &de) {
					t.Fatalf("error %v, want a DecodeError containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(b.GetEntry()) != tc.entries {
				t.Errorf("%d entries, want %d", len(b.GetEntry()), tc.entries)
			}
		})
	}
}

func TestDecodeFilterSkipsInvalidIrrelevantResources(t *testing.T) {
	keepLabs := func(p Peek) bool {
		if p.ResourceType != "Observation" {
			return p.ResourceType == "Patient"
		}
		for sys, code := range p.Codes() {
			if sys == "http://loinc.org" && code == "777-3" {
				return true
			}
		}
		return false
	}
	d, _ := NewDecoder(WithFilter(keepLabs))
	in := `{"resourceType":"Bundle","entry":[
	 {"resource":{"resourceType":"Patient","id":"p"}},
	 {"resource":{"resourceType":"Encounter","id":"e","status":"not-a-status"}},
	 {"resource":{"resourceType":"Observation","id":"bp","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"85354-9"}]}}},
	 {"resource":{"resourceType":"Observation","id":"plt","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"777-3"}]}}}]}`
	b, err := d.DecodeBundle([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(b.GetEntry()) != 2 || b.GetEntry()[1].GetResource().GetObservation().GetId().GetValue() != "plt" {
		t.Errorf("kept %d entries: %v", len(b.GetEntry()), b)
	}
}

// FuzzDecodeBundle: any input gives a bundle or a DecodeError, never a panic.
func FuzzDecodeBundle(f *testing.F) {
	files, _ := filepath.Glob("../testdata/patients/*.json")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{`{}`, `{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Observation","valueQuantity":{"value":"x"}}}]}`, `null`, `{"resourceType":"Bundle","entry":[null]}`} {
		f.Add([]byte(s))
	}
	d, err := NewDecoder()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := d.DecodeBundle(data)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error is not a DecodeError: %T %v", err, err)
			}
			return
		}
		if b == nil {
			t.Fatal("nil bundle without error")
		}
	})
}

func TestDecodeCacheSharesIdenticalResources(t *testing.T) {
	d, err := NewDecoder(WithCache(16))
	if err != nil {
		t.Fatal(err)
	}
	in := []byte(`{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Patient","id":"p","gender":"male"}}]}`)
	a, err := d.DecodeBundle(in)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := d.DecodeBundle(in)
	if a.Entry[0].Resource != b.Entry[0].Resource {
		t.Error("identical resource decoded twice")
	}
	c, _ := d.DecodeBundle([]byte(`{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Patient","id":"p","gender":"female"}}]}`))
	if c.Entry[0].Resource == a.Entry[0].Resource || c.Entry[0].Resource.GetPatient().GetGender().GetValue() == a.Entry[0].Resource.GetPatient().GetGender().GetValue() {
		t.Error("a different resource hit the cache")
	}
	if _, err := d.DecodeBundle([]byte(`{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Patient","id":"p","gender":"boy"}}]}`)); err == nil {
		t.Error("an invalid resource must still be rejected")
	}
}

package fhir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	bcrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"
	"google.golang.org/protobuf/reflect/protoreflect"
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

// FuzzDecodeBundle: any input gives a bundle or a DecodeError (one line),
// never a panic; and when decoding succeeds, every kept resource is the one
// the peek saw: the same resourceType, id and code.coding (system, code) as
// jsonformat decoded. Seeded with the samples and with duplicate-key,
// bad-UTF-8, bad-escape and bad-URI cases.
func FuzzDecodeBundle(f *testing.F) {
	// The samples' first entries, not whole files (whole samples are checked
	// by TestStrictAcceptsSamples): small seeds mutate and minimize fast.
	files, _ := filepath.Glob("../testdata/patients/*.json")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			var entries []string
			gjson.GetBytes(b, "entry").ForEach(func(_, e gjson.Result) bool {
				entries = append(entries, e.Raw)
				return len(entries) < 3
			})
			f.Add([]byte(bundleOf(entries...)))
		}
	}
	for _, s := range []string{`{}`, `{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Observation","valueQuantity":{"value":"x"}}}]}`, `null`, `{"resourceType":"Bundle","entry":[null]}`,
		`{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Observation","id":"o","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"777-3","code":"26515-7"}]}}}]}`,
		`{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Observation","resourceType":"Encounter","id":"o","status":"final","code":{"text":"x"}}}]}`,
		`{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Patient","id":"a","i\u0064":"b"}}]}`,
		`{"resourceType":"Bundle","entry":[{"resource":{"resource\u0054ype":"Patient","id":"p"}}]}`,
		`{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Observation","id":"o","status":"final","c\u006fde":{"coding":[{"sys\u0074em":"http:\/\/loinc.org","code":"777-3"}]}}}]}`,
		"{\"resourceType\":\"Bundle\",\"entry\":[{\"resource\":{\"resourceType\":\"Patient\",\"id\":\"p\",\"name\":[{\"family\":\"\xff\"}]}}]}",
		`{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Patient","id":"p","name":[{"family":"\ud800"}]}}]}`,
		`{"resourceType":"Bundle","entry":[{"fullUrl":"urn:uuid:a b","resource":{"resourceType":"Patient","id":"p"}}]}`,
		`{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Observation","id":"o","status":"final","code":{"coding":[{"system":"http://loinc.org\t","code":"777-3"}]},"subject":{"reference":"Patient/p q"}}}]}`,
		`{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Patient","id":"p","id":"q"}}]}}]}`,
	} {
		f.Add([]byte(s))
	}
	var peeks []Peek
	record := func(p Peek) bool {
		p.Raw = nil
		peeks = append(peeks, p)
		return true
	}
	d, err := NewDecoder(WithFilter(record))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// Mutants over 16 KiB teach nothing the small ones do not and decode
		// slowly. Minimizing a large interesting input takes the fuzzer up to
		// -fuzzminimizetime (60s) with nothing shown ("0/sec"): run with
		// -fuzzminimizetime 5s.
		if len(data) > 16<<10 {
			return
		}
		peeks = peeks[:0]
		b, err := d.DecodeBundle(data)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error is not a DecodeError: %T %v", err, err)
			}
			if strings.ContainsAny(err.Error(), "\n\r") {
				t.Fatalf("error is not one line: %q", err)
			}
			return
		}
		if b == nil {
			t.Fatal("nil bundle without error")
		}
		if len(peeks) != len(b.GetEntry()) {
			t.Fatalf("%d resources peeked, %d decoded", len(peeks), len(b.GetEntry()))
		}
		for i, e := range b.GetEntry() {
			rt, id, codes := decoded(e.GetResource())
			p := peeks[i]
			if p.ResourceType != rt || p.ID != id {
				t.Fatalf("entry %d: peek saw %s/%s, jsonformat decoded %s/%s", i, p.ResourceType, p.ID, rt, id)
			}
			var peeked [][2]string
			for s, c := range p.Codes() {
				peeked = append(peeked, [2]string{s, c})
			}
			if fmt.Sprint(peeked) != fmt.Sprint(codes) && !(len(peeked) == 0 && len(codes) == 0) {
				t.Fatalf("entry %d (%s/%s): peek saw codes %v, jsonformat decoded %v", i, rt, id, peeked, codes)
			}
		}
	})
}

// decoded reads the resource type, id and top-level code.coding (system,
// code) of a decoded resource by reflection, as the peek reads them from JSON.
func decoded(cr *bcrpb.ContainedResource) (string, string, [][2]string) {
	m := cr.ProtoReflect()
	od := m.Descriptor().Oneofs().Get(0)
	fd := m.WhichOneof(od)
	if fd == nil {
		return "", "", nil
	}
	res := m.Get(fd).Message()
	rt := string(res.Descriptor().Name())
	str := func(msg protoreflect.Message, name string) string {
		f := msg.Descriptor().Fields().ByName(protoreflect.Name(name))
		if f == nil || f.Kind() != protoreflect.MessageKind || !msg.Has(f) {
			return ""
		}
		v := msg.Get(f).Message()
		vf := v.Descriptor().Fields().ByName("value")
		if vf == nil || vf.Kind() != protoreflect.StringKind {
			return ""
		}
		return v.Get(vf).String()
	}
	id := str(res, "id")
	var codes [][2]string
	if cf := res.Descriptor().Fields().ByName("code"); cf != nil && cf.Kind() == protoreflect.MessageKind && cf.Cardinality() != protoreflect.Repeated && res.Has(cf) {
		cc := res.Get(cf).Message()
		if kf := cc.Descriptor().Fields().ByName("coding"); kf != nil && kf.IsList() {
			l := cc.Get(kf).List()
			for j := range l.Len() {
				c := l.Get(j).Message()
				codes = append(codes, [2]string{str(c, "system"), str(c, "code")})
			}
		}
	}
	return rt, id, codes
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

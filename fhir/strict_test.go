package fhir

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tidwall/gjson"
)

// bundleOf wraps entries (JSON) in a collection Bundle.
func bundleOf(entries ...string) string {
	return `{"resourceType":"Bundle","type":"collection","entry":[` + strings.Join(entries, ",") + `]}`
}

const okPatient = `{"resource":{"resourceType":"Patient","id":"p"}}`

// TestStrictRejects: each kind of input the peek and jsonformat could read
// differently is rejected in the validating pass, with the FHIR path, one
// line, and no value from the record. Filtered and unfiltered decoders agree.
func TestStrictRejects(t *testing.T) {
	cases := []struct {
		name, in, want string
		secret         string // a value that must not appear in the message
	}{
		{"duplicate key in coding", bundleOf(okPatient, okPatient, okPatient,
			`{"resource":{"resourceType":"Observation","id":"o","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"777-3","system":"http://acme.example/lab"}]}}}`),
			`Bundle.entry[3].resource.code.coding[0]: duplicate key "system"`, "acme"},
		{"duplicate resourceType", bundleOf(`{"resource":{"resourceType":"Encounter","id":"e","resourceType":"Observation"}}`),
			`Bundle.entry[0].resource: duplicate key "resourceType"`, "Encounter"},
		{"duplicate id", bundleOf(`{"resource":{"resourceType":"Patient","id":"first","id":"second"}}`), `Bundle.entry[0].resource: duplicate key "id"`, "second"},
		{"duplicate resource in entry", bundleOf(`{"resource":{"resourceType":"Patient","id":"p"},"resource":{"resourceType":"Patient","id":"q"}}`),
			`Bundle.entry[0]: duplicate key "resource"`, ""},
		{"duplicate fullUrl", bundleOf(`{"fullUrl":"urn:uuid:1","fullUrl":"urn:uuid:2","resource":{"resourceType":"Patient","id":"p"}}`),
			`Bundle.entry[0]: duplicate key "fullUrl"`, "urn:uuid:2"},
		{"duplicate at the top", `{"resourceType":"Bundle","entry":[],"entry":[` + okPatient + `]}`, `Bundle: duplicate key "entry"`, ""},
		{"duplicate spelled with an escape", bundleOf(`{"resource":{"resourceType":"Patient","id":"p","gender":"male","gend\u0065r":"female"}}`),
			`Bundle.entry[0].resource: duplicate key "gender"`, "female"},
		{"duplicate in a nested Bundle", bundleOf(`{"resource":{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Observation","id":"o","valueQuantity":{"value":1,"value":9}}}]}}`),
			`Bundle.entry[0].resource.entry[0].resource.valueQuantity: duplicate key "value"`, ""},
		{"duplicate in a contained resource", bundleOf(`{"resource":{"resourceType":"MedicationRequest","id":"mr","contained":[{"resourceType":"Medication","id":"m","code":{"text":"Hemgenix","text":"saline"}}]}}`),
			`Bundle.entry[0].resource.contained[0].code: duplicate key "text"`, "saline"},
		{"duplicate in a skipped resource", bundleOf(`{"resource":{"resourceType":"Encounter","id":"e","status":"finished","status":"cancelled"}}`),
			`Bundle.entry[0].resource: duplicate key "status"`, "cancelled"},
		{"invalid UTF-8 in a value", bundleOf(`{"resource":{"resourceType":"Patient","id":"p","name":[{"family":"Sm` + "\xff" + `ith"}]}}`),
			"Bundle.entry[0].resource.name[0].family: invalid UTF-8", "Sm"},
		{"invalid UTF-8 in a key", bundleOf(`{"resource":{"resourceType":"Patient","id":"p","name":[{"fam` + "\xc3" + `":"Smith"}]}}`),
			"Bundle.entry[0].resource.name[0]: invalid UTF-8", "Smith"},
		{"overlong UTF-8", bundleOf(`{"resource":{"resourceType":"Patient","id":"p","gender":"` + "\xc0\xaf" + `"}}`), "Bundle.entry[0].resource.gender: invalid UTF-8", ""},
		{"lone surrogate escape", bundleOf(`{"resource":{"resourceType":"Patient","id":"p","name":[{"family":"Smith\ud800"}]}}`),
			"Bundle.entry[0].resource.name[0].family: invalid escape sequence in a string", "Smith"},
		{"reversed surrogate pair", bundleOf(`{"resource":{"resourceType":"Patient","id":"p","name":[{"given":["\udc00\ud800"]}]}}`),
			"Bundle.entry[0].resource.name[0].given[0]: invalid escape sequence in a string", ""},
		{"bad escape", bundleOf(`{"resource":{"resourceType":"Patient","id":"p","name":[{"family":"Sm\xith"}]}}`),
			"Bundle.entry[0].resource.name[0].family: invalid escape sequence in a string", "Sm"},
		{"space in fullUrl", bundleOf(`{}`, `{}`, `{"fullUrl":"urn:uuid:patient one","resource":{"resourceType":"Patient","id":"p"}}`),
			"Bundle.entry[2].fullUrl: invalid URI (contains a space)", "patient"},
		{"tab escape in fullUrl", bundleOf(`{"fullUrl":"urn:uuid:a\tb","resource":{"resourceType":"Patient","id":"p"}}`), "Bundle.entry[0].fullUrl: invalid URI (contains whitespace)", "uuid"},
		{"empty fullUrl", bundleOf(`{"fullUrl":"","resource":{"resourceType":"Patient","id":"p"}}`), "Bundle.entry[0].fullUrl: invalid URI (empty)", ""},
		{"number fullUrl", bundleOf(`{"fullUrl":12,"resource":{"resourceType":"Patient","id":"p"}}`), "Bundle.entry[0].fullUrl: invalid URI (not a string)", ""},
		{"space in coding system of a skipped resource", bundleOf(`{"resource":{"resourceType":"Encounter","id":"e","type":[{"coding":[{"system":"http://snomed.info/sct ","code":"1"}]}]}}`),
			"Bundle.entry[0].resource.type[0].coding[0].system: invalid URI (contains a space)", "snomed"},
		{"newline in code.coding.system", bundleOf(`{"resource":{"resourceType":"Observation","id":"o","status":"final","code":{"coding":[{"system":"http://loinc.org\n","code":"777-3"}]}}}`),
			"Bundle.entry[0].resource.code.coding[0].system: invalid URI (contains whitespace)", "loinc"},
		{"no-break space in reference", bundleOf(`{"resource":{"resourceType":"Observation","id":"o","subject":{"reference":"Patient/p\u00a0"}}}`),
			"Bundle.entry[0].resource.subject.reference: invalid URI (contains whitespace)", "Patient/p"},
		{"control character in extension url", bundleOf(`{"resource":{"resourceType":"Patient","id":"p","extension":[{"url":"http://x.example/\u007f","valueBoolean":true}]}}`),
			"Bundle.entry[0].resource.extension[0].url: invalid URI (contains a control character)", "x.example"},
		{"uri member spelled with an escape", bundleOf(`{"resource":{"resourceType":"Observation","id":"o","code":{"coding":[{"sys\u0074em":"http://loinc .org"}]}}}`),
			"Bundle.entry[0].resource.code.coding[0].system: invalid URI (contains a space)", "loinc"},
		{"bool system", bundleOf(`{"resource":{"resourceType":"Observation","id":"o","code":{"coding":[{"system":true}]}}}`),
			"Bundle.entry[0].resource.code.coding[0].system: invalid URI (not a string)", ""},
		{"space in request url", `{"resourceType":"Bundle","type":"transaction","entry":[{"resource":{"resourceType":"Patient","id":"p"},"request":{"method":"PUT","url":"Patient/a b"}}]}`,
			"Bundle.entry[0].request.url: invalid URI (contains a space)", "a b"},
		{"upper-case key", bundleOf(`{"resource":{"resourceType":"Observation","Id":"o2","status":"final"}}`), `Bundle.entry[0].resource: key "Id" is not a FHIR element name`, "o2"},
		{"upper-case code beside code", bundleOf(`{"resource":{"resourceType":"Observation","id":"o","status":"final","code":{"text":"a"},"Code":{"text":"b"}}}`),
			`Bundle.entry[0].resource: key "Code" is not a FHIR element name`, ""},
		{"upper-case primitive extension", bundleOf(`{"resource":{"resourceType":"Observation","id":"o","status":"final","_Status":{"id":"x"}}}`), `Bundle.entry[0].resource: key "_Status" is not a FHIR element name`, ""},
		{"upper-case key spelled with an escape", bundleOf(`{"resource":{"resourceType":"Observation","id":"o","code":{"coding":[{"\u0053ystem":"http://loinc.org"}]}}}`),
			`Bundle.entry[0].resource.code.coding[0]: key "System" is not a FHIR element name`, "loinc"},
		{"two values", `{"resourceType":"Bundle"} {"resourceType":"Bundle"}`, "Bundle: invalid JSON: more than one value", ""},
		{"trailing garbage", `{"resourceType":"Bundle"} x`, "Bundle: invalid JSON at line 1, column 27", ""},
		{"truncated", `{"resourceType":"Bundle","entry":[`, "Bundle: invalid JSON: unexpected end of input", ""},
		{"empty", ``, "Bundle: invalid JSON: unexpected end of input", ""},
		{"mismatched bracket", bundleOf(`{"resource":{"resourceType":"Patient","id":"p","name":[{"family":"x"]}}`), "Bundle.entry[0].resource.name: invalid JSON at line 1, column", ""},
		{"byte order mark", "\xef\xbb\xbf" + bundleOf(okPatient), "Bundle: invalid JSON at line 1, column 1", ""},
		{"odd key name is quoted", bundleOf(`{"resource":{"resourceType":"Patient","id":"p","a\nb":1,"a\nb":2}}`), `Bundle.entry[0].resource: duplicate key "a\nb"`, ""},
	}
	plain, _ := NewDecoder()
	skipAll, _ := NewDecoder(WithFilter(func(Peek) bool { return false }))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for name, d := range map[string]*Decoder{"all": plain, "filtered": skipAll} {
				b, err := d.DecodeBundle([]byte(tc.in))
				var de *DecodeError
				if err == nil || !errors.As(err, &de) {
					t.Fatalf("%s: got %v, %v; want a DecodeError", name, b, err)
				}
				msg := err.Error()
				if !strings.HasPrefix(msg, tc.want) {
					t.Errorf("%s: error %q, want it to start with %q", name, msg, tc.want)
				}
				if strings.ContainsAny(msg, "\n\r") {
					t.Errorf("%s: error is not one line: %q", name, msg)
				}
				if tc.secret != "" && strings.Contains(msg, tc.secret) {
					t.Errorf("%s: error %q carries the value %q", name, msg, tc.secret)
				}
			}
		})
	}
}

// TestStrictDecodeResources: search results pass the same validating pass,
// named by their index.
func TestStrictDecodeResources(t *testing.T) {
	d, _ := NewDecoder()
	cases := []struct {
		name string
		raws []string
		want string
	}{
		{"duplicate key", []string{`{"resourceType":"Patient","id":"p"}`, `{"resourceType":"Observation","id":"o","status":"final","status":"cancelled","code":{"text":"x"}}`}, `resource[1]: duplicate key "status"`},
		{"invalid UTF-8", []string{`{"resourceType":"Patient","id":"p","name":[{"text":"` + "\xfe" + `"}]}`}, "resource[0].name[0].text: invalid UTF-8"},
		{"invalid uri", []string{`{"resourceType":"Observation","id":"o","subject":{"reference":"Patient/ p"}}`}, "resource[0].subject.reference: invalid URI (contains a space)"},
		{"lone surrogate", []string{`{"resourceType":"Patient","id":"p","name":[{"text":"\udfff"}]}`}, "resource[0].name[0].text: invalid escape sequence in a string"},
		{"two values", []string{`{"resourceType":"Patient","id":"p"}{"resourceType":"Patient","id":"q"}`}, "resource[0]: invalid JSON: more than one value"},
		{"not an object", []string{`[1]`}, "resource[0]: not a JSON object"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			raws := make([]json.RawMessage, len(tc.raws))
			for i, r := range tc.raws {
				raws[i] = json.RawMessage(r)
			}
			_, err := d.DecodeResources(raws)
			var de *DecodeError
			if err == nil || !errors.As(err, &de) || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("error %v, want a DecodeError starting %q", err, tc.want)
			}
		})
	}
	b, err := d.DecodeResources([]json.RawMessage{json.RawMessage(`{"resourceType":"Patient","id":"p","managingOrganization":{"reference":"Organization/o"}}`)})
	if err != nil || len(b.GetEntry()) != 1 {
		t.Fatalf("a valid resource: %v, %v", b, err)
	}
}

// TestStrictAccepts: what is valid FHIR JSON still decodes — escapes that are
// valid, non-ASCII text, a reference that is an Identifier, null fullUrl,
// the same key in sibling objects.
func TestStrictAccepts(t *testing.T) {
	d, _ := NewDecoder()
	for _, in := range []string{
		bundleOf(`{"fullUrl":"urn:uuid:0d9f1c52-7c2e-4b1e-9a55-0c2b3f1d9e01","resource":{"resourceType":"Patient","id":"p","name":[{"family":"Müller-Łukasz 李","given":["Zoë"]}]}}`),
		bundleOf(`{"fullUrl":"http:\/\/ehr.example\/fhir\/Patient\/p","resource":{"resourceType":"Patient","id":"p","name":[{"text":"tab\there \ud83d\ude00"}]}}`),
		bundleOf(`{"fullUrl":"https://ehr.example/fhir/Patient/%C3%BC","resource":{"resourceType":"Patient","id":"p"}}`),
		bundleOf(`{"fullUrl":null,"resource":{"resourceType":"Patient","id":"p"}}`),
		bundleOf(`{"resource":{"resourceType":"Claim","id":"c","status":"active","use":"preauthorization","type":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/claim-type","code":"pharmacy"}]},"patient":{"reference":"Patient/p"},"created":"2026-01-01","provider":{"reference":"Organization/o"},"priority":{"coding":[{"code":"normal"}]},"insurance":[{"sequence":1,"focal":true,"coverage":{"reference":"Coverage/c"}}],"related":[{"reference":{"system":"http://ehr.example/claims","value":"C-1"}}]}}`),
		bundleOf(`{"resource":{"resourceType":"Observation","id":"o","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"777-3"},{"system":"http://snomed.info/sct","code":"61928009"}]}}}`),
		bundleOf(`{"resource":{"resourceType":"Patient","id":"p","telecom":[{"system":"phone","value":"555 0100"}]}}`),
		" \n\t" + bundleOf(okPatient) + "\n",
	} {
		if _, err := d.DecodeBundle([]byte(in)); err != nil {
			t.Errorf("%.80s…: %v", in, err)
		}
	}
}

// TestStrictAcceptsSamples: every bundle the project ships, and the shared
// Inferno fixtures, pass the validating pass. The patients, PAS bundles and
// hook prefetches also decode in full; the DTR package and the Inferno
// fixtures are only peeked (their NutritionOrders lack the required intent,
// and jsonformat does not read Parameters.parameter.resource — neither is a
// matter of strictness).
func TestStrictAcceptsSamples(t *testing.T) {
	full, _ := NewDecoder()
	peekOnly, _ := NewDecoder(WithFilter(func(Peek) bool { return false }))
	var files []string
	for _, g := range []string{"../testdata/patients/*.json", "../testdata/pas/*.json", "../testdata/serve/*/*.json"} {
		m, _ := filepath.Glob(g)
		files = append(files, m...)
	}
	if len(files) < 20 {
		t.Fatalf("only %d sample files found", len(files))
	}
	// ../shared beside the repository (the package directory is fhir/).
	sharedDir := filepath.Join("..", "..", "shared", "fixtures")
	shared, _ := filepath.Glob(filepath.Join(sharedDir, "*", "*.json"))
	isShared := map[string]bool{}
	for _, f := range shared {
		isShared[f] = true
	}
	switch {
	case len(shared) > 0:
		files = append(files, shared...)
	case inCI():
		t.Fatalf("CI: the shared Inferno fixtures (%s) are missing", sharedDir)
	default:
		t.Logf("shared Inferno fixtures not found in %s (a fresh clone has none): skipping them", sharedDir)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		// Decode every Bundle or resource in the file: the file itself, or
		// the ones a hook request, a response or a package carries.
		d := full
		if strings.Contains(f, "/dtr/") || isShared[f] {
			d = peekOnly
		}
		checked := 0
		var walk func(r gjson.Result, path string)
		walk = func(r gjson.Result, path string) {
			if rt := r.Get("resourceType"); rt.Type == gjson.String {
				checked++
				var err error
				if rt.String() == "Bundle" {
					_, err = d.DecodeBundle([]byte(r.Raw))
				} else {
					_, err = d.DecodeResources([]json.RawMessage{json.RawMessage(r.Raw)})
				}
				if err != nil {
					t.Errorf("%s %s: %v", f, path, err)
				}
				return
			}
			if r.IsObject() || r.IsArray() {
				r.ForEach(func(k, v gjson.Result) bool { walk(v, path+"/"+k.String()); return true })
			}
		}
		walk(gjson.ParseBytes(data), "")
		if checked == 0 && strings.Contains(string(data), `"resourceType"`) {
			t.Errorf("%s: no resource decoded", f)
		}
	}
}

// inCI reports a CI run (CI set, and not "false" or "0"): what is missing is
// then a failure, never a skip. The same rule as cmd/hemopa/internal/testenv
// and integration/harness, which this package cannot import.
func inCI() bool {
	v := os.Getenv("CI")
	return v != "" && v != "false" && v != "0"
}

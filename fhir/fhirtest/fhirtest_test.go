package fhirtest

import (
	"fmt"
	"strings"
	"testing"
)

const (
	okPatient = `{"resourceType":"Patient","id":"p","gender":"male","birthDate":"1990-04-01"}`
	okObs     = `{"resourceType":"Observation","id":"o","status":"final","code":{"text":"weight"},"subject":{"reference":"Patient/p"},"effectiveDateTime":"2026-11-24T10:00:00Z","valueQuantity":{"value":70.50,"unit":"kg"}}`
)

func bundle(resources ...string) string {
	var entries []string
	for _, r := range resources {
		entries = append(entries, `{"fullUrl":"urn:uuid:0d9f1c52-7c2e-4b1e-9a55-0c2b3f1d9e01","resource":`+r+`}`)
	}
	return `{"resourceType":"Bundle","type":"collection","entry":[` + strings.Join(entries, ",") + `]}`
}

func parameters(resource string) string {
	return `{"resourceType":"Parameters","parameter":[{"name":"a","valueString":"x"},{"name":"b","part":[{"name":"c","resource":` + resource + `}]}]}`
}

// TestCheckFails: each kind of fault, wherever it stands, is a failure whose
// message names the FHIR path and the fault.
func TestCheckFails(t *testing.T) {
	cases := []struct {
		name, in string
		want     []string // substrings of one error
	}{
		// jsonformat: the resource itself
		{"unknown field", `{"resourceType":"Patient","id":"p","colour":"red"}`, []string{"Patient", "unknown field"}},
		{"wrong type", `{"resourceType":"Patient","id":"p","active":"true"}`, []string{`"Patient.active"`, "expected boolean"}},
		{"bad code", `{"resourceType":"Patient","id":"p","gender":"boy"}`, []string{`"Patient.gender"`, "code type mismatch"}},
		{"bad date", `{"resourceType":"Patient","id":"p","birthDate":"2020-13-01"}`, []string{`"Patient.birthDate"`, "expected date"}},
		{"dateTime without zone", `{"resourceType":"Observation","id":"o","status":"final","code":{"text":"x"},"effectiveDateTime":"2026-11-24T10:00:00"}`, []string{`"Observation.effective`}},
		{"bad id", `{"resourceType":"Patient","id":"p q"}`, []string{`"Patient.id"`, "invalid Id"}},
		{"missing required", `{"resourceType":"Observation","id":"o","code":{"text":"x"}}`, []string{"Observation", `missing required field "status"`}},
		{"reference to the wrong type", `{"resourceType":"Patient","id":"p","managingOrganization":{"reference":"Patient/x"}}`, []string{`"Patient.managingOrganization"`, "want Organization"}},
		{"unknown resource type", `{"resourceType":"Patiently","id":"p"}`, []string{"Patiently", "unknown resource type"}},
		{"two values of a choice", `{"resourceType":"Patient","id":"p","extension":[{"url":"http://x.example/e","valueString":"a","valueBoolean":true}]}`, []string{`"Patient.extension[0]"`, "multiple values"}},
		// the validating pass of fhir.Decoder
		{"duplicate key", `{"resourceType":"Patient","id":"p","gender":"male","gender":"female"}`, []string{"Patient", `duplicate key "gender"`}},
		{"upper-case member", `{"resourceType":"Patient","id":"p","Gender":"male"}`, []string{"Patient", `key "Gender" is not a FHIR element name`}},
		{"space in a uri", `{"resourceType":"Patient","id":"p","identifier":[{"system":"http://x.example/ mrn","value":"1"}]}`, []string{"Patient.identifier[0].system", "invalid URI"}},
		{"invalid UTF-8", `{"resourceType":"Patient","id":"p","name":[{"family":"Sm` + "\xff" + `ith"}]}`, []string{"Patient.name[0].family", "invalid UTF-8"}},
		{"not JSON", `{"resourceType":"Patient","id":"p",}`, []string{"$", "invalid JSON"}},
		// FHIR JSON rules jsonformat lets through
		{"empty string", `{"resourceType":"Patient","id":"p","name":[{"family":""}]}`, []string{"Patient.name[0].family", "empty string"}},
		{"blank string", `{"resourceType":"Patient","id":"p","name":[{"family":"  "}]}`, []string{"Patient.name[0].family", "empty string"}},
		{"empty object", `{"resourceType":"Patient","id":"p","name":[{}]}`, []string{"Patient.name[0]", "empty object"}},
		{"empty array", `{"resourceType":"Patient","id":"p","name":[]}`, []string{"Patient.name", "empty array"}},
		{"null member", `{"resourceType":"Patient","id":"p","gender":null}`, []string{"Patient.gender", "null"}},
		{"null in an array", `{"resourceType":"Patient","id":"p","name":[{"given":["a",null]}]}`, []string{"Patient.name[0].given[1]", "null"}},
		{"extension without a value", `{"resourceType":"Patient","id":"p","extension":[{"url":"http://x.example/e"}]}`, []string{"Patient.extension[0]", "ext-1"}},
		{"extension with value and extensions", `{"resourceType":"Patient","id":"p","extension":[{"url":"http://x.example/e","valueString":"a","extension":[{"url":"b","valueString":"c"}]}]}`, []string{"Patient.extension[0]", "ext-1"}},
		{"extension without a url", `{"resourceType":"Patient","id":"p","modifierExtension":[{"valueString":"a"}]}`, []string{"Patient.modifierExtension[0]", "without a url"}},
		// the round trip
		{"lost in the round trip", `{"resourceType":"Patient","id":"p","meta":{"lastUpdated":"2026-01-01T00:00:00.123456789Z"}}`, []string{"Patient.meta.lastUpdated", "round trip", "changed"}},
		// where the fault stands
		{"in a Bundle entry", bundle(okPatient, `{"resourceType":"Observation","id":"o2","status":"done","code":{"text":"x"}}`), []string{"Bundle.entry[1].resource (Observation/o2)", `"Observation.status"`}},
		{"in a Bundle entry's outcome", `{"resourceType":"Bundle","type":"batch-response","entry":[{"response":{"status":"400","outcome":{"resourceType":"OperationOutcome","issue":[{"severity":"bad","code":"invalid"}]}}}]}`,
			[]string{"Bundle.entry[0].response.outcome (OperationOutcome)", "severity"}},
		{"in a Bundle entry, a rule", bundle(`{"resourceType":"Patient","id":"p","name":[{"family":""}]}`), []string{"Bundle.entry[0].resource.name[0].family", "empty string"}},
		{"collection entry without fullUrl", `{"resourceType":"Bundle","type":"collection","entry":[{"fullUrl":"urn:uuid:0d9f1c52-7c2e-4b1e-9a55-0c2b3f1d9e01","resource":` + okPatient + `},{"resource":` + okObs + `}]}`, []string{"Bundle.entry[1]", "no fullUrl"}},
		{"in the Bundle itself", `{"resourceType":"Bundle","type":"pile","entry":[{"resource":` + okPatient + `}]}`, []string{`"Bundle.type"`, "code type mismatch"}},
		{"duplicate key in a Bundle entry", bundle(`{"resourceType":"Patient","id":"p","id":"q"}`), []string{"Bundle.entry[0].resource", `duplicate key "id"`}},
		{"in a Parameters part", parameters(`{"resourceType":"Patient","id":"pp","birthDate":"1990-02-30x"}`), []string{"Parameters.parameter[1].part[0].resource (Patient/pp)", `"Patient.birthDate"`}},
		{"in a Parameters resource", `{"resourceType":"Parameters","parameter":[{"name":"return","resource":` + bundle(`{"resourceType":"Patient","id":"p","deceasedBoolean":"no"}`) + `}]}`,
			[]string{"Parameters.parameter[0].resource.entry[0].resource (Patient/p)", `"Patient.deceased`}},
		{"in Parameters itself", `{"resourceType":"Parameters","parameter":[{"name":"a","valueDate":"tomorrow"}]}`, []string{`"Parameters.parameter[0].value`}},
		{"in a contained resource", `{"resourceType":"MedicationRequest","id":"mr","status":"active","intent":"order","subject":{"reference":"Patient/p"},"medicationReference":{"reference":"#med"},"contained":[{"resourceType":"Medication","id":"med","status":"gone"}]}`,
			[]string{`"MedicationRequest.contained[0].Medication.status"`, "code type mismatch"}},
		{"in a CDS Hooks systemAction", `{"cards":[],"systemActions":[{"type":"update","resource":{"resourceType":"MedicationRequest","id":"mr","status":"active","intent":"order","subject":{"reference":"Patient/p"},"medicationCodeableConcept":{"text":"x"},"extension":[{"url":"http://x.example/ci","valueBoolean":"yes"}]}}]}`,
			[]string{"systemActions[0].resource (MedicationRequest/mr)", `"MedicationRequest.extension[0].value`}},
		{"in a card suggestion", `{"cards":[{"summary":"s","indicator":"info","source":{"label":"l"},"suggestions":[{"label":"x","actions":[{"type":"create","resource":{"resourceType":"Task","id":"t","status":"requested","intent":"order","colour":1}}]}]}]}`,
			[]string{"cards[0].suggestions[0].actions[0].resource (Task/t)", "unknown field"}},
		{"duplicate key in a card suggestion", `{"cards":[{"suggestions":[{"actions":[{"resource":{"resourceType":"Task","id":"t","status":"requested","status":"draft","intent":"order"}}]}]}]}`,
			[]string{"$.cards[0].suggestions[0].actions[0].resource", `duplicate key "status"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, errs := Check([]byte(tc.in))
			if len(errs) == 0 {
				t.Fatalf("no error; want one with %q", tc.want)
			}
			for _, err := range errs {
				ok := true
				for _, w := range tc.want {
					ok = ok && strings.Contains(err.Error(), w)
				}
				if ok {
					return
				}
			}
			t.Errorf("errors %q; want one with all of %q", errs, tc.want)
		})
	}
}

// TestCheckPasses: valid resources, wherever they stand, pass, and each is
// listed with its path.
func TestCheckPasses(t *testing.T) {
	cases := []struct {
		name, in string
		want     []string // Resource.String() of each checked resource
	}{
		{"a resource", okObs, []string{"Observation (Observation/o)"}},
		{"a Bundle", bundle(okPatient, okObs), []string{"Bundle (Bundle)", "Bundle.entry[0].resource (Patient/p)", "Bundle.entry[1].resource (Observation/o)"}},
		{"a transaction of entries without fullUrl", `{"resourceType":"Bundle","type":"transaction","entry":[{"resource":` + okPatient + `,"request":{"method":"POST","url":"Patient"}}]}`, []string{"Bundle (Bundle)", "Bundle.entry[0].resource (Patient/p)"}},
		{"Parameters", parameters(okPatient), []string{"Parameters (Parameters)", "Parameters.parameter[1].part[0].resource (Patient/p)"}},
		{"Parameters of a Bundle", `{"resourceType":"Parameters","parameter":[{"name":"return","resource":` + bundle(okPatient) + `}]}`,
			[]string{"Parameters (Parameters)", "Parameters.parameter[0].resource (Bundle)", "Parameters.parameter[0].resource.entry[0].resource (Patient/p)"}},
		{"a CDS Hooks response", `{"cards":[{"summary":"s","suggestions":[{"actions":[{"type":"create","resource":` + okPatient + `}]}]}],"systemActions":[{"type":"update","resource":` + okObs + `}]}`,
			[]string{"cards[0].suggestions[0].actions[0].resource (Patient/p)", "systemActions[0].resource (Observation/o)"}},
		{"JSON without resources", `{"cards":[]}`, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rs, errs := Check([]byte(tc.in))
			for _, err := range errs {
				t.Error(err)
			}
			if tc.want == nil {
				return
			}
			var got []string
			for _, r := range rs {
				got = append(got, r.String())
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("checked\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// TestValidateReports: Validate reports through t and returns what it checked.
func TestValidateReports(t *testing.T) {
	rec := &recorder{TB: t}
	rs := Validate(rec, "sample", []byte(bundle(okPatient, `{"resourceType":"Patient","id":"q","gender":"boy"}`)))
	if len(rec.errors) != 1 || !strings.HasPrefix(rec.errors[0], "sample: Bundle.entry[1].resource (Patient/q)") {
		t.Errorf("reported %q", rec.errors)
	}
	if got := Types(rs); got["Bundle"] != 1 || got["Patient"] != 2 {
		t.Errorf("types %v", got)
	}
	rec = &recorder{TB: t}
	all := ValidateAll(rec, map[string][]byte{"a": []byte(okPatient), "b": []byte(okObs)})
	if len(rec.errors) != 0 || len(all["a"]) != 1 || len(all["b"]) != 1 {
		t.Errorf("ValidateAll: %q, %v", rec.errors, all)
	}
}

// recorder collects Errorf calls instead of failing the test.
type recorder struct {
	testing.TB
	errors []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, strings.TrimSpace(fmt.Sprintf(format, args...)))
}

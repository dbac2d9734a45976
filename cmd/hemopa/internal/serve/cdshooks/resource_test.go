package cdshooks

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestBundleResources(t *testing.T) {
	raw := []byte(` {"resourceType":"Bundle","type":"searchset","entry":[
		{"resource":{"resourceType":"Observation","id":"o1","code":{"text":"x"}}},
		{"search":{"mode":"outcome"},"resource":{"resourceType":"OperationOutcome"}},
		{"resource":null},
		{"resource":{"resourceType":"OperationOutcome","id":"oo"}},
		{"fullUrl":"urn:x","resource":{"id":"c1","resourceType":"Condition","note":[{"text":"{\"resourceType\":\"Nope\"}"}]}}]}`)
	rs, err := BundleResources(raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 || rs[0].Ref() != "Observation/o1" || rs[1].Ref() != "Condition/c1" {
		t.Fatalf("%+v", rs)
	}
	for _, r := range rs {
		var m map[string]any
		if err := json.Unmarshal(r.Raw, &m); err != nil || m["id"] != r.ID {
			t.Errorf("%s: raw %s", r.Ref(), r.Raw)
		}
	}
	for _, bad := range []string{`{"resourceType":"Bundle","entry":{}}`, `{"resourceType":"Bundle","entry":[1]}`,
		`{"resourceType":"Bundle","entry":[{"resource":{"id":"x"}}]}`, `{"resourceType":3}`, `{"resourceType":"Patient","id":7}`, `[]`, `{`} {
		if _, err := BundleResources([]byte(bad)); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
	if rs, err := BundleResources([]byte(`{"resourceType":"Patient","id":"p"}`)); err != nil || len(rs) != 1 || rs[0].Ref() != "Patient/p" {
		t.Errorf("single resource: %v %v", rs, err)
	}
}

func TestRefID(t *testing.T) {
	for ref, want := range map[string]string{"Patient/1": "1", "https://ehr/fhir/Patient/p-2/_history/3": "p-2", "Patient/": "", "Practitioner/1": "", "1": ""} {
		got, ok := RefID(ref, "Patient")
		if got != want || ok != (want != "") {
			t.Errorf("RefID(%q) = %q, %v", ref, got, ok)
		}
	}
}

func TestValidID(t *testing.T) {
	for id, want := range map[string]bool{"a": true, "Patient-1.2": true, strings.Repeat("x", 64): true,
		"": false, strings.Repeat("x", 65): false, "a_b": false, "a/b": false, "ä": false} {
		if got := ValidID(id); got != want {
			t.Errorf("ValidID(%q) = %v, want %v", id, got, want)
		}
	}
}

package crd

import (
	"slices"
	"testing"
)

// TestResourceSet: the record is each resource once, in order (the first of
// a Type/id wins), resources without an id all kept, skipped references left
// out.
func TestResourceSet(t *testing.T) {
	r := func(typ, id, raw string) resource { return resource{Type: typ, ID: id, Raw: []byte(raw)} }
	var set resourceSet
	set.add(r("Patient", "p", "1"), r("ServiceRequest", "o", "eval"))
	set.skip("DeviceRequest/o")
	set.add(r("DeviceRequest", "o", "sent"), r("Patient", "p", "2"), r("Observation", "", "a"), r("Observation", "", "b"), r("Observation", "x", "c"))
	var got []string
	for _, x := range set.list {
		got = append(got, x.Ref()+"="+string(x.Raw))
	}
	want := []string{"Patient/p=1", "ServiceRequest/o=eval", "Observation/=a", "Observation/=b", "Observation/x=c"}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestCardText(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{count(1, "item"), "1 item"},
		{count(2, "item"), "2 items"},
		{count(3, "criterion"), "3 criteria"},
		{clip("abcdef", 6), "abcdef"},
		{clip("abcdefg", 6), "abcde…"},
		{clip("ééééééé", 3), "éé…"},
		{mdEscape("a*b_[c]<d>"), `a\*b\_\[c\]&lt;d&gt;`},
	} {
		if tc.got != tc.want {
			t.Errorf("%q, want %q", tc.got, tc.want)
		}
	}
}

package cdshooks

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"unsafe"

	"github.com/tidwall/gjson"
)

// Resource is one raw FHIR resource with its type and id.
type Resource struct {
	Type string          `json:"-"`
	ID   string          `json:"-"`
	Raw  json.RawMessage `json:"-"`
}

// Ref is "Type/id".
func (r Resource) Ref() string { return r.Type + "/" + r.ID }

// ParseResource reads a resource's type and id; raw must be a JSON object
// with a string resourceType.
func ParseResource(raw json.RawMessage) (Resource, error) {
	raw = bytes.TrimSpace(raw)
	if !gjson.ValidBytes(raw) {
		return Resource{}, errors.New("not a JSON object")
	}
	return parseValid(raw)
}

// parseValid is ParseResource for JSON already known to be valid.
func parseValid(raw json.RawMessage) (Resource, error) {
	if len(raw) == 0 || raw[0] != '{' {
		return Resource{}, errors.New("not a JSON object")
	}
	v := view(raw)
	rt := gjson.Get(v, "resourceType")
	if rt.Type != gjson.String || rt.Str == "" {
		return Resource{}, errors.New("no resourceType")
	}
	id := gjson.Get(v, "id")
	if id.Exists() && id.Type != gjson.String {
		return Resource{}, errors.New("id is not a string")
	}
	return Resource{Type: rt.Str, ID: id.Str, Raw: raw}, nil
}

// BundleResources lists a Bundle's entry resources (skipping search outcome
// entries and OperationOutcomes), or the resource itself if it is not a
// Bundle. The JSON is validated once; resources are read without copying.
func BundleResources(raw json.RawMessage) ([]Resource, error) {
	raw = bytes.TrimSpace(raw)
	if !gjson.ValidBytes(raw) {
		return nil, errors.New("not a JSON object")
	}
	return ValidBundleResources(raw)
}

// ValidBundleResources is BundleResources for JSON already validated (e.g. a
// slice of a request body Decode accepted).
func ValidBundleResources(raw json.RawMessage) ([]Resource, error) {
	raw = bytes.TrimSpace(raw)
	r, err := parseValid(raw)
	if err != nil {
		return nil, err
	}
	if r.Type != "Bundle" {
		return []Resource{r}, nil
	}
	entries := gjson.Get(view(r.Raw), "entry")
	if !entries.Exists() || entries.Type == gjson.Null {
		return nil, nil
	}
	if !entries.IsArray() {
		return nil, errors.New("Bundle.entry is not a list of entries")
	}
	var out []Resource
	var bad error
	entries.ForEach(func(_, e gjson.Result) bool {
		if !e.IsObject() {
			bad = errors.New("Bundle.entry is not a list of entries")
			return false
		}
		var res gjson.Result
		outcome := false
		e.ForEach(func(k, v gjson.Result) bool {
			switch k.Str {
			case "resource":
				res = v
			case "search":
				outcome = v.Get("mode").Str == "outcome"
			}
			return true
		})
		if outcome || !res.Exists() || res.Type == gjson.Null {
			return true
		}
		er, err := parseValid(rawOf(r.Raw, res))
		if err != nil {
			bad = err
			return false
		}
		if er.Type != "OperationOutcome" {
			out = append(out, er)
		}
		return true
	})
	return out, bad
}

// view is a string sharing data's bytes, for gjson to read without copying.
// data must not change afterwards (request bodies and their slices don't).
func view(data []byte) string {
	if len(data) == 0 {
		return ""
	}
	return unsafe.String(&data[0], len(data))
}

// rawOf is the bytes of a gjson result inside data: a slice of data when
// gjson's offset checks out, else a copy.
func rawOf(data []byte, r gjson.Result) json.RawMessage {
	if r.Index > 0 && r.Index+len(r.Raw) <= len(data) && view(data[r.Index:r.Index+len(r.Raw)]) == r.Raw {
		return json.RawMessage(data[r.Index : r.Index+len(r.Raw) : r.Index+len(r.Raw)])
	}
	return json.RawMessage(r.Raw)
}

// RefID returns the id of a reference to a resource type: "Patient/1" or an
// absolute ".../Patient/1" (history stripped). ok is false for other types.
func RefID(ref, typ string) (string, bool) {
	if i := strings.Index(ref, "/_history/"); i > 0 {
		ref = ref[:i]
	}
	parts := strings.Split(strings.TrimRight(ref, "/"), "/")
	if len(parts) < 2 || parts[len(parts)-2] != typ || parts[len(parts)-1] == "" {
		return "", false
	}
	return parts[len(parts)-1], true
}

// IsNull reports an absent or JSON null value.
func IsNull(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || bytes.Equal(t, []byte("null"))
}

// ValidID reports FHIR R4 id syntax: [A-Za-z0-9\-\.]{1,64}.
func ValidID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

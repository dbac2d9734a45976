// Package davinci renders determinations as the FHIR resources of the Da Vinci
// guides: a PAS-style ClaimResponse (review action A1/A3/A4), a
// QuestionnaireResponse carrying the evaluated criteria, a Task asking for the
// missing documentation, and the DTR attestation Questionnaire.
//
// Resources are built as ordered JSON objects so they read in the usual FHIR
// order (resourceType first). Nothing here checks them against FHIR R4: the
// tests do, by parsing every rendered resource strictly (fhir/fhirtest) and,
// in the integration suite, with HAPI's $validate.
package davinci

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Object is a JSON object that keeps its keys in insertion order.
type Object struct {
	keys []string
	vals map[string]any
}

// O builds an Object from alternating keys and values; nil values are skipped.
func O(kv ...any) *Object {
	o := &Object{vals: make(map[string]any, len(kv)/2)}
	for i := 0; i+1 < len(kv); i += 2 {
		o.Set(kv[i].(string), kv[i+1])
	}
	return o
}

// Set adds or replaces a key; a nil value (or nil slice/object) removes nothing and adds nothing.
func (o *Object) Set(k string, v any) *Object {
	if isNil(v) {
		return o
	}
	if _, ok := o.vals[k]; !ok {
		o.keys = append(o.keys, k)
	}
	o.vals[k] = v
	return o
}

// Delete removes a key.
func (o *Object) Delete(k string) {
	if _, ok := o.vals[k]; !ok {
		return
	}
	delete(o.vals, k)
	for i, key := range o.keys {
		if key == k {
			o.keys = append(o.keys[:i], o.keys[i+1:]...)
			break
		}
	}
}

// Get returns a key's value.
func (o *Object) Get(k string) any { return o.vals[k] }

func isNil(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case *Object:
		return x == nil
	case []any:
		return x == nil
	case []*Object:
		return x == nil
	case string:
		return false
	}
	return false
}

// MarshalJSON writes the keys in order.
func (o *Object) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range o.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		b.Write(kb)
		b.WriteByte(':')
		vb, err := marshal(o.vals[k])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		b.Write(vb)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

// JSON renders an object (indented when pretty).
func JSON(v any, pretty bool) ([]byte, error) {
	raw, err := marshal(v)
	if err != nil || !pretty {
		return raw, err
	}
	var b bytes.Buffer
	if err := json.Indent(&b, raw, "", "  "); err != nil {
		return nil, err
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}

// A is a JSON array.
func A(xs ...any) []any { return xs }

func coding(system, code, display string) *Object {
	return O("system", system, "code", code, "display", nonEmpty(display))
}

func concept(system, code, display string) *Object {
	return O("coding", A(coding(system, code, display)))
}

func nonEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

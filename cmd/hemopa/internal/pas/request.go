package pas

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"

	"hemopa/fhir"
)

// RequestError is a request the service cannot accept (HTTP 400): Path is the
// FHIRPath of the offending element, e.g.
// Bundle.entry[0].resource.supportingInfo[1].valueReference. Its message names
// the path and the rule, never resource content.
type RequestError struct {
	Path string // FHIRPath into the request bundle
	Code string // OperationOutcome issue type: structure, required, value, invalid, not-found
	Msg  string
}

func (e *RequestError) Error() string { return e.Path + ": " + e.Msg }

func badf(path, code, format string, args ...any) *RequestError {
	return &RequestError{Path: path, Code: code, Msg: fmt.Sprintf(format, args...)}
}

// entry is one Bundle.entry of a request, kept raw.
type entry struct {
	index    int
	fullURL  string
	typ, id  string
	resource json.RawMessage
	obj      map[string]any // decoded on first use (numbers as json.Number)
}

// object is the resource as a JSON object (nil if it is not one).
func (e *entry) object() map[string]any {
	if e.obj == nil {
		e.obj = generic(e.resource)
	}
	return e.obj
}

// request is a parsed PAS request (or inquiry) bundle.
type request struct {
	raw       []byte // the Bundle JSON (unwrapped from Parameters if need be)
	wrapped   bool   // the body was a Parameters with a "resource" parameter
	entries   []*entry
	byFullURL map[string]*entry
	byTypeID  map[string]*entry
	claim     map[string]any // entry[0].resource, generic
	base      string         // RESTful base of the Claim's fullUrl ("" for urn:)
}

const claimPath = "Bundle.entry[0].resource"

// parseRequest reads a PAS Bundle (type collection, first entry a Claim) or a
// Parameters wrapping one as its "resource" parameter, and indexes its
// entries. It checks only the Bundle's shape; checkClaim checks the Claim.
// One validating pass checks the JSON; entries are then sliced out by path.
func parseRequest(body []byte) (*request, error) {
	if !gjson.ValidBytes(body) {
		var v any
		return nil, badf("Bundle", "structure", "%s", jsonProblem(body, json.Unmarshal(body, &v)))
	}
	root := gjson.ParseBytes(body)
	if !root.IsObject() {
		return nil, badf("Bundle", "structure", "the body is not a JSON object")
	}
	r := &request{raw: body}
	if root.Get("resourceType").String() == "Parameters" {
		var inner gjson.Result
		root.Get("parameter").ForEach(func(_, p gjson.Result) bool {
			if p.Get("name").String() == "resource" && p.Get("resource").IsObject() {
				inner = p.Get("resource")
				return false
			}
			return true
		})
		if !inner.Exists() {
			return nil, badf("Parameters.parameter", "required", "no parameter named resource holding the PAS Bundle")
		}
		root, r.raw, r.wrapped = inner, []byte(inner.Raw), true
	}
	switch rt := root.Get("resourceType"); {
	case !rt.Exists():
		return nil, badf("Bundle.resourceType", "structure", "not a FHIR resource: resourceType is missing (want a PAS Bundle)")
	case rt.Type != gjson.String || rt.Str != "Bundle":
		return nil, badf("Bundle.resourceType", "structure", "resourceType is %s, want Bundle", clip(rt.Raw))
	}
	if t := root.Get("type"); t.Type != gjson.String || t.Str != "collection" {
		return nil, badf("Bundle.type", "value", "Bundle.type is %s, a PAS request bundle is a collection", clip(orMissing(t)))
	}
	es := root.Get("entry")
	if es.Exists() && !es.IsArray() {
		return nil, badf("Bundle.entry", "structure", "Bundle.entry is not an array")
	}
	list := es.Array()
	if len(list) == 0 {
		return nil, badf("Bundle.entry", "required", "the bundle has no entries (the first must be the Claim)")
	}
	r.byFullURL = make(map[string]*entry, len(list))
	r.byTypeID = make(map[string]*entry, len(list))
	for i, be := range list {
		path := fmt.Sprintf("Bundle.entry[%d]", i)
		if !be.IsObject() {
			return nil, badf(path, "structure", "entry is not a JSON object")
		}
		fu := be.Get("fullUrl")
		if fu.Exists() && fu.Type != gjson.String {
			return nil, badf(path+".fullUrl", "structure", "fullUrl is not a string")
		}
		res := be.Get("resource")
		if res.Type == gjson.Null {
			return nil, badf(path, "required", "entry has no resource")
		}
		if !res.IsObject() {
			return nil, badf(path+".resource", "structure", "resource is not a JSON object")
		}
		rt, id := res.Get("resourceType"), res.Get("id")
		if rt.Type != gjson.String || rt.Str == "" {
			return nil, badf(path+".resource.resourceType", "required", "resource has no resourceType")
		}
		if id.Exists() && id.Type != gjson.String {
			return nil, badf(path+".resource.id", "structure", "id is not a string")
		}
		e := &entry{index: i, fullURL: fu.Str, typ: rt.Str, id: id.Str, resource: json.RawMessage(res.Raw)}
		r.entries = append(r.entries, e)
		if e.fullURL != "" {
			if _, dup := r.byFullURL[e.fullURL]; dup {
				return nil, badf(path+".fullUrl", "invalid", "duplicate fullUrl")
			}
			r.byFullURL[e.fullURL] = e
		}
		if e.id != "" {
			if _, dup := r.byTypeID[e.typ+"/"+e.id]; !dup {
				r.byTypeID[e.typ+"/"+e.id] = e
			}
		}
	}
	first := r.entries[0]
	if first.typ != "Claim" {
		return nil, badf(claimPath+".resourceType", "structure", "the first entry is a %s, a PAS request bundle starts with the Claim", clip(first.typ))
	}
	if r.claim = first.object(); r.claim == nil {
		return nil, badf(claimPath, "structure", "the Claim is not a JSON object")
	}
	if m := restBase.FindStringSubmatch(first.fullURL); m != nil {
		r.base = m[1]
	}
	return r, nil
}

func orMissing(v gjson.Result) string {
	if !v.Exists() {
		return "missing"
	}
	return v.Raw
}

// restBase splits a RESTful fullUrl into base and Type/id.
var restBase = regexp.MustCompile(`^(https?://.+)/([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})$`)

var relativeRef = regexp.MustCompile(`^([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(/_history/[A-Za-z0-9\-.]{1,64})?$`)

// resolve finds the entry a reference points at: an exact fullUrl
// (urn:uuid, urn:oid or absolute URL), or a relative Type/id resolved against
// the Claim's RESTful base, or (leniently, as servers do) against the entry
// of that type and id. Version-specific references resolve to the entry.
func (r *request) resolve(ref string) *entry {
	if ref == "" {
		return nil
	}
	if e := r.byFullURL[ref]; e != nil {
		return e
	}
	if i := strings.Index(ref, "/_history/"); i > 0 {
		if e := r.byFullURL[ref[:i]]; e != nil {
			return e
		}
	}
	if m := relativeRef.FindStringSubmatch(ref); m != nil {
		if r.base != "" {
			if e := r.byFullURL[r.base+"/"+m[1]+"/"+m[2]]; e != nil {
				return e
			}
		}
		return r.byTypeID[m[1]+"/"+m[2]]
	}
	return nil
}

// checkClaim applies the PAS rules the service depends on: use is
// preauthorization, an identifier, a patient, items with unique positive
// sequences, and every reference inside the Claim resolves inside the bundle
// (contained "#id" references to Claim.contained).
func (r *request) checkClaim(requireItems bool) error {
	c := r.claim
	if use, _ := c["use"].(string); use != "preauthorization" {
		if use == "" {
			return badf(claimPath+".use", "required", "Claim.use is missing; a PAS request has use = preauthorization")
		}
		return badf(claimPath+".use", "value", "Claim.use is %q; a PAS request has use = preauthorization", clip(use))
	}
	if len(claimIdentifiers(c)) == 0 {
		return badf(claimPath+".identifier", "required", "the Claim has no identifier with a value (needed to match $inquire)")
	}
	if _, ok := c["patient"].(map[string]any); !ok {
		return badf(claimPath+".patient", "required", "the Claim has no patient")
	}
	if requireItems {
		items, _ := c["item"].([]any)
		if len(items) == 0 {
			return badf(claimPath+".item", "required", "the Claim has no item")
		}
		seen := map[int64]bool{}
		for i, it := range items {
			p := fmt.Sprintf("%s.item[%d].sequence", claimPath, i)
			m, _ := it.(map[string]any)
			n, ok := m["sequence"].(json.Number)
			if !ok {
				return badf(p, "required", "item has no sequence")
			}
			seq, err := strconv.ParseInt(string(n), 10, 32)
			if err != nil || seq < 1 {
				return badf(p, "value", "item sequence must be a positive integer")
			}
			if seen[seq] {
				return badf(p, "invalid", "item sequence %d is used twice", seq)
			}
			seen[seq] = true
		}
	}
	contained := map[string]bool{}
	if cs, ok := c["contained"].([]any); ok {
		for _, x := range cs {
			if m, ok := x.(map[string]any); ok {
				if id, ok := m["id"].(string); ok {
					contained[id] = true
				}
			}
		}
	}
	if err := r.walkRefs(c, claimPath, contained); err != nil {
		return err
	}
	// The references the service reads must point at the right kind of resource.
	for _, want := range []struct{ field, typ string }{{"patient", "Patient"}, {"insurer", "Organization"}} {
		if e := r.resolve(refOf(c[want.field])); e != nil && e.typ != want.typ {
			return badf(claimPath+"."+want.field, "invalid", "reference resolves to a %s, want a %s", e.typ, want.typ)
		}
	}
	if ins, ok := c["insurance"].([]any); ok {
		for i, x := range ins {
			m, _ := x.(map[string]any)
			if e := r.resolve(refOf(m["coverage"])); e != nil && e.typ != "Coverage" {
				return badf(fmt.Sprintf("%s.insurance[%d].coverage", claimPath, i), "invalid", "reference resolves to a %s, want a Coverage", e.typ)
			}
		}
	}
	return nil
}

// walkRefs checks every Reference.reference under v.
func (r *request) walkRefs(v any, path string, contained map[string]bool) error {
	switch x := v.(type) {
	case map[string]any:
		if s, ok := x["reference"].(string); ok {
			if strings.HasPrefix(s, "#") {
				if !contained[s[1:]] {
					return badf(path, "not-found", "contained reference %q does not resolve in Claim.contained", clip(s))
				}
			} else if r.resolve(s) == nil {
				return badf(path, "not-found", "reference %q does not resolve to an entry of the bundle (a PAS bundle holds every referenced resource)", clip(s))
			}
		}
		for _, k := range sortedKeys(x) {
			if k == "text" || k == "contained" {
				continue
			}
			if err := r.walkRefs(x[k], path+"."+k, contained); err != nil {
				return err
			}
		}
	case []any:
		for i, y := range x {
			if err := r.walkRefs(y, fmt.Sprintf("%s[%d]", path, i), contained); err != nil {
				return err
			}
		}
	}
	return nil
}

// sortedKeys gives a stable walk, so the first problem reported is the same
// between runs.
func sortedKeys(m map[string]any) []string { return slices.Sorted(maps.Keys(m)) }

func refOf(v any) string {
	m, _ := v.(map[string]any)
	s, _ := m["reference"].(string)
	return s
}

// Identifier is a FHIR identifier's system and value.
type Identifier struct {
	System string `json:"system,omitempty"`
	Value  string `json:"value"`
}

func (id Identifier) String() string { return id.System + "|" + id.Value }

func identifiersOf(v any) []Identifier {
	var out []Identifier
	list, _ := v.([]any)
	for _, x := range list {
		m, _ := x.(map[string]any)
		val, _ := m["value"].(string)
		if val == "" {
			continue
		}
		sys, _ := m["system"].(string)
		out = append(out, Identifier{System: sys, Value: val})
	}
	return out
}

func claimIdentifiers(c map[string]any) []Identifier { return identifiersOf(c["identifier"]) }

// generic decodes a resource into a JSON object (numbers kept as json.Number);
// nil if it is not one.
func generic(raw json.RawMessage) map[string]any {
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if dec.Decode(&m) != nil {
		return nil
	}
	return m
}

// jsonProblem describes a JSON syntax error by position, without content.
func jsonProblem(data []byte, err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		line, col := fhir.LineCol(data, se.Offset)
		return fmt.Sprintf("malformed JSON at line %d, column %d", line, col)
	case errors.As(err, &te):
		if te.Field == "" {
			return fmt.Sprintf("the body is a JSON %s, not a FHIR resource object", te.Value)
		}
		return fmt.Sprintf("%s has the wrong JSON type (%s)", te.Field, te.Value)
	}
	return "malformed JSON: " + err.Error()
}

// clip shortens client-supplied strings echoed in messages.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

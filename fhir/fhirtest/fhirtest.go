// Package fhirtest checks, in tests, that JSON the product emits is valid
// FHIR R4: every resource in it is read strictly by the google/fhir jsonformat
// R4 unmarshaller (unknown fields, wrong types, codes outside a required
// value set, malformed dates, ids and references, missing required
// elements), passes the same validating pass as the product's own decoder
// (duplicate keys, invalid UTF-8, upper-case member names, whitespace in
// uris — [fhir.Decoder]), obeys the FHIR JSON rules jsonformat lets through
// (no null, no empty string, object or array; an extension has a url and
// either a value or extensions; every entry of a Bundle that is not a batch
// or transaction has a fullUrl), and marshals back to the same JSON.
//
// The JSON may be a resource or anything that carries resources, such as a
// CDS Hooks response (systemActions[].resource,
// cards[].suggestions[].actions[].resource): every object with a
// resourceType is checked where it stands. Inside a resource, the resources
// of Bundle.entry (resource, response.outcome) and of Parameters.parameter
// (resource, and those of its parts) are checked one by one — jsonformat
// cannot read Parameters.parameter.resource at all — and contained
// resources in place. Every problem names its FHIR path, e.g.
//
//	Bundle.entry[1].resource (ClaimResponse/cr-1): error at "ClaimResponse.item[0].adjudication[0]": missing required field "category"
package fhirtest

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/fhir/go/fhirversion"
	"github.com/google/fhir/go/jsonformat"
	"github.com/tidwall/gjson"

	"hemopa/fhir"
)

// Resource is one resource that was checked.
type Resource struct {
	Path string // where it stands, e.g. "Bundle.entry[2].resource" or "systemActions[0].resource"
	Type string // resourceType
	ID   string // id, if any
}

func (r Resource) String() string {
	if r.ID == "" {
		return r.Path + " (" + r.Type + ")"
	}
	return r.Path + " (" + r.Type + "/" + r.ID + ")"
}

// Validate checks data (see the package doc) and reports each problem with
// t.Errorf, prefixed by name when it is not empty. It returns the resources
// checked, so a test can also say which it expected.
func Validate(t testing.TB, name string, data []byte) []Resource {
	t.Helper()
	rs, errs := Check(data)
	prefix := ""
	if name != "" {
		prefix = name + ": "
	}
	for _, err := range errs {
		t.Errorf("%s%v", prefix, err)
	}
	return rs
}

// ValidateAll validates each named document (in name order) and returns the
// resources checked, by name.
func ValidateAll(t testing.TB, docs map[string][]byte) map[string][]Resource {
	t.Helper()
	out := make(map[string][]Resource, len(docs))
	for _, name := range slices.Sorted(maps.Keys(docs)) {
		out[name] = Validate(t, name, docs[name])
	}
	return out
}

// Types counts the checked resources by resourceType.
func Types(rs []Resource) map[string]int {
	out := map[string]int{}
	for _, r := range rs {
		out[r.Type]++
	}
	return out
}

// Check returns the resources found in data and every problem with them
// (nil when all are valid). JSON that is not a resource and carries none is
// no error: it returns no resources.
func Check(data []byte) ([]Resource, []error) {
	c := &checker{}
	root := gjson.ParseBytes(data)
	if rt := root.Get("resourceType"); json.Valid(data) && root.IsObject() && rt.Type == gjson.String {
		c.resourceRaw(data, "")
		return c.found, c.errs
	}
	// Not a resource (or not JSON): the validating pass still reads the whole
	// document, where its one complaint may be the missing resourceType, and
	// each resource in it is checked from its own bytes.
	if err := c.strict(data, "$", true); err != nil {
		return nil, []error{err}
	}
	if !json.Valid(data) {
		return nil, []error{errors.New("$: invalid JSON")}
	}
	c.find(root, "")
	return c.found, c.errs
}

// resourceRaw checks the resource whose JSON is raw.
func (c *checker) resourceRaw(raw []byte, path string) {
	var obj map[string]any
	if err := unmarshal(raw, &obj); err != nil {
		c.errorf("%s: %v", cmp.Or(path, "$"), err)
		return
	}
	c.resource(raw, obj, path)
}

type checker struct {
	found []Resource
	errs  []error
}

func (c *checker) errorf(format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf(format, args...))
}

// find walks JSON that is not a resource and checks each resource in it.
func (c *checker) find(v gjson.Result, path string) {
	switch {
	case v.IsObject():
		if v.Get("resourceType").Type == gjson.String {
			c.resourceRaw([]byte(v.Raw), path)
			return
		}
		v.ForEach(func(k, e gjson.Result) bool {
			c.find(e, join(path, k.String()))
			return true
		})
	case v.IsArray():
		i := 0
		v.ForEach(func(_, e gjson.Result) bool {
			c.find(e, fmt.Sprintf("%s[%d]", path, i))
			i++
			return true
		})
	}
}

func isResource(m map[string]any) bool {
	_, ok := m["resourceType"].(string)
	return ok
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

var (
	unmarshaller *jsonformat.Unmarshaller
	marshaller   *jsonformat.Marshaller
	strictPass   *fhir.Decoder
)

func init() {
	var err error
	if unmarshaller, err = jsonformat.NewUnmarshaller("UTC", fhirversion.R4); err != nil {
		panic(err)
	}
	if marshaller, err = jsonformat.NewMarshaller(false, "", "", fhirversion.R4); err != nil {
		panic(err)
	}
	// A filter that keeps nothing: only the validating pass runs.
	if strictPass, err = fhir.NewDecoder(fhir.WithFilter(func(fhir.Peek) bool { return false })); err != nil {
		panic(err)
	}
}

// resource checks one resource: raw is its JSON, obj the same parsed, path
// where it stands ("" at the root, where the path starts with its type).
func (c *checker) resource(raw []byte, obj map[string]any, path string) {
	rt := obj["resourceType"].(string)
	id, _ := obj["id"].(string)
	here := path
	if here == "" {
		here = rt
	}
	c.found = append(c.found, Resource{Path: here, Type: rt, ID: id})
	where := here
	if path != "" {
		where = Resource{Path: path, Type: rt, ID: id}.String()
	}

	if err := c.strict(raw, here, false); err != nil {
		c.errs = append(c.errs, err)
		return // the other checks would read the JSON differently
	}

	// Lift out the resources jsonformat cannot (Parameters) or need not
	// (Bundle entries) read in place; check each on its own.
	shell := liftNested(obj, here, func(sub map[string]any, subPath string) {
		b, _ := json.Marshal(sub)
		c.resource(b, sub, subPath)
	})
	c.rules(obj, here)
	if rt == "Bundle" {
		c.fullURLs(obj, here)
	}
	shellJSON, err := json.Marshal(shell)
	if err != nil {
		c.errorf("%s: %v", where, err)
		return
	}
	cr, err := unmarshaller.UnmarshalR4(shellJSON)
	if err != nil {
		for _, e := range splitErrors(err) {
			c.errorf("%s: %s", where, e)
		}
		return
	}
	back, err := marshaller.Marshal(cr)
	if err != nil {
		c.errorf("%s: jsonformat cannot marshal it back: %v", where, err)
		return
	}
	var got any
	if err := unmarshal(back, &got); err != nil {
		c.errorf("%s: jsonformat marshalled invalid JSON: %v", where, err)
		return
	}
	var want any
	_ = unmarshal(shellJSON, &want)
	if d := difference(want, got, here); d != "" {
		c.errorf("%s: not the same after a jsonformat round trip: %s", where, d)
	}
}

// strict runs the product decoder's validating pass over one resource (or,
// with notResource, any JSON document), its errors named from path ("$" for
// a document that is no resource).
func (c *checker) strict(raw []byte, path string, notResource bool) error {
	_, err := strictPass.DecodeResources([]json.RawMessage{raw})
	if err == nil {
		return nil
	}
	var de *fhir.DecodeError
	if !errors.As(err, &de) {
		return fmt.Errorf("%s: %v", path, err)
	}
	if notResource && de.Path == "resource[0]" && de.Err.Error() == "no resourceType" {
		return nil // it passed; the decoder then wanted a resource
	}
	return fmt.Errorf("%s: %v", path+strings.TrimPrefix(de.Path, "resource[0]"), de.Err)
}

// rules checks the FHIR JSON rules jsonformat does not: no null, no empty
// string, object or array, and ext-1 on every extension. (FHIR allows a null
// in a primitive array aligned with its _ sibling's extensions; jsonformat
// rejects that anyway, and the product never writes it.)
func (c *checker) rules(v any, path string) {
	switch x := v.(type) {
	case nil:
		c.errorf("%s: null (FHIR JSON leaves the member out)", path)
	case string:
		if strings.TrimSpace(x) == "" {
			c.errorf("%s: empty string (FHIR JSON leaves the member out)", path)
		}
	case []any:
		if len(x) == 0 {
			c.errorf("%s: empty array (FHIR JSON leaves the member out)", path)
		}
		for i, e := range x {
			c.rules(e, fmt.Sprintf("%s[%d]", path, i))
		}
	case map[string]any:
		if len(x) == 0 {
			c.errorf("%s: empty object (FHIR JSON leaves the member out)", path)
		}
		for _, k := range slices.Sorted(maps.Keys(x)) {
			sub := join(path, k)
			if v, ok := x[k].(map[string]any); ok && isResource(v) && (k == "resource" || k == "outcome") {
				continue // lifted out by liftNested: checked on its own
			}
			if k == "extension" || k == "modifierExtension" {
				if arr, ok := x[k].([]any); ok {
					for i, e := range arr {
						c.extension(e, fmt.Sprintf("%s[%d]", sub, i))
					}
				}
			}
			c.rules(x[k], sub)
		}
	}
}

// fullURLs checks that each entry of a Bundle other than a batch or a
// transaction (or their responses) that holds a resource has a fullUrl, as
// FHIR R4 requires (Bundle.entry.fullUrl; HAPI's validator reports it as an
// error).
func (c *checker) fullURLs(bundle map[string]any, path string) {
	switch bundle["type"] {
	case "transaction", "batch", "transaction-response", "batch-response":
		return
	}
	entries, _ := bundle["entry"].([]any)
	for i, e := range entries {
		em, _ := e.(map[string]any)
		if _, ok := em["resource"]; ok && em["fullUrl"] == nil {
			c.errorf("%s.entry[%d]: no fullUrl (required in a %v Bundle)", path, i, bundle["type"])
		}
	}
}

// extension checks ext-1: a url, and a value[x] or extensions but not both.
func (c *checker) extension(v any, path string) {
	e, ok := v.(map[string]any)
	if !ok {
		return
	}
	if u, _ := e["url"].(string); u == "" {
		c.errorf("%s: extension without a url", path)
	}
	values := 0
	for k := range e {
		if strings.HasPrefix(k, "value") {
			values++
		}
	}
	_, nested := e["extension"]
	switch {
	case values == 0 && !nested:
		c.errorf("%s: extension with neither a value nor extensions (ext-1)", path)
	case values > 0 && nested:
		c.errorf("%s: extension with both a value and extensions (ext-1)", path)
	}
}

// liftNested returns a copy of obj without the resources of Bundle.entry
// (resource, response.outcome) and Parameters.parameter (resource, at any
// part depth), calling each for every one it took out.
func liftNested(obj map[string]any, path string, each func(sub map[string]any, subPath string)) map[string]any {
	shell := maps.Clone(obj)
	lift := func(holder map[string]any, key, subPath string) map[string]any {
		sub, ok := holder[key].(map[string]any)
		if !ok || !isResource(sub) {
			return holder
		}
		h := maps.Clone(holder)
		delete(h, key)
		each(sub, subPath)
		return h
	}
	switch obj["resourceType"] {
	case "Bundle":
		entries, ok := obj["entry"].([]any)
		if !ok {
			break
		}
		out := make([]any, len(entries))
		for i, e := range entries {
			em, ok := e.(map[string]any)
			if !ok {
				out[i] = e
				continue
			}
			ep := fmt.Sprintf("%s.entry[%d]", path, i)
			em = lift(em, "resource", ep+".resource")
			if resp, ok := em["response"].(map[string]any); ok {
				em = maps.Clone(em)
				em["response"] = lift(resp, "outcome", ep+".response.outcome")
			}
			out[i] = em
		}
		shell["entry"] = out
	case "Parameters":
		var parts func(list []any, p string) []any
		parts = func(list []any, p string) []any {
			out := make([]any, len(list))
			for i, e := range list {
				pm, ok := e.(map[string]any)
				if !ok {
					out[i] = e
					continue
				}
				pp := fmt.Sprintf("%s[%d]", p, i)
				pm = lift(pm, "resource", pp+".resource")
				if sub, ok := pm["part"].([]any); ok {
					pm = maps.Clone(pm)
					pm["part"] = parts(sub, pp+".part")
				}
				out[i] = pm
			}
			return out
		}
		if list, ok := obj["parameter"].([]any); ok {
			shell["parameter"] = parts(list, path+".parameter")
		}
	}
	return shell
}

// splitErrors turns jsonformat's error (often a list, one per line) into
// one message per problem.
func splitErrors(err error) []string {
	var out []string
	for line := range strings.SplitSeq(err.Error(), "\n") {
		if line = strings.Join(strings.Fields(line), " "); line != "" {
			out = append(out, line)
		}
	}
	return out
}

func unmarshal(data []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	return d.Decode(v)
}

// difference names the first place where two JSON values differ ("" if
// none). Numbers compare by value.
func difference(want, got any, path string) string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return path + " is no longer an object"
		}
		for _, k := range slices.Sorted(maps.Keys(w)) {
			if _, ok := g[k]; !ok {
				return join(path, k) + " was dropped"
			}
			if d := difference(w[k], g[k], join(path, k)); d != "" {
				return d
			}
		}
		for _, k := range slices.Sorted(maps.Keys(g)) {
			if _, ok := w[k]; !ok {
				return join(path, k) + " was added"
			}
		}
	case []any:
		g, ok := got.([]any)
		if !ok {
			return path + " is no longer an array"
		}
		if len(w) != len(g) {
			return fmt.Sprintf("%s has %d elements, not %d", path, len(g), len(w))
		}
		for i := range w {
			if d := difference(w[i], g[i], fmt.Sprintf("%s[%d]", path, i)); d != "" {
				return d
			}
		}
	case json.Number:
		g, ok := got.(json.Number)
		if !ok {
			return path + " is no longer a number"
		}
		wf, err1 := strconv.ParseFloat(string(w), 64)
		gf, err2 := strconv.ParseFloat(string(g), 64)
		if err1 != nil || err2 != nil || wf != gf {
			return fmt.Sprintf("%s changed from %s to %s", path, w, g)
		}
	default:
		if want != got {
			return fmt.Sprintf("%s changed from %.60v to %.60v", path, want, got)
		}
	}
	return ""
}

package fhir

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"strings"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/tidwall/gjson"

	"github.com/google/fhir/go/fhirversion"
	"github.com/google/fhir/go/jsonformat"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	bcrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"
)

// Peek is the little of a resource read before deciding whether to decode it.
type Peek struct {
	ResourceType string
	ID           string
	// Raw is the resource's JSON: the filter may look further into it (text,
	// displays, components) with gjson. It must not be kept or modified.
	Raw  []byte
	code gjson.Result
}

// Codes yields the (system, code) pairs of the resource's top-level code.coding.
func (p Peek) Codes() iter.Seq2[string, string] {
	return func(yield func(string, string) bool) {
		if !p.code.IsObject() {
			return
		}
		p.code.Get("coding").ForEach(func(_, c gjson.Result) bool {
			return yield(c.Get("system").String(), c.Get("code").String())
		})
	}
}

// Filter decides which peeked resources to decode in full.
type Filter func(Peek) bool

// DecodeError is a decoding failure with the FHIR path where it happened.
// Its message carries no resource content.
type DecodeError struct {
	Path string // e.g. Bundle.entry[3].resource (Observation/fix-1)
	Err  error
}

func (e *DecodeError) Error() string { return e.Path + ": " + e.Err.Error() }
func (e *DecodeError) Unwrap() error { return e.Err }

// ErrNotBundle reports JSON that is a resource but not a Bundle.
var ErrNotBundle = errors.New("not a Bundle")

// Decoder turns Bundle JSON into protos. It is safe for concurrent use.
type Decoder struct {
	u      *jsonformat.Unmarshaller
	filter Filter
	cache  *lru.Cache[[32]byte, *bcrpb.ContainedResource]
}

// DecodeOption configures a Decoder.
type DecodeOption func(*Decoder)

// WithFilter decodes only the resources f keeps (default: all).
func WithFilter(f Filter) DecodeOption { return func(d *Decoder) { d.filter = f } }

// WithCache keeps up to n decoded resources, keyed by a SHA-256 of their JSON,
// so a resource sent again (the same prefetch for order-select then
// order-sign, a resubmitted PAS bundle) is not decoded again. Cached protos
// are shared: callers must treat decoded resources as read-only.
func WithCache(n int) DecodeOption {
	return func(d *Decoder) {
		if n > 0 {
			d.cache, _ = lru.New[[32]byte, *bcrpb.ContainedResource](n)
		}
	}
}

// NewDecoder returns a validating R4 decoder. Dates without a time zone are read as UTC.
func NewDecoder(opts ...DecodeOption) (*Decoder, error) {
	u, err := jsonformat.NewUnmarshaller("UTC", fhirversion.R4)
	if err != nil {
		return nil, err
	}
	d := &Decoder{u: u}
	for _, o := range opts {
		o(d)
	}
	return d, nil
}

// DecodeBundle decodes a Bundle of any type (collection, transaction, batch,
// searchset …). The result holds the kept entries with their fullUrl.
//
// One validating pass checks the JSON; entries are then sliced out of the
// input without copying and peeked at by path (gjson), and only kept entries
// are decoded in full. The cost follows the resources that matter.
func (d *Decoder) DecodeBundle(data []byte) (*bcrpb.Bundle, error) {
	if !gjson.ValidBytes(data) {
		var v any
		return nil, &DecodeError{Path: "Bundle", Err: jsonError(data, json.Unmarshal(data, &v))}
	}
	root := gjson.ParseBytes(data)
	if !root.IsObject() {
		return nil, &DecodeError{Path: "Bundle", Err: fmt.Errorf("%w: the JSON is not an object", ErrNotBundle)}
	}
	switch rt := root.Get("resourceType"); {
	case !rt.Exists():
		return nil, &DecodeError{Path: "Bundle", Err: fmt.Errorf("%w: no resourceType", ErrNotBundle)}
	case rt.String() != "Bundle":
		return nil, &DecodeError{Path: rt.String(), Err: fmt.Errorf("%w: resourceType is %q", ErrNotBundle, rt.String())}
	}
	entries := root.Get("entry")
	if entries.Exists() && !entries.IsArray() {
		return nil, &DecodeError{Path: "Bundle.entry", Err: errors.New("not an array")}
	}
	out := &bcrpb.Bundle{}
	var err error
	i := -1
	entries.ForEach(func(_, e gjson.Result) bool {
		i++
		if !e.IsObject() {
			if e.Type == gjson.Null {
				return true
			}
			err = &DecodeError{Path: fmt.Sprintf("Bundle.entry[%d]", i), Err: errors.New("not an object")}
			return false
		}
		n := i
		var cr *bcrpb.ContainedResource
		cr, err = d.decodeEntry(e.Get("resource"), func() string { return fmt.Sprintf("Bundle.entry[%d].resource", n) })
		if err != nil || cr == nil {
			return err == nil
		}
		be := &bcrpb.Bundle_Entry{Resource: cr}
		if fu := e.Get("fullUrl").String(); fu != "" {
			be.FullUrl = &dtpb.Uri{Value: fu}
		}
		out.Entry = append(out.Entry, be)
		return true
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DecodeResources decodes resources (as returned by searches) into one
// collection of kept entries; fullUrl is set to "Type/id".
func (d *Decoder) DecodeResources(raws []json.RawMessage) (*bcrpb.Bundle, error) {
	out := &bcrpb.Bundle{}
	for i, raw := range raws {
		if !gjson.ValidBytes(raw) {
			return nil, &DecodeError{Path: fmt.Sprintf("resource[%d]", i), Err: errors.New("invalid JSON")}
		}
		cr, err := d.decodeEntry(gjson.ParseBytes(raw), func() string { return fmt.Sprintf("resource[%d]", i) })
		if err != nil {
			return nil, err
		}
		if cr != nil {
			out.Entry = append(out.Entry, &bcrpb.Bundle_Entry{Resource: cr})
		}
	}
	return out, nil
}

func (d *Decoder) decodeEntry(res gjson.Result, path func() string) (*bcrpb.ContainedResource, error) {
	if !res.Exists() || res.Type == gjson.Null {
		return nil, nil
	}
	if !res.IsObject() {
		return nil, &DecodeError{Path: path(), Err: errors.New("not a JSON object")}
	}
	rt, id := res.Get("resourceType"), res.Get("id")
	if rt.String() == "" {
		return nil, &DecodeError{Path: path(), Err: errors.New("no resourceType")}
	}
	raw := []byte(res.Raw)
	if d.filter != nil && !d.filter(Peek{ResourceType: rt.String(), ID: id.String(), Raw: raw, code: res.Get("code")}) {
		return nil, nil
	}
	var key [32]byte
	if d.cache != nil {
		key = sha256.Sum256(raw)
		if cr, ok := d.cache.Get(key); ok {
			return cr, nil
		}
	}
	cr, err := d.u.UnmarshalR4(raw)
	if err == nil && d.cache != nil {
		d.cache.Add(key, cr)
	}
	if err != nil {
		where := path() + " (" + rt.String()
		if id.String() != "" {
			where += "/" + id.String()
		}
		return nil, &DecodeError{Path: where + ")", Err: cleanJSONFormatError(err)}
	}
	return cr, nil
}

// cleanJSONFormatError keeps jsonformat's path-bearing message on one line.
func cleanJSONFormatError(err error) error {
	return errors.New(strings.Join(strings.Fields(err.Error()), " "))
}

// jsonError turns an encoding/json error into "invalid JSON at line L, column C: …".
func jsonError(data []byte, err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		l, c := lineCol(data, se.Offset)
		return fmt.Errorf("invalid JSON at line %d, column %d: %v", l, c, se)
	case errors.As(err, &te):
		return fmt.Errorf("Bundle.%s: expected %s, got JSON %s", te.Field, te.Type, te.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("invalid JSON: unexpected end of input")
	}
	return fmt.Errorf("invalid JSON: %v", err)
}

func lineCol(data []byte, off int64) (int, int) {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	line, col := 1, 1
	for _, b := range data[:off] {
		if b == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	return line, col
}

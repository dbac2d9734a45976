package fhir

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"strings"

	"github.com/google/fhir/go/fhirversion"
	"github.com/google/fhir/go/jsonformat"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	bcrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"
)

// Peek is the little of a resource read before deciding whether to decode it.
type Peek struct {
	ResourceType string
	ID           string
	code         json.RawMessage
}

// Codes yields the (system, code) pairs of the resource's top-level
// code.coding, decoding them on first use.
func (p Peek) Codes() iter.Seq2[string, string] {
	return func(yield func(string, string) bool) {
		if len(p.code) == 0 || p.code[0] != '{' {
			return
		}
		var cc struct {
			Coding []struct {
				System string `json:"system"`
				Code   string `json:"code"`
			} `json:"coding"`
		}
		if json.Unmarshal(p.code, &cc) != nil {
			return
		}
		for _, c := range cc.Coding {
			if !yield(c.System, c.Code) {
				return
			}
		}
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
}

// DecodeOption configures a Decoder.
type DecodeOption func(*Decoder)

// WithFilter decodes only the resources f keeps (default: all).
func WithFilter(f Filter) DecodeOption { return func(d *Decoder) { d.filter = f } }

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

type rawBundle struct {
	ResourceType string     `json:"resourceType"`
	Type         string     `json:"type"`
	Entry        []rawEntry `json:"entry"`
}

type rawEntry struct {
	FullURL  string          `json:"fullUrl"`
	Resource json.RawMessage `json:"resource"`
}

type peekFields struct {
	ResourceType string          `json:"resourceType"`
	ID           string          `json:"id"`
	Code         json.RawMessage `json:"code"`
}

// DecodeBundle decodes a Bundle of any type (collection, transaction, batch,
// searchset …). The result holds the kept entries with their fullUrl.
func (d *Decoder) DecodeBundle(data []byte) (*bcrpb.Bundle, error) {
	var rb rawBundle
	if err := json.Unmarshal(data, &rb); err != nil {
		return nil, &DecodeError{Path: "Bundle", Err: jsonError(data, err)}
	}
	if rb.ResourceType != "Bundle" {
		if rb.ResourceType == "" {
			return nil, &DecodeError{Path: "Bundle", Err: fmt.Errorf("%w: no resourceType", ErrNotBundle)}
		}
		return nil, &DecodeError{Path: rb.ResourceType, Err: fmt.Errorf("%w: resourceType is %q", ErrNotBundle, rb.ResourceType)}
	}
	out := &bcrpb.Bundle{}
	for i, e := range rb.Entry {
		cr, err := d.decodeEntry(e.Resource, func() string { return fmt.Sprintf("Bundle.entry[%d].resource", i) })
		if err != nil {
			return nil, err
		}
		if cr == nil {
			continue
		}
		be := &bcrpb.Bundle_Entry{Resource: cr}
		if e.FullURL != "" {
			be.FullUrl = &dtpb.Uri{Value: e.FullURL}
		}
		out.Entry = append(out.Entry, be)
	}
	return out, nil
}

// DecodeResources decodes resources (as returned by searches) into one
// collection of kept entries; fullUrl is set to "Type/id".
func (d *Decoder) DecodeResources(raws []json.RawMessage) (*bcrpb.Bundle, error) {
	out := &bcrpb.Bundle{}
	for i, raw := range raws {
		cr, err := d.decodeEntry(raw, func() string { return fmt.Sprintf("resource[%d]", i) })
		if err != nil {
			return nil, err
		}
		if cr != nil {
			out.Entry = append(out.Entry, &bcrpb.Bundle_Entry{Resource: cr})
		}
	}
	return out, nil
}

func (d *Decoder) decodeEntry(raw json.RawMessage, path func() string) (*bcrpb.ContainedResource, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	var p peekFields
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, &DecodeError{Path: path(), Err: errors.New("not a JSON object")}
	}
	if p.ResourceType == "" {
		return nil, &DecodeError{Path: path(), Err: errors.New("no resourceType")}
	}
	if d.filter != nil && !d.filter(Peek{ResourceType: p.ResourceType, ID: p.ID, code: p.Code}) {
		return nil, nil
	}
	cr, err := d.u.UnmarshalR4(raw)
	if err != nil {
		where := path() + " (" + p.ResourceType
		if p.ID != "" {
			where += "/" + p.ID
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

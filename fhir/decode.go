package fhir

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
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
	// It has passed the validating pass: no duplicate keys, valid UTF-8.
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
// Its message is one line and carries no resource content: member names and
// paths, never values.
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
// One validating pass reads the whole input strictly (see validate): what it
// accepts reads the same to the peek (gjson) and to jsonformat. Entries are
// then sliced out of the input without copying and peeked at by path, and
// only kept entries are decoded in full. The cost follows the resources that
// matter.
func (d *Decoder) DecodeBundle(data []byte) (*bcrpb.Bundle, error) {
	if err := validate(data); err != nil {
		err.Path = "Bundle" + err.Path
		return nil, err
	}
	root := gjson.ParseBytes(data)
	if !root.IsObject() {
		return nil, &DecodeError{Path: "Bundle", Err: fmt.Errorf("%w: the JSON is not an object", ErrNotBundle)}
	}
	switch rt := root.Get("resourceType"); {
	case !rt.Exists():
		return nil, &DecodeError{Path: "Bundle", Err: fmt.Errorf("%w: no resourceType", ErrNotBundle)}
	case rt.Type != gjson.String:
		return nil, &DecodeError{Path: "Bundle.resourceType", Err: fmt.Errorf("%w: resourceType is not a string", ErrNotBundle)}
	case rt.String() != "Bundle":
		return nil, &DecodeError{Path: safeName(rt.String()), Err: fmt.Errorf("%w: resourceType is %s", ErrNotBundle, quoteName(rt.String()))}
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
// collection of kept entries; fullUrl is set to "Type/id". Each resource
// passes the same validating pass as a Bundle.
func (d *Decoder) DecodeResources(raws []json.RawMessage) (*bcrpb.Bundle, error) {
	out := &bcrpb.Bundle{}
	for i, raw := range raws {
		if err := validate(raw); err != nil {
			err.Path = fmt.Sprintf("resource[%d]", i) + err.Path
			return nil, err
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
		where := path() + " (" + safeName(rt.String())
		if id.String() != "" {
			where += "/" + safeName(id.String())
		}
		return nil, &DecodeError{Path: where + ")", Err: cleanJSONFormatError(err)}
	}
	return cr, nil
}

// cleanJSONFormatError keeps jsonformat's path-bearing message on one line.
func cleanJSONFormatError(err error) error {
	return errors.New(strings.Join(strings.Fields(err.Error()), " "))
}

// uriNames are the object member names whose string values are FHIR uris the
// decoder or the filter may read without jsonformat checking them: an entry's
// fullUrl never reaches jsonformat, and neither does anything in a resource
// the filter skips (its code.coding.system is what the peek reads). Checked
// at every depth. Reference.reference is a string in R4, but a literal
// reference is a URL, so the same rule holds. Values must be strings (an
// object, such as Claim.related.reference, an Identifier, is left to
// jsonformat).
var uriNames = map[string]bool{"fullUrl": true, "reference": true, "system": true, "url": true}

// validators reuses jsontext decoders across calls.
var validators = sync.Pool{New: func() any { return new(jsontext.Decoder) }}

// validate is the one validating pass over JSON the decoder accepts: exactly
// one JSON value; no duplicate object member names at any depth (RFC 7493
// §2.3 — gjson reads the first of two, jsonformat may read the last); no
// member name starting with an upper-case letter (jsonformat would read
// "Code" as code, the peek would not); valid UTF-8, lone surrogate escapes
// included (RFC 7493 §2.1); and no whitespace or control character in a uri
// (FHIR's uri regex is \S*). The error's Path
// is relative (".entry[2].fullUrl", "" for the whole value): the caller
// prefixes its root.
func validate(data []byte) *DecodeError {
	dec := validators.Get().(*jsontext.Decoder)
	defer validators.Put(dec)
	dec.Reset(bytes.NewBuffer(data))      // a *bytes.Buffer is read in place, not copied
	defer dec.Reset(bytes.NewBuffer(nil)) // drop the reference to data before pooling
	uriName := false                      // the member whose value comes next is a uri
	for started := false; ; started = true {
		if started && dec.StackDepth() == 0 {
			switch _, err := dec.ReadToken(); {
			case err == io.EOF:
				return nil
			case err != nil:
				return syntaxError(dec, data, err)
			default:
				return &DecodeError{Err: errors.New("invalid JSON: more than one value")}
			}
		}
		switch dec.PeekKind() {
		case '"':
			v, err := dec.ReadValue()
			if err != nil {
				return syntaxError(dec, data, err)
			}
			if k, n := dec.StackIndex(dec.StackDepth()); k == '{' && n%2 == 1 {
				var upper bool
				if uriName, upper = checkName(v); upper {
					return &DecodeError{Path: fhirPath(dec, dec.StackPointer().Parent()), Err: fmt.Errorf("key %s is not a FHIR element name (they start with a lower-case letter)", quoteName(dec.StackPointer().LastToken()))}
				}
				continue
			}
			if uriName {
				if p := uriProblem(v); p != "" {
					return &DecodeError{Path: fhirPath(dec, dec.StackPointer()), Err: fmt.Errorf("invalid URI (%s)", p)}
				}
			}
		case '{', '[', '}', ']':
			if _, err := dec.ReadToken(); err != nil {
				return syntaxError(dec, data, err)
			}
		case 'n':
			if err := dec.SkipValue(); err != nil {
				return syntaxError(dec, data, err)
			}
		default: // numbers, true, false, and what is not JSON
			if err := dec.SkipValue(); err != nil {
				return syntaxError(dec, data, err)
			}
			if uriName {
				return &DecodeError{Path: fhirPath(dec, dec.StackPointer()), Err: errors.New("invalid URI (not a string)")}
			}
		}
		uriName = false
	}
}

// checkName reports whether a quoted member name is one of uriNames, and
// whether it starts (after a primitive's "_") with an upper-case letter.
// FHIR element names never do, but jsonformat lower-cases the first letter
// ("Code" is read as code), while the peek reads names as they are: such a
// name would make the two read different resources.
func checkName(quoted []byte) (uri, upper bool) {
	s := quoted[1 : len(quoted)-1]
	if bytes.IndexByte(s, '\\') >= 0 {
		u, err := jsontext.AppendUnquote(nil, quoted)
		if err != nil {
			return false, false
		}
		s = u
	}
	first := s
	if len(first) > 0 && first[0] == '_' {
		first = first[1:]
	}
	if len(first) > 0 {
		r, _ := utf8.DecodeRune(first)
		upper = unicode.IsUpper(r)
	}
	return uriNames[string(s)], upper // no allocation: the map index reads string(s) in place
}

// uriProblem says what makes a quoted JSON string an invalid FHIR uri ("" if nothing).
func uriProblem(quoted []byte) string {
	s := quoted[1 : len(quoted)-1]
	if len(s) == 0 {
		return "empty" // FHIR JSON: a primitive's value is never ""
	}
	slow := false
	for _, b := range s {
		switch {
		case b == ' ':
			return "contains a space"
		case b == '\\' || b >= utf8.RuneSelf:
			slow = true
		}
	}
	if !slow {
		return "" // raw control characters are already invalid JSON
	}
	u, err := jsontext.AppendUnquote(nil, quoted)
	if err != nil {
		return "not a valid string"
	}
	for _, r := range string(u) {
		switch {
		case r == ' ':
			return "contains a space"
		case unicode.IsSpace(r):
			return "contains whitespace"
		case unicode.IsControl(r):
			return "contains a control character"
		}
	}
	return ""
}

// syntaxError turns a jsontext error into a DecodeError naming the FHIR path.
func syntaxError(dec *jsontext.Decoder, data []byte, err error) *DecodeError {
	var se *jsontext.SyntacticError
	switch {
	case err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF):
		return &DecodeError{Err: errors.New("invalid JSON: unexpected end of input")}
	case !errors.As(err, &se):
		return &DecodeError{Err: fmt.Errorf("invalid JSON: %v", err)}
	case errors.Is(se.Err, jsontext.ErrDuplicateName):
		return &DecodeError{Path: fhirPath(dec, se.JSONPointer.Parent()), Err: fmt.Errorf("duplicate key %s", quoteName(se.JSONPointer.LastToken()))}
	case strings.Contains(se.Err.Error(), "invalid UTF-8"): // jsonwire.ErrInvalidUTF8 is not exported
		return &DecodeError{Path: fhirPath(dec, se.JSONPointer), Err: errors.New("invalid UTF-8")}
	case strings.Contains(se.Err.Error(), "escape sequence"), strings.Contains(se.Err.Error(), "surrogate"):
		// The escape is part of a value: name the place, not the text.
		return &DecodeError{Path: fhirPath(dec, se.JSONPointer), Err: errors.New("invalid escape sequence in a string")}
	}
	l, c := LineCol(data, se.ByteOffset)
	return &DecodeError{Path: fhirPath(dec, se.JSONPointer), Err: fmt.Errorf("invalid JSON at line %d, column %d: %v", l, c, se.Err)}
}

// fhirPath writes a JSON pointer as a relative FHIR path: /entry/3/resource/code
// → .entry[3].resource.code. The decoder's stack says which levels are arrays.
func fhirPath(dec *jsontext.Decoder, p jsontext.Pointer) string {
	var b strings.Builder
	level := 0
	for tok := range p.Tokens() {
		level++
		if level <= dec.StackDepth() {
			if k, _ := dec.StackIndex(level); k == '[' {
				b.WriteString("[" + tok + "]")
				continue
			}
		}
		b.WriteString("." + safeName(tok))
	}
	return b.String()
}

// safeName prints a member name or resource type as it is when it looks like
// a FHIR name, else quoted and cut short: an error line stays one line and
// cannot smuggle a value.
func safeName(s string) string {
	for _, r := range s {
		if !(r == '_' || r == '-' || r == '.' || r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r))) {
			if len(s) > 40 {
				s = s[:40] + "…"
			}
			return strconv.QuoteToASCII(s)
		}
	}
	if len(s) > 64 {
		return strconv.QuoteToASCII(s[:64] + "…")
	}
	return s
}

// quoteName is safeName, always in quotes.
func quoteName(s string) string {
	if q := safeName(s); strings.HasPrefix(q, `"`) {
		return q
	}
	return `"` + s + `"`
}

// LineCol is the 1-based line and column of byte offset off in data (an
// offset past the end counts as the end): where a JSON error is, without
// quoting what is there.
func LineCol(data []byte, off int64) (line, col int) {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	line, col = 1, 1
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

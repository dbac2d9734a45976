package fhir

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// Sentinel errors matched by [*Error] through errors.Is, so callers can write
// errors.Is(err, fhir.ErrNotFound) without caring how deep the *Error is
// wrapped.
var (
	ErrNotFound           = errors.New("fhir: not found")           // 404 or 410 Gone
	ErrUnauthorized       = errors.New("fhir: unauthorized")        // 401
	ErrForbidden          = errors.New("fhir: forbidden")           // 403
	ErrConflict           = errors.New("fhir: conflict")            // 409 (version conflict)
	ErrPreconditionFailed = errors.New("fhir: precondition failed") // 412 (conditional matched several)
)

// Error is a non-2xx answer from the FHIR server, either for a whole HTTP
// exchange or for one entry of a batch (then Path is the entry's
// request.url).
//
// Error() renders one line:
//
//	GET Observation?patient=p1: 400 Bad Request: HAPI-1234: Unknown code (Observation.code)
//
// Path is relative to the client's base URL ("[base]" when empty); it may
// hold search parameters, so do not log the message where identifiers must
// not appear — log Status and Method instead.
type Error struct {
	Method string // HTTP method, or the batch entry's request.method
	Path   string // request target relative to the base URL, e.g. "Patient/p1"
	Status int    // HTTP status code
	// Outcome is the OperationOutcome the server sent with the error, or nil
	// when the body was not an OperationOutcome.
	Outcome *Outcome
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Method)
	b.WriteByte(' ')
	b.WriteString(displayPath(e.Path))
	b.WriteString(": ")
	b.WriteString(strconv.Itoa(e.Status))
	if t := http.StatusText(e.Status); t != "" {
		b.WriteByte(' ')
		b.WriteString(t)
	}
	if s := e.Outcome.Summary(); s != "" {
		b.WriteString(": ")
		b.WriteString(s)
	}
	return b.String()
}

// Is reports whether the status matches one of the sentinel errors.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.Status == http.StatusNotFound || e.Status == http.StatusGone
	case ErrUnauthorized:
		return e.Status == http.StatusUnauthorized
	case ErrForbidden:
		return e.Status == http.StatusForbidden
	case ErrConflict:
		return e.Status == http.StatusConflict
	case ErrPreconditionFailed:
		return e.Status == http.StatusPreconditionFailed
	}
	return false
}

// IsNotFound reports whether err is (or wraps) a 404 or 410 [*Error].
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// IsUnauthorized reports whether err is (or wraps) a 401 [*Error]. The
// client never retries a 401: an auth transport given through WithHTTPClient
// has already re-authenticated once.
func IsUnauthorized(err error) bool { return errors.Is(err, ErrUnauthorized) }

// IsPreconditionFailed reports whether err is (or wraps) a 412 [*Error], as
// returned by a conditional create whose If-None-Exist matched several
// resources.
func IsPreconditionFailed(err error) bool { return errors.Is(err, ErrPreconditionFailed) }

// displayPath renders a base-relative target; FHIR writes the base as [base].
func displayPath(p string) string {
	switch {
	case p == "":
		return "[base]"
	case strings.HasPrefix(p, "?"):
		return "[base]" + p
	}
	return p
}

// Outcome is the part of a FHIR OperationOutcome a client acts on.
type Outcome struct {
	Issues []Issue
}

// Issue is one OperationOutcome.issue. Severity and Code come from fixed
// FHIR value sets and are safe to log; Diagnostics and Details are free text
// written by the server and may quote submitted data (PHI), so only put them
// in errors, never in logs.
type Issue struct {
	Severity    string   // fatal | error | warning | information
	Code        string   // IssueType, e.g. "processing", "not-found"
	Details     string   // details.text
	Diagnostics string   // e.g. "HAPI-2001: Resource Patient/x is not known"
	Expression  []string // FHIRPath of the offending element
	Location    []string // deprecated XPath form, used when Expression is empty
}

// String renders the issue on one line: diagnostics (or details, or code)
// followed by the expression in parentheses.
func (i Issue) String() string {
	msg := i.Diagnostics
	if msg == "" {
		msg = i.Details
	}
	if msg == "" {
		msg = i.Code
	}
	msg = strings.Join(strings.Fields(msg), " ") // one line
	where := i.Expression
	if len(where) == 0 {
		where = i.Location
	}
	if len(where) > 0 {
		msg += " (" + strings.Join(where, ", ") + ")"
	}
	return msg
}

type outcomeJSON struct {
	ResourceType string `json:"resourceType"`
	Issue        []struct {
		Severity string `json:"severity"`
		Code     string `json:"code"`
		Details  *struct {
			Text string `json:"text"`
		} `json:"details"`
		Diagnostics string   `json:"diagnostics"`
		Expression  []string `json:"expression"`
		Location    []string `json:"location"`
	} `json:"issue"`
}

// ParseOutcome parses an OperationOutcome resource. It fails when data is
// not JSON or not an OperationOutcome.
func ParseOutcome(data []byte) (*Outcome, error) {
	var oj outcomeJSON
	if err := json.Unmarshal(data, &oj); err != nil {
		return nil, fmt.Errorf("fhir: parse OperationOutcome: %w", err)
	}
	if oj.ResourceType != "OperationOutcome" {
		return nil, fmt.Errorf("fhir: parse OperationOutcome: resourceType is %q", oj.ResourceType)
	}
	o := &Outcome{Issues: make([]Issue, 0, len(oj.Issue))}
	for _, is := range oj.Issue {
		i := Issue{
			Severity:    is.Severity,
			Code:        is.Code,
			Diagnostics: is.Diagnostics,
			Expression:  is.Expression,
			Location:    is.Location,
		}
		if is.Details != nil {
			i.Details = is.Details.Text
		}
		o.Issues = append(o.Issues, i)
	}
	return o, nil
}

// outcomeOrNil parses data as an OperationOutcome, returning nil for anything
// else (an HTML error page from a proxy, an empty body).
func outcomeOrNil(data []byte) *Outcome {
	if len(data) == 0 {
		return nil
	}
	o, err := ParseOutcome(data)
	if err != nil {
		return nil
	}
	return o
}

var severityRank = map[string]int{"fatal": 4, "error": 3, "warning": 2, "information": 1}

// Worst returns the most severe issue (the first of equals), or nil if there
// are none.
func (o *Outcome) Worst() *Issue {
	if o == nil {
		return nil
	}
	var w *Issue
	for i := range o.Issues {
		if w == nil || severityRank[o.Issues[i].Severity] > severityRank[w.Severity] {
			w = &o.Issues[i]
		}
	}
	return w
}

// Summary renders the most severe issue on one line, noting how many others
// there are; "" for a nil or empty Outcome.
func (o *Outcome) Summary() string {
	w := o.Worst()
	if w == nil {
		return ""
	}
	s := w.String()
	if n := len(o.Issues) - 1; n > 0 {
		s += fmt.Sprintf(" [+%d more issue(s)]", n)
	}
	return s
}

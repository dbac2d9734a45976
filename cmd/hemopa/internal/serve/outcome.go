package serve

import (
	"errors"
	"fmt"
	"net/http"

	"hemopa/cmd/hemopa/internal/davinci"
	"hemopa/cmd/hemopa/internal/serve/cdshooks"
)

// httpError is a failure answered with a status and an OperationOutcome.
// Msg goes to the client (who sent the data); Kind is a fixed word safe to
// log and count.
type httpError struct {
	Status int
	Code   string // OperationOutcome issue code: invalid, required, processing, not-found, too-costly …
	Kind   string // e.g. "bad-json", "no-prefetch"
	Msg    string
	Err    error
}

func (e *httpError) Error() string {
	if e.Err != nil {
		return e.Msg + ": " + e.Err.Error()
	}
	return e.Msg
}

func (e *httpError) Unwrap() error { return e.Err }

func badRequest(kind, format string, args ...any) *httpError {
	return &httpError{Status: http.StatusBadRequest, Code: "invalid", Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

func unprocessable(kind, format string, args ...any) *httpError {
	return &httpError{Status: http.StatusUnprocessableEntity, Code: "business-rule", Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

func preconditionFailed(kind, format string, args ...any) *httpError {
	return &httpError{Status: http.StatusPreconditionFailed, Code: "incomplete", Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

// asHTTPError turns any error into an httpError (500 for the unexpected).
func asHTTPError(err error) *httpError {
	var he *httpError
	if errors.As(err, &he) {
		return he
	}
	var ce *cdshooks.Error
	if errors.As(err, &ce) {
		return wireError(ce)
	}
	var mb *http.MaxBytesError
	if errors.As(err, &mb) {
		return &httpError{Status: http.StatusRequestEntityTooLarge, Code: "too-costly", Kind: "too-large",
			Msg: fmt.Sprintf("request body larger than %d bytes", mb.Limit)}
	}
	return &httpError{Status: http.StatusInternalServerError, Code: "exception", Kind: "internal", Msg: "internal error", Err: err}
}

// wireError is a refusal of the wire format or of crd: 400 (invalid) or 422
// (business-rule).
func wireError(ce *cdshooks.Error) *httpError {
	code := "invalid"
	if ce.Status == http.StatusUnprocessableEntity {
		code = "business-rule"
	}
	return &httpError{Status: ce.Status, Code: code, Kind: ce.Kind, Msg: ce.Msg}
}

// outcome renders an OperationOutcome with one error issue.
func outcome(code, diagnostics string) *davinci.Object {
	return davinci.O("resourceType", "OperationOutcome",
		"issue", davinci.A(davinci.O("severity", "error", "code", code, "diagnostics", diagnostics)))
}

// writeError answers with the error's status and an OperationOutcome. A 500
// never shows the underlying error to the client.
func writeError(w http.ResponseWriter, he *httpError) {
	w.Header().Set("Content-Type", "application/fhir+json")
	writeJSON(w, he.Status, outcome(he.Code, he.Msg))
}

// fhirBody marks a response as FHIR JSON (application/fhir+json).
type fhirBody struct{ v any }

// writeJSON writes a JSON body with a status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	if fb, ok := v.(fhirBody); ok {
		w.Header().Set("Content-Type", "application/fhir+json")
		v = fb.v
	}
	b, err := davinci.JSON(v, false)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"exception","diagnostics":"internal error"}]}`)
	}
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

package fhir

import (
	"errors"
	"fmt"
	"testing"
)

func TestParseOutcome(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []Issue
		wantErr bool
	}{
		{"full", `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"processing",
		  "details":{"text":"Unknown code"},"diagnostics":"HAPI-1234: x","expression":["Observation.code"],"location":["/f:Observation/f:code"]}]}`,
			[]Issue{{Severity: "error", Code: "processing", Details: "Unknown code", Diagnostics: "HAPI-1234: x",
				Expression: []string{"Observation.code"}, Location: []string{"/f:Observation/f:code"}}}, false},
		{"no issues", `{"resourceType":"OperationOutcome"}`, []Issue{}, false},
		{"other resource", `{"resourceType":"Patient"}`, nil, true},
		{"not JSON", `<html>502</html>`, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseOutcome([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v", err)
			}
			if err != nil {
				return
			}
			if fmt.Sprint(got.Issues) != fmt.Sprint(tt.want) {
				t.Errorf("issues = %+v\nwant %+v", got.Issues, tt.want)
			}
		})
	}
}

func TestErrorString(t *testing.T) {
	tests := []struct {
		name string
		err  *Error
		want string
	}{
		{"no outcome", &Error{Method: "GET", Path: "Patient/p1", Status: 404}, "GET Patient/p1: 404 Not Found"},
		{"base", &Error{Method: "POST", Status: 400}, "POST [base]: 400 Bad Request"},
		{"paging link", &Error{Method: "GET", Path: "?_getpages=x", Status: 410}, "GET [base]?_getpages=x: 410 Gone"},
		{"unknown status", &Error{Method: "GET", Path: "x", Status: 599}, "GET x: 599"},
		{"diagnostics and expression", &Error{Method: "GET", Path: "Observation?code=x", Status: 400, Outcome: &Outcome{Issues: []Issue{
			{Severity: "error", Code: "invalid", Diagnostics: "HAPI-1234: bad", Expression: []string{"Observation.code", "Observation.value"}}}}},
			"GET Observation?code=x: 400 Bad Request: HAPI-1234: bad (Observation.code, Observation.value)"},
		{"worst issue first, location fallback", &Error{Method: "PUT", Path: "Patient/p1", Status: 422, Outcome: &Outcome{Issues: []Issue{
			{Severity: "information", Diagnostics: "fyi"},
			{Severity: "fatal", Code: "structure", Location: []string{"Patient.name"}},
			{Severity: "error", Diagnostics: "later"}}}},
			"PUT Patient/p1: 422 Unprocessable Entity: structure (Patient.name) [+2 more issue(s)]"},
		{"details text", &Error{Method: "GET", Path: "x", Status: 400, Outcome: &Outcome{Issues: []Issue{{Severity: "error", Details: "multi\n  line"}}}},
			"GET x: 400 Bad Request: multi line"},
		{"empty outcome", &Error{Method: "GET", Path: "x", Status: 500, Outcome: &Outcome{}}, "GET x: 500 Internal Server Error"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("%s:\n got %q\nwant %q", tt.name, got, tt.want)
		}
	}
}

func TestErrorIs(t *testing.T) {
	sentinels := []error{ErrNotFound, ErrUnauthorized, ErrForbidden, ErrConflict, ErrPreconditionFailed}
	tests := []struct {
		status int
		want   error
	}{
		{404, ErrNotFound}, {410, ErrNotFound}, {401, ErrUnauthorized}, {403, ErrForbidden},
		{409, ErrConflict}, {412, ErrPreconditionFailed}, {400, nil}, {500, nil},
	}
	for _, tt := range tests {
		err := fmt.Errorf("fhir: read: %w", &Error{Method: "GET", Path: "Patient/p1", Status: tt.status})
		for _, s := range sentinels {
			if got := errors.Is(err, s); got != (s == tt.want) {
				t.Errorf("status %d: errors.Is(err, %v) = %v", tt.status, s, got)
			}
		}
		if IsNotFound(err) != (tt.want == ErrNotFound) || IsUnauthorized(err) != (tt.want == ErrUnauthorized) ||
			IsPreconditionFailed(err) != (tt.want == ErrPreconditionFailed) {
			t.Errorf("status %d: helpers disagree", tt.status)
		}
	}
	if IsNotFound(nil) || IsNotFound(errors.New("404")) {
		t.Error("IsNotFound matched a non-*Error")
	}
}

package pas

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
)

func TestHandler(t *testing.T) {
	s, _ := newTestService(t)
	srv := httptest.NewServer(http.StripPrefix("/fhir", s.Handler()))
	defer srv.Close()
	body := wrapPatient(t, filepath.Join(repoRoot(t), "testdata", "patients", "b-approve.json"), pasSpec{})
	post := func(path string, b []byte) (int, string, []byte) {
		resp, err := http.Post(srv.URL+path, "application/fhir+json", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Type"), out
	}
	status, ctype, out := post("/fhir/Claim/$submit", body)
	if status != 200 || ctype != "application/fhir+json" {
		t.Fatalf("submit: %d %s %.200s", status, ctype, out)
	}
	parseResponse(t, out)
	if status, _, out := post("/fhir/Claim/$inquire", inquiryFor(t, body, "PAS-b-approve")); status != 200 {
		t.Errorf("inquire: %d %.200s", status, out)
	}
	if status, _, out := post("/fhir/Claim/$submit", []byte("{")); status != 400 || !strings.Contains(string(out), "OperationOutcome") {
		t.Errorf("malformed: %d %.200s", status, out)
	}
	if status, _, out := post("/fhir/Claim/$submit", bytes.Repeat([]byte(" "), MaxBodyBytes+1)); status != 413 || !strings.Contains(string(out), "OperationOutcome") {
		t.Errorf("too large: %d %.200s", status, out)
	}
	resp, err := http.Get(srv.URL + "/fhir/Claim/$submit")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d", resp.StatusCode)
	}
}

package pas

import (
	"context"
	"encoding/json"
	"hemopa/cmd/hemopa/internal/testenv"
	"os"
	"path/filepath"
	"testing"
)

// FuzzSubmit feeds arbitrary bodies to Submit (then Inquire): no panic, and
// only 200 (a PAS response bundle, ClaimResponse first) or 4xx (an
// OperationOutcome). Seeds: the Inferno request, our PAS bundles, and the
// shapes the rejection tests use. Run with a short minimisation time, the
// seeds being large: go test ./cmd/hemopa/internal/pas -run '^$' -fuzz
// FuzzSubmit -fuzztime 60s -fuzzminimizetime 3s
func FuzzSubmit(f *testing.F) {
	// The Inferno request seeds the corpus when ../shared is there; the
	// fuzz test itself needs only the repository's own bundles.
	if b, ok := testenv.OptionalShared(f, "fixtures", "inferno-pas", "conformant_pas_bundle_v110.json"); ok {
		f.Add(b)
	}
	pasFiles, _ := filepath.Glob(filepath.Join(repoRoot(f), "testdata", "pas", "*.json"))
	for _, file := range pasFiles {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(compactOrSame(b))
	}
	for _, s := range []string{
		``, `{`, `[]`, `null`, `{"resourceType":"Bundle"}`, `{"resourceType":"Bundle","type":"collection","entry":[{}]}`,
		`{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Claim","use":"preauthorization","identifier":[{"value":"x"}],"patient":{"reference":"#p"},"item":[{"sequence":1}]}}]}`,
		`{"resourceType":"Parameters","parameter":[{"name":"resource","resource":{"resourceType":"Bundle","type":"collection","entry":[]}}]}`,
	} {
		f.Add([]byte(s))
	}
	s, err := NewService(WithStore(NewMemStore()), WithClock(fixedClock))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		status, resp := s.Submit(context.Background(), body)
		check(t, "submit", status, resp)
		status, resp = s.Inquire(context.Background(), body)
		if status != 404 {
			check(t, "inquire", status, resp)
		}
	})
}

func check(t *testing.T, op string, status int, resp []byte) {
	t.Helper()
	var head struct {
		ResourceType string `json:"resourceType"`
		Entry        []struct {
			Resource struct {
				ResourceType string `json:"resourceType"`
				Outcome      string `json:"outcome"`
			} `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(resp, &head); err != nil {
		t.Fatalf("%s: %d with a body that is not JSON: %v", op, status, err)
	}
	switch {
	case status == 200 && head.ResourceType == "Parameters":
	case status == 200:
		if head.ResourceType != "Bundle" || len(head.Entry) == 0 || head.Entry[0].Resource.ResourceType != "ClaimResponse" {
			t.Fatalf("%s: 200 without a ClaimResponse first: %.300s", op, resp)
		}
		switch head.Entry[0].Resource.Outcome {
		case "complete", "partial", "error":
		default:
			t.Fatalf("%s: outcome %q", op, head.Entry[0].Resource.Outcome)
		}
	case status >= 400 && status < 500:
		if head.ResourceType != "OperationOutcome" {
			t.Fatalf("%s: %d without an OperationOutcome: %.300s", op, status, resp)
		}
	default:
		t.Fatalf("%s: status %d: %.300s", op, status, resp)
	}
}

func compactOrSame(b []byte) []byte {
	var v any
	if json.Unmarshal(b, &v) != nil {
		return b
	}
	out, _ := json.Marshal(v)
	return out
}

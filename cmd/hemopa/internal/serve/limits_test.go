package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestBodyLimitAndRecovery: an oversized body is a 413, malformed JSON a
// 400, and the server answers normally afterwards.
func TestBodyLimitAndRecovery(t *testing.T) {
	ts := newTestServer(t, serverOpts{bodyLimit: 64 << 10})
	good := hookRequest(t, "b-approve", hookOrderSign, "ucare") // ~34 KB
	huge := append([]byte(`{"hook":"order-sign","pad":"`), bytes.Repeat([]byte("x"), 1<<20)...)
	huge = append(huge, `"}`...)
	steps := []struct {
		name   string
		body   []byte
		chunk  bool // no Content-Length: the limit trips while reading
		status int
	}{
		{"good", good, false, 200},
		{"oversized", huge, false, 413},
		{"good after 413", good, false, 200},
		{"oversized, chunked", huge, true, 413},
		{"good after chunked 413", good, false, 200},
		{"malformed", []byte(`{"hook":"order-sign","context":{`), false, 400},
		{"good after 400", good, false, 200},
	}
	for _, st := range steps {
		path := "/cds-services/hemopa-order-sign"
		var body = bytes.NewReader(st.body)
		req, _ := http.NewRequest("POST", ts.URL+path, body)
		if st.chunk {
			req, _ = http.NewRequest("POST", ts.URL+path, struct{ *bytes.Reader }{body}) // hides the length
			req.ContentLength = -1
		}
		req.Header.Set("Authorization", "Bearer "+ts.sign(t, path, token{}))
		resp, err := ts.client.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		var oo struct{ ResourceType string }
		_ = json.NewDecoder(resp.Body).Decode(&oo)
		resp.Body.Close()
		if resp.StatusCode != st.status {
			t.Fatalf("%s: status %d, want %d", st.name, resp.StatusCode, st.status)
		}
		if st.status >= 400 && oo.ResourceType != "OperationOutcome" {
			t.Errorf("%s: body is not an OperationOutcome", st.name)
		}
	}
}

func TestRateLimit(t *testing.T) {
	ts := newTestServer(t, serverOpts{rate: 1, burst: 2, discoveryAuth: true}) // buckets per issuer
	var got []int
	for range 3 {
		status, _, hdr := ts.do(t, "GET", "/cds-services", nil, "")
		got = append(got, status)
		if status == http.StatusTooManyRequests && hdr.Get("Retry-After") == "" {
			t.Error("429 without Retry-After")
		}
	}
	if got[0] != 200 || got[1] != 200 || got[2] != 429 {
		t.Errorf("statuses %v, want 200 200 429", got)
	}
	// Another issuer has its own bucket.
	status, _, _ := ts.do(t, "GET", "/cds-services", nil, ts.sign(t, "/cds-services", token{alg: "ES384"}))
	if status != http.StatusOK {
		t.Errorf("another issuer: %d", status)
	}
}

func TestOperationalEndpoints(t *testing.T) {
	ts := newTestServer(t, serverOpts{})
	ts.do(t, "POST", "/cds-services/hemopa-order-sign", hookRequest(t, "b-approve", hookOrderSign, "ucare"), "")
	status, body, _ := ts.do(t, "GET", "/metrics", nil, "-")
	if status != 200 {
		t.Fatalf("metrics: %d", status)
	}
	for _, want := range []string{
		`hemopa_http_requests_total{code="200",decision="approve",route="POST /cds-services/{id}"} 1`,
		`hemopa_http_request_duration_seconds_bucket{decision="approve",route="POST /cds-services/{id}"`,
		`hemopa_decisions_total{decision="approve",hook="order-sign",policy="ucare-hemgenix"} 1`,
		`hemopa_fhir_authorization_total{use="not-used"} 1`,
		"process_resident_memory_bytes",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(string(body), "pat-b-approve") {
		t.Error("a patient id in the metrics")
	}
	status, body, _ = ts.do(t, "GET", "/.well-known/jwks.json", nil, "-")
	var set struct{ Keys []map[string]string }
	if status != 200 || json.Unmarshal(body, &set) != nil || len(set.Keys) != 1 || set.Keys[0]["kid"] != "hemopa-1" || set.Keys[0]["d"] != "" {
		t.Errorf("jwks: %d %s", status, body)
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		if status, body, _ := ts.do(t, "GET", p, nil, "-"); status != 200 {
			t.Errorf("%s: %d %s", p, status, body)
		}
	}
	if status, _, _ := ts.do(t, "GET", "/nowhere", nil, "-"); status != 404 {
		t.Errorf("unknown path: %d", status)
	}
	// Logs: one JSON line per request, with a request id and no PHI.
	logs := ts.logs.String()
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %s", line)
		}
		if m["msg"] == "request" && m["request_id"] == nil {
			t.Errorf("request log without request_id: %s", line)
		}
	}
	for _, phi := range []string{"pat-b-approve", "Okafor", "1989-03-14", "MRN-"} {
		if strings.Contains(logs, phi) {
			t.Errorf("logs hold %q", phi)
		}
	}
}

func TestPrivateJWKSRefused(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "jwks.json")
	if err := os.WriteFile(p, []byte(`{"keys":[{"kty":"EC","crv":"P-384","x":"a","y":"b","d":"secret"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadPublicJWKS(p); err == nil || !strings.Contains(err.Error(), "private") {
		t.Errorf("private JWKS: %v", err)
	}
}

func TestPAS(t *testing.T) {
	ts := newTestServer(t, serverOpts{})
	if status, body, _ := ts.do(t, "POST", "/fhir/Claim/$submit", []byte(`{}`), ""); status != http.StatusNotImplemented {
		t.Errorf("no PAS service: %d %s", status, body)
	}
	fake := &fakePAS{status: 200, resp: []byte(`{"resourceType":"Bundle","type":"collection"}`)}
	ts = newTestServer(t, serverOpts{pas: fake})
	status, body, hdr := ts.do(t, "POST", "/fhir/Claim/$submit", []byte(`{"resourceType":"Bundle"}`), "")
	if status != 200 || !strings.Contains(string(body), `"collection"`) || hdr.Get("Content-Type") != "application/fhir+json" {
		t.Errorf("submit: %d %s %s", status, hdr.Get("Content-Type"), body)
	}
	fake.set(400, []byte(`{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"invalid"}]}`))
	if status, _, _ := ts.do(t, "POST", "/fhir/Claim/$inquire", []byte(`{}`), ""); status != 400 || fake.lastOp() != "inquire" {
		t.Errorf("inquire: %d via %s", status, fake.lastOp())
	}
}

type fakePAS struct {
	mu     sync.Mutex
	status int
	resp   []byte
	last   string
}

func (f *fakePAS) set(status int, resp []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.status, f.resp = status, resp
}

func (f *fakePAS) lastOp() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.last
}

func (f *fakePAS) answer(op string) (int, []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.last = op
	return f.status, f.resp
}

func (f *fakePAS) Submit(_ context.Context, _ []byte) (int, []byte)  { return f.answer("submit") }
func (f *fakePAS) Inquire(_ context.Context, _ []byte) (int, []byte) { return f.answer("inquire") }

// TestGracefulShutdown: Serve returns nil once ctx ends, after the request
// in flight is answered.
func TestGracefulShutdown(t *testing.T) {
	ts := newTestServer(t, serverOpts{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ts.Serve(ctx, ln) }()
	url := "http://" + ln.Addr().String() + "/healthz"
	for range 50 {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
}

package fhir

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// newTestClient starts srv's handler under /fhir and returns a client with
// millisecond retry waits.
func newTestClient(t *testing.T, h http.HandlerFunc, opts ...ClientOption) (*Client, *httptest.Server) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	opts = append([]ClientOption{WithRetryWait(time.Millisecond, 5*time.Millisecond)}, opts...)
	c, err := NewClient(srv.URL+"/fhir", opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c, srv
}

// statusSequence answers the i-th request with statuses[i] (the last one
// repeats); 2xx answers carry body, others an OperationOutcome.
type statusSequence struct {
	statuses []int
	header   http.Header // added to every non-2xx answer
	body     string
	n        atomic.Int64
}

func (s *statusSequence) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	i := int(s.n.Add(1)) - 1
	st := s.statuses[min(i, len(s.statuses)-1)]
	w.Header().Set("Content-Type", MIMEType)
	if st >= 200 && st <= 299 {
		w.WriteHeader(st)
		io.WriteString(w, s.body)
		return
	}
	for k, v := range s.header {
		w.Header()[k] = v
	}
	w.WriteHeader(st)
	fmt.Fprintf(w, `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"processing","diagnostics":"HAPI-0%d: status %d"}]}`, st, st)
}

const patientJSON = `{"resourceType":"Patient","id":"p1"}`

func TestNewClientValidation(t *testing.T) {
	tests := []struct {
		name string
		base string
		opts []ClientOption
	}{
		{"relative", "fhir", nil},
		{"scheme", "ftp://h/fhir", nil},
		{"query", "http://h/fhir?x=1", nil},
		{"user", "http://u:p@h/fhir", nil},
		{"retry max", "http://h/fhir", []ClientOption{WithRetryMax(-1)}},
		{"wait range", "http://h/fhir", []ClientOption{WithRetryWait(2*time.Second, time.Second)}},
		{"timeout", "http://h/fhir", []ClientOption{WithTimeout(-time.Second)}},
		{"pages", "http://h/fhir", []ClientOption{WithMaxPages(0)}},
		{"body", "http://h/fhir", []ClientOption{WithMaxResponseBytes(0)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewClient(tt.base, tt.opts...); err == nil {
				t.Fatal("NewClient succeeded, want error")
			}
		})
	}
	c, err := NewClient("http://h:8080/fhir/")
	if err != nil {
		t.Fatal(err)
	}
	if got := c.BaseURL(); got != "http://h:8080/fhir" {
		t.Errorf("BaseURL = %q", got)
	}
}

func TestRetryPolicy(t *testing.T) {
	const retryMax = 3
	tests := []struct {
		name     string
		statuses []int
		attempts int
		wantErr  error // sentinel, or nil for success
		status   int   // *Error status when an error is expected
	}{
		{"ok", []int{200}, 1, nil, 0},
		{"503 then ok", []int{503, 200}, 2, nil, 0},
		{"5xx then ok", []int{500, 502, 504, 200}, 4, nil, 0},
		{"429 without Retry-After then ok", []int{429, 200}, 2, nil, 0},
		{"503 exhausted", []int{503}, retryMax + 1, nil, 503},
		{"429 exhausted", []int{429}, retryMax + 1, nil, 429},
		{"400 not retried", []int{400, 200}, 1, nil, 400},
		{"404 not retried", []int{404, 200}, 1, ErrNotFound, 404},
		{"410 is not found", []int{410, 200}, 1, ErrNotFound, 410},
		{"412 not retried", []int{412, 200}, 1, ErrPreconditionFailed, 412},
		{"401 not retried", []int{401, 200}, 1, ErrUnauthorized, 401},
		{"403 not retried", []int{403, 200}, 1, ErrForbidden, 403},
		{"501 not retried", []int{501, 200}, 1, nil, 501},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			seq := &statusSequence{statuses: tt.statuses, body: patientJSON}
			c, _ := newTestClient(t, seq.ServeHTTP, WithRetryMax(retryMax))
			got, err := c.Read(context.Background(), "Patient", "p1")
			if n := int(seq.n.Load()); n != tt.attempts {
				t.Errorf("server saw %d requests, want %d", n, tt.attempts)
			}
			if c.Attempts() != int64(tt.attempts) || c.RoundTrips() != 1 {
				t.Errorf("Attempts, RoundTrips = %d, %d; want %d, 1", c.Attempts(), c.RoundTrips(), tt.attempts)
			}
			if tt.status == 0 {
				if err != nil {
					t.Fatalf("Read: %v", err)
				}
				if string(got) != patientJSON {
					t.Errorf("body = %s", got)
				}
				return
			}
			var fe *Error
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v, want *Error", err)
			}
			if fe.Status != tt.status || fe.Method != "GET" || fe.Path != "Patient/p1" {
				t.Errorf("Error = %+v", fe)
			}
			if fe.Outcome == nil || !strings.HasPrefix(fe.Outcome.Issues[0].Diagnostics, "HAPI-0") {
				t.Errorf("Outcome = %+v, want the parsed OperationOutcome", fe.Outcome)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.wantErr)
			}
		})
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		retryAfter func() string
		minWait    time.Duration
	}{
		{"429 seconds", 429, func() string { return "1" }, time.Second},
		{"503 seconds", 503, func() string { return "1" }, time.Second},
		// HTTP dates have whole seconds: now+2s waits more than 1s.
		{"429 HTTP date", 429, func() string { return time.Now().Add(2 * time.Second).UTC().Format(http.TimeFormat) }, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var n atomic.Int64
			var first time.Time  // written by the first request, read by the second
			var gap atomic.Int64 // nanoseconds between the two requests
			c, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
				if n.Add(1) == 1 {
					first = time.Now()
					w.Header().Set("Retry-After", tt.retryAfter())
					w.WriteHeader(tt.status)
					return
				}
				gap.Store(int64(time.Since(first)))
				io.WriteString(w, patientJSON)
			})
			if _, err := c.Read(context.Background(), "Patient", "p1"); err != nil {
				t.Fatal(err)
			}
			if n.Load() != 2 {
				t.Fatalf("requests = %d, want 2", n.Load())
			}
			if g := time.Duration(gap.Load()); g < tt.minWait {
				t.Errorf("retried after %v, want ≥ %v (Retry-After)", g, tt.minWait)
			}
		})
	}
}

func TestConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	c, err := NewClient("http://"+addr+"/fhir", WithRetryMax(2), WithRetryWait(time.Millisecond, time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Search(context.Background(), "Observation?patient=p1")
	if err == nil {
		t.Fatal("Search succeeded against a closed port")
	}
	msg := err.Error()
	for _, want := range []string{"GET http://" + addr + "/fhir/Observation?patient=p1", "giving up after 3 attempt(s)", "refused"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not contain %q", msg, want)
		}
	}
	var fe *Error
	if errors.As(err, &fe) {
		t.Errorf("connection error is an *Error: %v", fe)
	}
	if c.Attempts() != 3 || c.RoundTrips() != 1 {
		t.Errorf("Attempts, RoundTrips = %d, %d; want 3, 1", c.Attempts(), c.RoundTrips())
	}
}

func TestOperationOutcomeInError(t *testing.T) {
	const oo = `{"resourceType":"OperationOutcome","issue":[
	  {"severity":"warning","code":"informational","diagnostics":"ignored"},
	  {"severity":"error","code":"invalid","diagnostics":"HAPI-1234: Unknown\ncode","expression":["Observation.code"]}]}`
	c, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", MIMEType)
		w.WriteHeader(400)
		io.WriteString(w, oo)
	})
	_, err := c.Search(context.Background(), "Observation?code=x")
	var fe *Error
	if !errors.As(err, &fe) {
		t.Fatalf("err = %v, want *Error", err)
	}
	want := "GET Observation?code=x: 400 Bad Request: HAPI-1234: Unknown code (Observation.code) [+1 more issue(s)]"
	if fe.Error() != want {
		t.Errorf("Error() = %q\nwant      %q", fe.Error(), want)
	}
	if err.Error() != "fhir: "+want {
		t.Errorf("err = %q", err)
	}
	if len(fe.Outcome.Issues) != 2 || fe.Outcome.Worst().Code != "invalid" {
		t.Errorf("Outcome = %+v", fe.Outcome)
	}
}

func TestHeaders(t *testing.T) {
	type seen struct {
		method, path, query                      string
		accept, contentType, cache, ifNoneExists string
		body                                     string
	}
	var mu sync.Mutex
	var got []seen
	c, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, seen{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("Accept"), r.Header.Get("Content-Type"),
			r.Header.Get("Cache-Control"), r.Header.Get("If-None-Exist"), string(b)})
		mu.Unlock()
		switch {
		case r.Method == "POST" && r.URL.Path == "/fhir":
			io.WriteString(w, `{"resourceType":"Bundle","type":"transaction-response"}`)
		case r.Method == "POST":
			w.WriteHeader(201)
		default:
			io.WriteString(w, `{"resourceType":"Bundle","type":"searchset"}`)
		}
	})
	ctx := context.Background()
	if _, err := c.Search(ctx, "Observation?patient=p1&code=http://loinc.org|3187-2"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Search(NoCache(ctx), "Observation?patient=p1"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Transaction(NoCache(ctx), []byte(`{"resourceType":"Bundle","type":"transaction"}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ConditionalCreate(ctx, "Patient", []byte(patientJSON), "identifier=http://sys|1"); err != nil {
		t.Fatal(err)
	}
	want := []seen{
		{"GET", "/fhir/Observation", "patient=p1&code=http://loinc.org%7C3187-2", MIMEType, "", "", "", ""},
		{"GET", "/fhir/Observation", "patient=p1", MIMEType, "", "no-cache", "", ""},
		{"POST", "/fhir", "", MIMEType, MIMEType, "", "", `{"resourceType":"Bundle","type":"transaction"}`},
		{"POST", "/fhir/Patient", "", MIMEType, MIMEType, "", "identifier=http://sys|1", patientJSON},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d requests, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("request %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
}

func TestTimeoutAcrossRetries(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
	}{
		{"keeps failing", (&statusSequence{statuses: []int{503}}).ServeHTTP},
		{"hangs", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }},
		{"long Retry-After", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "30")
			w.WriteHeader(429)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, _ := newTestClient(t, tt.handler, WithTimeout(300*time.Millisecond), WithRetryMax(1000),
				WithRetryWait(20*time.Millisecond, 20*time.Millisecond))
			start := time.Now()
			_, err := c.Read(context.Background(), "Patient", "p1")
			elapsed := time.Since(start)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("err = %v, want DeadlineExceeded", err)
			}
			if elapsed < 300*time.Millisecond || elapsed > 2*time.Second {
				t.Errorf("took %v, want about 300ms", elapsed)
			}
		})
	}
}

func TestTransactionRetries(t *testing.T) {
	tests := []struct {
		name     string
		statuses []int
		attempts int
		wantErr  bool
	}{
		{"503 not retried (may have been applied)", []int{503, 200}, 1, true},
		{"500 not retried", []int{500, 200}, 1, true},
		{"429 retried", []int{429, 200}, 2, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			seq := &statusSequence{statuses: tt.statuses, body: `{"resourceType":"Bundle","type":"transaction-response"}`}
			c, _ := newTestClient(t, seq.ServeHTTP)
			_, err := c.Transaction(context.Background(), []byte(`{"resourceType":"Bundle","type":"transaction"}`))
			if (err != nil) != tt.wantErr {
				t.Errorf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if n := int(seq.n.Load()); n != tt.attempts {
				t.Errorf("server saw %d requests, want %d", n, tt.attempts)
			}
		})
	}
}

func TestConditionalCreate(t *testing.T) {
	tests := []struct {
		name     string
		status   int
		location string
		want     CreateResult
		wantErr  error
	}{
		{"created", 201, "http://x/fhir/Patient/p9/_history/1", CreateResult{Status: 201, Location: "http://x/fhir/Patient/p9/_history/1", Created: true, Resource: json.RawMessage(patientJSON)}, nil},
		{"already there", 200, "", CreateResult{Status: 200, Created: false, Resource: json.RawMessage(patientJSON)}, nil},
		{"several matches", 412, "", CreateResult{}, ErrPreconditionFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var n atomic.Int64
			c, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
				n.Add(1)
				if r.Method != "POST" || r.URL.Path != "/fhir/Patient" || r.Header.Get("If-None-Exist") != "identifier=s|1" {
					t.Errorf("got %s %s If-None-Exist %q", r.Method, r.URL.Path, r.Header.Get("If-None-Exist"))
				}
				if tt.location != "" {
					w.Header().Set("Location", tt.location)
				}
				w.WriteHeader(tt.status)
				if tt.status < 300 {
					io.WriteString(w, patientJSON)
				} else {
					io.WriteString(w, `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"duplicate","diagnostics":"HAPI-0958: Failed to CREATE resource with match URL because this search matched 2 resources"}]}`)
				}
			})
			got, err := c.ConditionalCreate(context.Background(), "Patient", []byte(patientJSON), "identifier=s|1")
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || !IsPreconditionFailed(err) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), "POST Patient: 412 Precondition Failed: HAPI-0958") {
					t.Errorf("err = %v", err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if got.Status != tt.want.Status || got.Location != tt.want.Location || got.Created != tt.want.Created ||
				string(got.Resource) != string(tt.want.Resource) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
			if n.Load() != 1 {
				t.Errorf("requests = %d, want 1", n.Load())
			}
		})
	}
}

func TestConditionalCreateRetried(t *testing.T) {
	seq := &statusSequence{statuses: []int{503, 201}, body: patientJSON}
	c, _ := newTestClient(t, seq.ServeHTTP)
	got, err := c.ConditionalCreate(context.Background(), "Patient", []byte(patientJSON), "identifier=s|1")
	if err != nil || !got.Created || seq.n.Load() != 2 {
		t.Errorf("got %+v, %v after %d requests; want created after 2", got, err, seq.n.Load())
	}
}

func TestRoundTripCounter(t *testing.T) {
	seq := &statusSequence{statuses: []int{503, 200}, body: patientJSON}
	c, _ := newTestClient(t, seq.ServeHTTP)
	ctx, outer := Track(context.Background())

	// First read: 503 then 200 — 1 round trip, 2 attempts.
	ctx1, inner := Track(ctx)
	if _, err := c.Read(ctx1, "Patient", "p1"); err != nil {
		t.Fatal(err)
	}
	// 20 concurrent reads, each 1 round trip and 1 attempt.
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if _, err := c.Read(ctx, "Patient", "p1"); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	// A call without a Tally counts on the client only.
	if _, err := c.Read(context.Background(), "Patient", "p1"); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name                 string
		roundTrips, attempts int64
		wantRT, wantAttempts int64
	}{
		{"client", c.RoundTrips(), c.Attempts(), 22, 23},
		{"outer tally", outer.RoundTrips(), outer.Attempts(), 21, 22},
		{"inner tally", inner.RoundTrips(), inner.Attempts(), 1, 2},
		{"nil tally", (*Tally)(nil).RoundTrips(), (*Tally)(nil).Attempts(), 0, 0},
	}
	for _, tt := range tests {
		if tt.roundTrips != tt.wantRT || tt.attempts != tt.wantAttempts {
			t.Errorf("%s: round trips, attempts = %d, %d; want %d, %d", tt.name, tt.roundTrips, tt.attempts, tt.wantRT, tt.wantAttempts)
		}
	}
	if int64(seq.n.Load()) != c.Attempts() {
		t.Errorf("server saw %d requests, client counted %d attempts", seq.n.Load(), c.Attempts())
	}
}

func TestTruncatedBodyRetried(t *testing.T) {
	var n atomic.Int64
	c, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			// Promise more than is sent, then drop the connection.
			w.Header().Set("Content-Length", strconv.Itoa(len(patientJSON)+100))
			io.WriteString(w, patientJSON)
			w.(http.Flusher).Flush()
			conn, _, _ := http.NewResponseController(w).Hijack()
			conn.Close()
			return
		}
		io.WriteString(w, patientJSON)
	})
	got, err := c.Read(context.Background(), "Patient", "p1")
	if err != nil || string(got) != patientJSON {
		t.Fatalf("Read = %s, %v", got, err)
	}
	if n.Load() != 2 || c.RoundTrips() != 1 || c.Attempts() != 2 {
		t.Errorf("requests %d, round trips %d, attempts %d; want 2, 1, 2", n.Load(), c.RoundTrips(), c.Attempts())
	}
}

func TestBodyTooLarge(t *testing.T) {
	var n atomic.Int64
	c, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		io.WriteString(w, strings.Repeat(" ", 2000))
	}, WithMaxResponseBytes(1000))
	_, err := c.Read(context.Background(), "Patient", "p1")
	if !errors.Is(err, errBodyTooLarge) {
		t.Errorf("err = %v, want errBodyTooLarge", err)
	}
	if n.Load() != 1 {
		t.Errorf("requests = %d, want 1 (no retry)", n.Load())
	}
}

func TestCustomPolicies(t *testing.T) {
	seq := &statusSequence{statuses: []int{503, 401, 200}}
	var backoffCalls atomic.Int64
	c, _ := newTestClient(t, seq.ServeHTTP,
		// A policy that retries everything still cannot retry a 401.
		WithCheckRetry(func(ctx context.Context, resp *http.Response, err error) (bool, error) { return true, nil }),
		WithBackoff(func(min, max time.Duration, n int, resp *http.Response) time.Duration {
			backoffCalls.Add(1)
			return time.Millisecond
		}))
	_, err := c.Read(context.Background(), "Patient", "p1")
	if !IsUnauthorized(err) {
		t.Errorf("err = %v, want unauthorized", err)
	}
	if seq.n.Load() != 2 || backoffCalls.Load() != 1 {
		t.Errorf("requests %d, backoff calls %d; want 2, 1", seq.n.Load(), backoffCalls.Load())
	}
}

func TestInvalidArguments(t *testing.T) {
	c, err := NewClient("http://127.0.0.1:1/fhir")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tests := []struct {
		name string
		call func() error
	}{
		{"read bad type", func() error { _, err := c.Read(ctx, "patient", "p1"); return err }},
		{"read bad id", func() error { _, err := c.Read(ctx, "Patient", "../x"); return err }},
		{"read empty id", func() error { _, err := c.Read(ctx, "Patient", ""); return err }},
		{"search absolute", func() error { _, err := c.Search(ctx, "http://evil/Patient"); return err }},
		{"search dot segment", func() error { _, err := c.Search(ctx, "Patient/../../admin"); return err }},
		{"everything bad id", func() error { _, err := c.Everything(ctx, "p 1", nil); return err }},
		{"create no condition", func() error { _, err := c.ConditionalCreate(ctx, "Patient", []byte("{}"), " "); return err }},
		{"create no body", func() error { _, err := c.ConditionalCreate(ctx, "Patient", nil, "identifier=a|b"); return err }},
		{"empty transaction", func() error { _, err := c.Transaction(ctx, nil); return err }},
		{"batch absolute", func() error { _, err := c.Batch(ctx, []string{"Patient/p1", "https://x/Patient"}); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); err == nil {
				t.Error("no error")
			}
		})
	}
	if c.Attempts() != 0 {
		t.Errorf("invalid calls made %d requests", c.Attempts())
	}
}

func TestResolve(t *testing.T) {
	c, err := NewClient("http://h/fhir")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		in, url, rel string
	}{
		{"Patient/p1", "http://h/fhir/Patient/p1", "Patient/p1"},
		{"/Patient/p1", "http://h/fhir/Patient/p1", "Patient/p1"},
		{"", "http://h/fhir", ""},
		{"metadata", "http://h/fhir/metadata", "metadata"},
		{"Observation?code=http://loinc.org|3187-2&x=a b", "http://h/fhir/Observation?code=http://loinc.org%7C3187-2&x=a%20b", "Observation?code=http://loinc.org%7C3187-2&x=a%20b"},
		{"Observation?code=a%7Cb,c", "http://h/fhir/Observation?code=a%7Cb,c", "Observation?code=a%7Cb,c"},
		{"Patient/p1/$everything?_count=5", "http://h/fhir/Patient/p1/$everything?_count=5", "Patient/p1/$everything?_count=5"},
	}
	for _, tt := range tests {
		u, rel, err := c.resolve(tt.in)
		if err != nil {
			t.Errorf("resolve(%q): %v", tt.in, err)
			continue
		}
		if u.String() != tt.url || rel != tt.rel {
			t.Errorf("resolve(%q) = %s, %q; want %s, %q", tt.in, u, rel, tt.url, tt.rel)
		}
	}
}

func TestRedactTarget(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Patient/p1", "Patient/p1"},
		{"", "[base]"},
		{"?_getpages=abc&_getpagesoffset=20&_count=20", "[base]?_getpages=abc&_getpagesoffset=20&_count=20"},
		{"Observation?patient=p1&code=http://loinc.org%7C3187-2&_count=1000", "Observation?patient=REDACTED&code=REDACTED&_count=1000"},
		{"Patient?identifier=http://hospital/mrn|12345&name:exact=Doe", "Patient?identifier=REDACTED&name:exact=REDACTED"},
		{"Patient/p1/$everything?_since=2024-01-01", "Patient/p1/$everything?_since=REDACTED"},
	}
	for _, tt := range tests {
		if got := redactTarget(tt.in); got != tt.want {
			t.Errorf("redactTarget(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestLogsCarryNoPHI(t *testing.T) {
	var buf bytes.Buffer
	var n atomic.Int64
	c, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		switch n.Add(1) {
		case 1:
			w.WriteHeader(503)
		case 2:
			w.Header().Set("Content-Type", MIMEType)
			io.WriteString(w, `{"resourceType":"Bundle","type":"searchset","entry":[
			  {"resource":{"resourceType":"Patient","id":"p1","name":[{"family":"SECRETNAME"}]}},
			  {"search":{"mode":"outcome"},"resource":{"resourceType":"OperationOutcome","issue":[{"severity":"warning","code":"processing","diagnostics":"SECRETDIAG"}]}}]}`)
		default:
			w.WriteHeader(400)
			io.WriteString(w, `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"invalid","diagnostics":"SECRETDIAG"}]}`)
		}
	}, WithLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	ctx := context.Background()
	if _, err := c.Search(ctx, "Patient?identifier=http://mrn|SECRETMRN&name=SECRETNAME"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ConditionalCreate(ctx, "Patient", []byte(`{"resourceType":"Patient","name":[{"family":"SECRETNAME"}]}`), "identifier=http://mrn|SECRETMRN"); err == nil {
		t.Fatal("want the 400")
	}
	logs := buf.String()
	if strings.Contains(logs, "SECRET") {
		t.Errorf("logs hold PHI:\n%s", logs)
	}
	for _, want := range []string{"fhir: retrying", "previous_status=503", "identifier=REDACTED", "fhir: search returned an issue", "severity=warning", "status=400"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
}

func TestHasPatientEverything(t *testing.T) {
	tests := []struct {
		name, cs string
		want     bool
		wantErr  bool
	}{
		{"by name", `{"resourceType":"CapabilityStatement","rest":[{"mode":"server","resource":[{"type":"Patient","operation":[{"name":"everything","definition":"http://h/fhir/OperationDefinition/Patient-i-everything"}]}]}]}`, true, false},
		{"by definition", `{"resourceType":"CapabilityStatement","rest":[{"mode":"server","resource":[{"type":"Patient","operation":[{"name":"all","definition":"http://hl7.org/fhir/OperationDefinition/Patient-everything"}]}]}]}`, true, false},
		{"other resource", `{"resourceType":"CapabilityStatement","rest":[{"mode":"server","resource":[{"type":"Encounter","operation":[{"name":"everything"}]}]}]}`, false, false},
		{"client mode", `{"resourceType":"CapabilityStatement","rest":[{"mode":"client","resource":[{"type":"Patient","operation":[{"name":"everything"}]}]}]}`, false, false},
		{"none", `{"resourceType":"CapabilityStatement","rest":[{"mode":"server","resource":[{"type":"Patient"}]}]}`, false, false},
		{"not a CapabilityStatement", `{"resourceType":"Patient"}`, false, true},
		{"not JSON", `<html>`, false, true},
	}
	for _, tt := range tests {
		got, err := HasPatientEverything([]byte(tt.cs))
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("%s: got %v, %v; want %v, err %v", tt.name, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestSupportsEverything(t *testing.T) {
	c, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/fhir/metadata" {
			t.Errorf("path %s", r.URL.Path)
		}
		io.WriteString(w, `{"resourceType":"CapabilityStatement","rest":[{"mode":"server","resource":[{"type":"Patient","operation":[{"name":"everything"}]}]}]}`)
	})
	ok, err := c.SupportsEverything(context.Background())
	if !ok || err != nil {
		t.Errorf("SupportsEverything = %v, %v", ok, err)
	}
}

type refusal struct{}

func (refusal) Error() string   { return "refused by the authorization server" }
func (refusal) Retryable() bool { return false }

type refusingTransport struct{ calls int }

func (r *refusingTransport) RoundTrip(*http.Request) (*http.Response, error) {
	r.calls++
	return nil, refusal{}
}

// TestFinalErrorsNotRetried: an error that says it is not retryable (a token
// refusal from the auth transport) ends the call at once.
func TestFinalErrorsNotRetried(t *testing.T) {
	rt := &refusingTransport{}
	c, err := NewClient("http://127.0.0.1:1/fhir", WithHTTPClient(&http.Client{Transport: rt}), WithRetryWait(time.Millisecond, time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Search(context.Background(), "Patient?_id=x")
	if err == nil || !strings.Contains(err.Error(), "refused by the authorization server") {
		t.Fatalf("error %v", err)
	}
	if rt.calls != 1 {
		t.Errorf("%d attempts, want 1", rt.calls)
	}
}

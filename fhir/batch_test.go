package fhir

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

type batchEntryReply struct {
	status   string
	resource string // JSON or ""
	outcome  string // JSON or ""
}

// batchServer answers POST [base] batches with the replies keyed by
// request.url, and serves GET [base]?_getpages=… from pages.
type batchServer struct {
	t       *testing.T
	replies map[string]batchEntryReply
	pages   map[string]string // _getpages value → searchset
	status  []int             // statuses of successive POSTs before the 200 (e.g. 503)
	posts   atomic.Int64
	gets    atomic.Int64
	lastReq atomic.Value // the last batch Bundle posted, as map
}

func (s *batchServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet {
		s.gets.Add(1)
		if b, ok := s.pages[r.URL.Query().Get("_getpages")]; ok && r.URL.Path == "/fhir" {
			io.WriteString(w, b)
			return
		}
		http.Error(w, "no such page", 404)
		return
	}
	n := s.posts.Add(1)
	if r.URL.Path != "/fhir" || r.Header.Get("Content-Type") != MIMEType {
		s.t.Errorf("POST %s Content-Type %q", r.URL.Path, r.Header.Get("Content-Type"))
	}
	if int(n) <= len(s.status) {
		w.WriteHeader(s.status[n-1])
		return
	}
	var req struct {
		ResourceType, Type string
		Entry              []struct {
			Request struct{ Method, URL string }
		}
	}
	body, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(body, &req); err != nil {
		s.t.Error(err)
	}
	s.lastReq.Store(req)
	if req.ResourceType != "Bundle" || req.Type != "batch" {
		s.t.Errorf("posted %s/%s, want Bundle/batch", req.ResourceType, req.Type)
	}
	var entries []string
	for _, e := range req.Entry {
		if e.Request.Method != "GET" {
			s.t.Errorf("entry method %q", e.Request.Method)
		}
		rep, ok := s.replies[e.Request.URL]
		if !ok {
			rep = batchEntryReply{status: "404 Not Found"}
		}
		resp := fmt.Sprintf(`{"status":%q`, rep.status)
		if rep.outcome != "" {
			resp += `,"outcome":` + rep.outcome
		}
		resp += "}"
		entry := `{"response":` + resp
		if rep.resource != "" {
			entry += `,"resource":` + rep.resource
		}
		entries = append(entries, entry+"}")
	}
	w.Header().Set("Content-Type", MIMEType)
	fmt.Fprintf(w, `{"resourceType":"Bundle","type":"batch-response","entry":[%s]}`, strings.Join(entries, ","))
}

const (
	qHb   = "Observation?patient=p1&code=http://loinc.org|718-7&_count=1000"
	qFIX  = "Observation?patient=p1&code=http://loinc.org|3187-2&_count=1000"
	qCond = "Condition?patient=p1&_count=1000"
)

func TestBatch(t *testing.T) {
	s := &batchServer{t: t, replies: map[string]batchEntryReply{
		qHb:   {status: "200 OK", resource: searchsetJSON("", "hb1", "hb2")},
		qFIX:  {status: "200 OK", resource: searchsetJSON("", "fix1")},
		qCond: {status: "200", resource: searchsetJSON("")},
	}}
	c, _ := newTestClient(t, s.ServeHTTP)
	ctx, tally := Track(context.Background())
	got, err := c.Batch(ctx, []string{qHb, qFIX, qCond})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || ids(t, got[0]) != "hb1,hb2" || ids(t, got[1]) != "fix1" || len(got[2]) != 0 {
		t.Errorf("got %d results: %q", len(got), got)
	}
	if c.RoundTrips() != 1 || tally.RoundTrips() != 1 || s.posts.Load() != 1 || s.gets.Load() != 0 {
		t.Errorf("round trips %d (tally %d), posts %d, gets %d; want 1, 1, 1, 0", c.RoundTrips(), tally.RoundTrips(), s.posts.Load(), s.gets.Load())
	}
}

func TestBatchEntryError(t *testing.T) {
	const oo = `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"not-found","diagnostics":"HAPI-2001: Resource Patient/gone is not known"}]}`
	tests := []struct {
		name      string
		reply     batchEntryReply
		wantMsg   string
		sentinel  error
		hasIssues bool
	}{
		{"404 with response.outcome", batchEntryReply{status: "404 Not Found", outcome: oo},
			"fhir: batch entry 1: GET Patient/gone: 404 Not Found: HAPI-2001: Resource Patient/gone is not known", ErrNotFound, true},
		{"404 with outcome as resource", batchEntryReply{status: "404 Not Found", resource: oo},
			"fhir: batch entry 1: GET Patient/gone: 404 Not Found: HAPI-2001: Resource Patient/gone is not known", ErrNotFound, true},
		{"403 bare", batchEntryReply{status: "403"},
			"fhir: batch entry 1: GET Patient/gone: 403 Forbidden", ErrForbidden, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &batchServer{t: t, replies: map[string]batchEntryReply{
				qHb:            {status: "200 OK", resource: searchsetJSON("", "hb1")},
				"Patient/gone": tt.reply,
			}}
			c, _ := newTestClient(t, s.ServeHTTP)
			got, err := c.Batch(context.Background(), []string{qHb, "Patient/gone"})
			if got != nil || err == nil || err.Error() != tt.wantMsg {
				t.Fatalf("got %v, err %v\nwant err %s", got, err, tt.wantMsg)
			}
			var fe *Error
			if !errors.As(err, &fe) || fe.Path != "Patient/gone" || fe.Method != "GET" || (fe.Outcome != nil) != tt.hasIssues {
				t.Errorf("*Error = %+v", fe)
			}
			if !errors.Is(err, tt.sentinel) {
				t.Errorf("errors.Is(err, %v) = false", tt.sentinel)
			}
		})
	}
}

func TestBatchInnerNextLink(t *testing.T) {
	var s *batchServer
	c, srv := newTestClient(t, func(w http.ResponseWriter, r *http.Request) { s.ServeHTTP(w, r) })
	next := func(id string) string { return srv.URL + "/fhir?_getpages=" + id + "&_getpagesoffset=2" }
	s = &batchServer{t: t,
		replies: map[string]batchEntryReply{
			qHb:  {status: "200 OK", resource: searchsetJSON(next("a"), "hb1", "hb2")},
			qFIX: {status: "200 OK", resource: searchsetJSON("", "fix1")},
		},
		pages: map[string]string{
			"a": searchsetJSON(next("b"), "hb3", "hb4"),
			"b": searchsetJSON("", "hb5"),
		},
	}
	got, err := c.Batch(context.Background(), []string{qHb, qFIX})
	if err != nil {
		t.Fatal(err)
	}
	if ids(t, got[0]) != "hb1,hb2,hb3,hb4,hb5" || ids(t, got[1]) != "fix1" {
		t.Errorf("got %q", got)
	}
	if c.RoundTrips() != 3 || s.posts.Load() != 1 || s.gets.Load() != 2 {
		t.Errorf("round trips %d, posts %d, gets %d; want 3, 1, 2", c.RoundTrips(), s.posts.Load(), s.gets.Load())
	}
}

func TestBatchInnerPageCap(t *testing.T) {
	var s *batchServer
	c, srv := newTestClient(t, func(w http.ResponseWriter, r *http.Request) { s.ServeHTTP(w, r) }, WithMaxPages(2))
	next := srv.URL + "/fhir?_getpages=a"
	s = &batchServer{t: t,
		replies: map[string]batchEntryReply{qHb: {status: "200 OK", resource: searchsetJSON(next, "hb1")}},
		pages:   map[string]string{"a": searchsetJSON(srv.URL+"/fhir?_getpages=b", "hb2")},
	}
	_, err := c.Batch(context.Background(), []string{qHb})
	if !errors.Is(err, ErrTooManyPages) || !strings.Contains(err.Error(), "batch entry 0 (GET "+qHb+")") {
		t.Errorf("err = %v", err)
	}
}

func TestBatchReadsAndRetry(t *testing.T) {
	s := &batchServer{t: t, status: []int{503},
		replies: map[string]batchEntryReply{
			"Patient/p1":   {status: "200 OK", resource: patientJSON},
			"Condition/c1": {status: "200 OK", resource: `{"resourceType":"Condition","id":"c1"}`},
		}}
	c, _ := newTestClient(t, s.ServeHTTP)
	got, err := c.Batch(context.Background(), []string{"Patient/p1", "/Condition/c1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || len(got[0]) != 1 || string(got[0][0]) != patientJSON || ids(t, got[1]) != "c1" {
		t.Errorf("got %q", got)
	}
	if s.posts.Load() != 2 || c.RoundTrips() != 1 || c.Attempts() != 2 {
		t.Errorf("posts %d, round trips %d, attempts %d; want 2, 1, 2", s.posts.Load(), c.RoundTrips(), c.Attempts())
	}
}

func TestBatchBadResponses(t *testing.T) {
	tests := []struct{ name, body string }{
		{"wrong type", `{"resourceType":"Bundle","type":"transaction-response","entry":[{"response":{"status":"200"}}]}`},
		{"entry count", `{"resourceType":"Bundle","type":"batch-response","entry":[]}`},
		{"no response", `{"resourceType":"Bundle","type":"batch-response","entry":[{}]}`},
		{"bad status", `{"resourceType":"Bundle","type":"batch-response","entry":[{"response":{"status":"OK"}}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, tt.body) })
			if _, err := c.Batch(context.Background(), []string{"Patient/p1"}); err == nil {
				t.Error("no error")
			}
		})
	}
}

func TestBatchEmpty(t *testing.T) {
	c, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request) { t.Error("request sent") })
	got, err := c.Batch(context.Background(), nil)
	if got != nil || err != nil || c.RoundTrips() != 0 {
		t.Errorf("Batch(nil) = %v, %v after %d round trips", got, err, c.RoundTrips())
	}
}

func TestParseStatusLine(t *testing.T) {
	tests := []struct {
		in   string
		want int
		ok   bool
	}{
		{"200 OK", 200, true}, {"201", 201, true}, {" 404 Not Found", 404, true},
		{"", 0, false}, {"OK", 0, false}, {"99", 0, false}, {"600 x", 0, false},
	}
	for _, tt := range tests {
		got, err := parseStatusLine(tt.in)
		if got != tt.want || (err == nil) != tt.ok {
			t.Errorf("parseStatusLine(%q) = %d, %v", tt.in, got, err)
		}
	}
}

// TestBatchNoCache: a batch of reads under NoCache asks the server not to
// answer from its search cache (HAPI's cached batch answers also carry a
// malformed header line).
func TestBatchNoCache(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Header.Get("Cache-Control"))
		w.Header().Set("Content-Type", MIMEType)
		io.WriteString(w, `{"resourceType":"Bundle","type":"batch-response","entry":[{"resource":{"resourceType":"Bundle","type":"searchset"},"response":{"status":"200 OK"}}]}`)
	}))
	defer srv.Close()
	c, err := NewClient(srv.URL + "/fhir")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Batch(context.Background(), []string{"Patient?_id=p"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Batch(NoCache(context.Background()), []string{"Patient?_id=p"}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != "" || got[1] != "no-cache" {
		t.Errorf("Cache-Control headers %q, want [\"\" \"no-cache\"]", got)
	}
}

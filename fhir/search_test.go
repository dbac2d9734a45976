package fhir

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// searchsetJSON renders a searchset Bundle of Observations with the given
// ids and an optional next link.
func searchsetJSON(next string, ids ...string) string {
	b := map[string]any{"resourceType": "Bundle", "type": "searchset"}
	if next != "" {
		b["link"] = []map[string]string{{"relation": "self", "url": "ignored"}, {"relation": "next", "url": next}}
	}
	var entries []map[string]any
	for _, id := range ids {
		entries = append(entries, map[string]any{
			"fullUrl":  "http://x/fhir/Observation/" + id,
			"resource": map[string]string{"resourceType": "Observation", "id": id},
			"search":   map[string]string{"mode": "match"},
		})
	}
	if entries != nil {
		b["entry"] = entries
	}
	out, _ := json.Marshal(b)
	return string(out)
}

// pager serves a search of `pages` pages of 2 Observations each the way HAPI
// does: page 1 at the search URL, later pages at
// [base]?_getpages=s1&_getpagesoffset=N, absolute links built from Host.
type pager struct {
	pages int
	n     atomic.Int64
	// nextBase overrides the scheme://host/path of next links.
	nextBase string
}

func (p *pager) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.n.Add(1)
	page := 1
	if r.URL.Path == "/fhir" {
		if r.URL.Query().Get("_getpages") != "s1" {
			http.Error(w, "unknown search", http.StatusGone)
			return
		}
		off, _ := strconv.Atoi(r.URL.Query().Get("_getpagesoffset"))
		page = off/2 + 1
	} else if r.URL.Path != "/fhir/Observation" && !strings.HasSuffix(r.URL.Path, "/$everything") {
		http.Error(w, "not found", 404)
		return
	}
	next := ""
	if page < p.pages {
		base := p.nextBase
		if base == "" {
			base = "http://" + r.Host + "/fhir"
		}
		next = fmt.Sprintf("%s?_getpages=s1&_getpagesoffset=%d&_count=2&_bundletype=searchset", base, page*2)
	}
	w.Header().Set("Content-Type", MIMEType)
	io.WriteString(w, searchsetJSON(next, fmt.Sprintf("o%d", 2*page-1), fmt.Sprintf("o%d", 2*page)))
}

func ids(t *testing.T, entries []json.RawMessage) string {
	t.Helper()
	var out []string
	for _, e := range entries {
		var r struct{ ResourceType, ID string }
		if err := json.Unmarshal(e, &r); err != nil {
			t.Fatal(err)
		}
		out = append(out, r.ID)
	}
	return strings.Join(out, ",")
}

func TestSearchPaging(t *testing.T) {
	tests := []struct {
		name     string
		pages    int
		maxPages int
		want     string
		wantErr  error
		requests int64
	}{
		{"one page", 1, 4, "o1,o2", nil, 1},
		{"four pages under a cap of 4", 4, 4, "o1,o2,o3,o4,o5,o6,o7,o8", nil, 4},
		{"four pages over a cap of 3", 4, 3, "", ErrTooManyPages, 3},
		{"cap of 1", 2, 1, "", ErrTooManyPages, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := &pager{pages: tt.pages}
			c, _ := newTestClient(t, p.ServeHTTP, WithMaxPages(tt.maxPages))
			ctx, tally := Track(context.Background())
			got, err := c.Search(ctx, "Observation?patient=p1&_count=2")
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || got != nil {
					t.Fatalf("got %d entries, err %v; want nil, %v", len(got), err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), "search Observation?patient=p1&_count=2") {
					t.Errorf("err %q does not name the search", err)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				if s := ids(t, got); s != tt.want {
					t.Errorf("ids = %s, want %s", s, tt.want)
				}
			}
			if p.n.Load() != tt.requests || c.RoundTrips() != tt.requests || tally.RoundTrips() != tt.requests {
				t.Errorf("server %d, client %d, tally %d round trips; want %d", p.n.Load(), c.RoundTrips(), tally.RoundTrips(), tt.requests)
			}
		})
	}
}

func TestSearchNextLinks(t *testing.T) {
	tests := []struct {
		name     string
		nextBase func(srvURL string) string
		wantErr  error
	}{
		{"absolute same server", func(s string) string { return s + "/fhir" }, nil},
		{"relative link", func(string) string { return "/fhir" }, nil},
		{"built from Host like HAPI", nil, nil},
		{"other host", func(string) string { return "http://evil.example/fhir" }, ErrForeignLink},
		{"other scheme", func(s string) string { return strings.Replace(s, "http:", "https:", 1) + "/fhir" }, ErrForeignLink},
		{"outside base path", func(s string) string { return s + "/other" }, ErrForeignLink},
		{"base path prefix only", func(s string) string { return s + "/fhirx" }, ErrForeignLink},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := &pager{pages: 2}
			c, srv := newTestClient(t, p.ServeHTTP)
			if tt.nextBase != nil {
				p.nextBase = tt.nextBase(srv.URL)
			}
			got, err := c.Search(context.Background(), "Observation?patient=p1")
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				if p.n.Load() != 1 {
					t.Errorf("requests = %d, want 1 (the foreign link is not fetched)", p.n.Load())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s := ids(t, got); s != "o1,o2,o3,o4" {
				t.Errorf("ids = %s", s)
			}
		})
	}
}

func TestNextURLDefaultPort(t *testing.T) {
	c, err := NewClient("https://ehr.example/fhir")
	if err != nil {
		t.Fatal(err)
	}
	from := c.base
	for link, ok := range map[string]bool{
		"https://EHR.example:443/fhir?_getpages=a": true,
		"https://ehr.example/fhir/x?_getpages=a":   true,
		"?_getpages=a":                             true,
		"https://ehr.example:8443/fhir?x":          false,
		"http://ehr.example/fhir?x":                false,
		"https://ehr.example/fhir/../admin":        false,
		"https://user@ehr.example/fhir":            false,
	} {
		_, err := c.nextURL(from, link)
		if (err == nil) != ok {
			t.Errorf("nextURL(%q) err = %v, want ok=%v", link, err, ok)
		}
	}
}

func TestSearchNextLinkLoop(t *testing.T) {
	c, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, searchsetJSON("http://"+r.Host+"/fhir?_getpages=same", "o1"))
	})
	_, err := c.Search(context.Background(), "Observation")
	if err == nil || !strings.Contains(err.Error(), "repeats") {
		t.Errorf("err = %v, want a loop error", err)
	}
	if c.RoundTrips() != 2 {
		t.Errorf("round trips = %d, want 2", c.RoundTrips())
	}
}

func TestSearchPageErrorNamesPage(t *testing.T) {
	var n atomic.Int64
	c, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			io.WriteString(w, searchsetJSON("http://"+r.Host+"/fhir?_getpages=s1&_getpagesoffset=2", "o1"))
			return
		}
		w.WriteHeader(410)
		io.WriteString(w, `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"not-found","diagnostics":"HAPI-0417: Search ID \"s1\" does not exist and may have expired"}]}`)
	})
	_, err := c.Search(context.Background(), "Observation?patient=p1")
	want := `fhir: search Observation?patient=p1: page 2: GET [base]?_getpages=s1&_getpagesoffset=2: 410 Gone: HAPI-0417: Search ID "s1" does not exist and may have expired`
	if err == nil || err.Error() != want {
		t.Errorf("err = %v\nwant  %s", err, want)
	}
	if !IsNotFound(err) {
		t.Errorf("IsNotFound(%v) = false", err)
	}
}

func TestSearchBadBundle(t *testing.T) {
	tests := []struct{ name, body string }{
		{"not JSON", "<html>"},
		{"not a Bundle", patientJSON},
		{"not a searchset", `{"resourceType":"Bundle","type":"collection"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, tt.body) })
			if _, err := c.Search(context.Background(), "Observation"); err == nil {
				t.Error("no error")
			}
		})
	}
}

func TestSearchOutcomeEntries(t *testing.T) {
	var buf bytes.Buffer
	c, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"resourceType":"Bundle","type":"searchset","entry":[
		  {"resource":{"resourceType":"Observation","id":"o1"},"search":{"mode":"match"}},
		  {"resource":{"resourceType":"Patient","id":"p1"},"search":{"mode":"include"}},
		  {"resource":{"resourceType":"OperationOutcome","issue":[{"severity":"warning","code":"too-costly","diagnostics":"x"}]},"search":{"mode":"outcome"}}]}`)
	}, WithLogger(slog.New(slog.NewTextHandler(&buf, nil))))
	got, err := c.Search(context.Background(), "Observation?_include=Observation:subject")
	if err != nil {
		t.Fatal(err)
	}
	if s := ids(t, got); s != "o1,p1" {
		t.Errorf("ids = %s, want o1,p1", s)
	}
	if !strings.Contains(buf.String(), "code=too-costly") {
		t.Errorf("outcome issue not logged: %s", buf.String())
	}
}

func TestEverything(t *testing.T) {
	var mu sync.Mutex
	var paths []string
	p := &pager{pages: 3}
	c, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.Path+"?"+r.URL.RawQuery)
		mu.Unlock()
		p.ServeHTTP(w, r)
	})
	got, err := c.Everything(context.Background(), "p1", map[string][]string{"_count": {"2"}, "_type": {"Observation,Condition"}})
	if err != nil {
		t.Fatal(err)
	}
	if s := ids(t, got); s != "o1,o2,o3,o4,o5,o6" {
		t.Errorf("ids = %s", s)
	}
	if len(paths) != 3 || paths[0] != "/fhir/Patient/p1/$everything?_count=2&_type=Observation%2CCondition" {
		t.Errorf("paths = %q", paths)
	}
}

func TestObservationCategories(t *testing.T) {
	for _, tc := range []struct {
		codes []string
		want  string
	}{
		{[]string{"laboratory"}, "http://terminology.hl7.org/CodeSystem/observation-category|laboratory"},
		{[]string{"imaging", "exam"}, "http://terminology.hl7.org/CodeSystem/observation-category|imaging,http://terminology.hl7.org/CodeSystem/observation-category|exam"},
		{nil, ""},
	} {
		if got := ObservationCategories(tc.codes...); got != tc.want {
			t.Errorf("ObservationCategories(%q) = %q, want %q", tc.codes, got, tc.want)
		}
	}
}

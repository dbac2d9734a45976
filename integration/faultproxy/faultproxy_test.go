package faultproxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"hemopa/fhir"
)

// upstream mimics HAPI paging: 3 pages of one Observation each, next links
// built from the Host header unless serverAddress is set.
type upstream struct {
	serverAddress string
	n             atomic.Int64
	mu            sync.Mutex
	hosts         []string // Host header of each request
	fwdHosts      []string // X-Forwarded-Host of each request
}

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.n.Add(1)
	u.mu.Lock()
	u.hosts = append(u.hosts, r.Host)
	u.fwdHosts = append(u.fwdHosts, r.Header.Get("X-Forwarded-Host"))
	u.mu.Unlock()
	page := 1
	switch r.URL.Path {
	case "/fhir/Observation":
	case "/fhir":
		page, _ = strconv.Atoi(r.URL.Query().Get("_getpagesoffset"))
		page++
	default:
		http.NotFound(w, r)
		return
	}
	base := u.serverAddress
	if base == "" {
		base = "http://" + r.Host + "/fhir"
	}
	link := ""
	if page < 3 {
		link = fmt.Sprintf(`"link":[{"relation":"next","url":"%s?_getpages=s1&_getpagesoffset=%d"}],`, base, page)
	}
	w.Header().Set("Content-Type", "application/fhir+json")
	fmt.Fprintf(w, `{"resourceType":"Bundle","type":"searchset",%s"entry":[{"resource":{"resourceType":"Observation","id":"o%d"}}]}`, link, page)
}

func start(t *testing.T, up *upstream) (*Proxy, *httptest.Server) {
	t.Helper()
	us := httptest.NewServer(up)
	t.Cleanup(us.Close)
	p, err := New(us.URL + "/fhir")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p, us
}

func TestNew(t *testing.T) {
	for _, bad := range []string{"", "localhost:8080", "ftp://h/fhir", "http://%zz"} {
		if _, err := New(bad); err == nil {
			t.Errorf("New(%q) succeeded", bad)
		}
	}
}

func TestFailNext(t *testing.T) {
	p, _ := start(t, &upstream{})
	p.FailNext(1, http.StatusTooManyRequests, 1500*time.Millisecond)
	p.FailNext(1, http.StatusServiceUnavailable, 0)
	p.FailNext(1, Drop, 0)
	if p.Pending() != 3 {
		t.Fatalf("Pending = %d", p.Pending())
	}
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	tests := []struct {
		status     int // 0: connection error
		retryAfter string
	}{
		{429, "2"},
		{503, ""},
		{0, ""},
		{200, ""},
		{200, ""},
	}
	for i, tt := range tests {
		resp, err := hc.Get(p.URL() + "/Observation?patient=p1")
		if tt.status == 0 {
			if err == nil {
				resp.Body.Close()
				t.Errorf("request %d: got %s, want a dropped connection", i, resp.Status)
			}
			continue
		}
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.status || resp.Header.Get("Retry-After") != tt.retryAfter {
			t.Errorf("request %d: %s Retry-After %q, want %d %q", i, resp.Status, resp.Header.Get("Retry-After"), tt.status, tt.retryAfter)
		}
		if tt.status != 200 {
			if _, err := fhir.ParseOutcome(body); err != nil {
				t.Errorf("request %d: injected body is not an OperationOutcome: %v", i, err)
			}
		}
	}
	if p.Requests() != 5 || p.Faulted() != 3 || p.Pending() != 0 {
		t.Errorf("Requests %d, Faulted %d, Pending %d; want 5, 3, 0", p.Requests(), p.Faulted(), p.Pending())
	}
}

func TestFailNextRejectsBadStatus(t *testing.T) {
	p, _ := start(t, &upstream{})
	defer func() {
		if recover() == nil {
			t.Error("FailNext(1, 0, 0) did not panic")
		}
	}()
	p.FailNext(1, 0, 0)
}

func TestHostPreserved(t *testing.T) {
	up := &upstream{}
	p, _ := start(t, up)
	c, err := fhir.NewClient(p.URL())
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Search(context.Background(), "Observation?patient=p1")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || p.Requests() != 3 || up.n.Load() != 3 {
		t.Errorf("%d resources, proxy saw %d, upstream %d; want 3 each (pages through the proxy)", len(got), p.Requests(), up.n.Load())
	}
	proxyHost := p.srv.Listener.Addr().String()
	up.mu.Lock()
	defer up.mu.Unlock()
	for i := range up.hosts {
		if up.hosts[i] != proxyHost || up.fwdHosts[i] != proxyHost {
			t.Errorf("request %d: Host %q, X-Forwarded-Host %q; want %q", i, up.hosts[i], up.fwdHosts[i], proxyHost)
		}
	}
}

func TestUpstreamWithFixedAddress(t *testing.T) {
	up := &upstream{}
	p, us := start(t, up)
	up.serverAddress = us.URL + "/fhir" // like hapi.fhir.server_address
	c, err := fhir.NewClient(p.URL())
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Search(context.Background(), "Observation?patient=p1")
	if !errors.Is(err, fhir.ErrForeignLink) {
		t.Errorf("err = %v, want ErrForeignLink", err)
	}
}

func TestClientThroughFaults(t *testing.T) {
	tests := []struct {
		name       string
		n, status  int
		retryAfter time.Duration
		minElapsed time.Duration
	}{
		{"two 503s", 2, http.StatusServiceUnavailable, 0, 0},
		{"429 with Retry-After", 1, http.StatusTooManyRequests, time.Second, time.Second},
		{"dropped connection", 1, Drop, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, _ := start(t, &upstream{})
			c, err := fhir.NewClient(p.URL(), fhir.WithRetryWait(time.Millisecond, 10*time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			p.FailNext(tt.n, tt.status, tt.retryAfter)
			ctx, tally := fhir.Track(context.Background())
			start := time.Now()
			got, err := c.Search(ctx, "Observation?patient=p1")
			if err != nil {
				t.Fatal(err)
			}
			if elapsed := time.Since(start); elapsed < tt.minElapsed {
				t.Errorf("took %v, want ≥ %v", elapsed, tt.minElapsed)
			}
			if len(got) != 3 {
				t.Errorf("%d resources, want 3", len(got))
			}
			wantAttempts := int64(3 + tt.n)
			if tally.RoundTrips() != 3 || tally.Attempts() != wantAttempts || int64(p.Requests()) != wantAttempts {
				t.Errorf("round trips %d, attempts %d, proxy requests %d; want 3, %d, %d",
					tally.RoundTrips(), tally.Attempts(), p.Requests(), wantAttempts, wantAttempts)
			}
		})
	}
}

func TestClientGivesUp(t *testing.T) {
	p, _ := start(t, &upstream{})
	c, err := fhir.NewClient(p.URL(), fhir.WithRetryMax(2), fhir.WithRetryWait(time.Millisecond, time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	p.FailNext(5, http.StatusServiceUnavailable, 0)
	_, err = c.Search(context.Background(), "Observation?patient=p1")
	var fe *fhir.Error
	if !errors.As(err, &fe) || fe.Status != 503 || fe.Outcome == nil {
		t.Errorf("err = %v, want a 503 *fhir.Error with its OperationOutcome", err)
	}
	if p.Requests() != 3 || p.Pending() != 2 {
		t.Errorf("Requests %d, Pending %d; want 3, 2", p.Requests(), p.Pending())
	}
}

// Package faultproxy is a loopback reverse proxy for integration tests that
// injects faults in front of a real FHIR server: it answers the next N
// requests with a chosen status (429 with Retry-After, 503, …) or drops
// their connection, then passes requests through, and counts what it saw.
//
// Host header and paging links: the proxy forwards the incoming Host header
// unchanged and adds X-Forwarded-For/-Host/-Proto. HAPI builds the absolute
// links of a Bundle (link[next] = "[base]?_getpages=…") from the request's
// Host header, so paging links come back pointing at the proxy and later
// pages also go through it; the fhir client accepts them because they are
// under its base URL. If the upstream server has a fixed base address
// configured (HAPI's hapi.fhir.server_address), its links point at the
// upstream instead, and the fhir client rejects them as foreign
// (fhir.ErrForeignLink) rather than silently bypassing the proxy.
//
// Dropped connections: net/http's Transport re-sends a GET by itself when a
// reused keep-alive connection is closed before any response byte, so a
// Drop may show up as two requests here and one attempt in the client.
package faultproxy

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Drop, given as FailNext's status, closes the connection without an answer.
const Drop = -1

// Proxy is a fault-injecting reverse proxy listening on loopback. It is safe
// for concurrent use.
type Proxy struct {
	srv      *httptest.Server
	upstream *url.URL

	mu     sync.Mutex
	faults []fault

	requests atomic.Int64
	faulted  atomic.Int64
}

type fault struct {
	status     int
	retryAfter time.Duration
}

// New starts a proxy in front of upstream, a FHIR base URL such as
// "http://localhost:8080/fhir". Request paths are forwarded unchanged, so
// the proxy's base is URL() = "http://127.0.0.1:PORT" + upstream's path.
func New(upstream string) (*Proxy, error) {
	u, err := url.Parse(upstream)
	if err != nil {
		return nil, fmt.Errorf("faultproxy: upstream: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("faultproxy: upstream %q: want an absolute http(s) URL", upstream)
	}
	p := &Proxy{upstream: u}
	origin := &url.URL{Scheme: u.Scheme, Host: u.Host}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(origin) // keeps the incoming path and query
			r.Out.Host = r.In.Host
			r.SetXForwarded()
		},
		ErrorLog: log.New(io.Discard, "", 0),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			http.Error(w, "faultproxy: upstream: "+err.Error(), http.StatusBadGateway)
		},
	}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.requests.Add(1)
		if f, ok := p.nextFault(); ok {
			p.faulted.Add(1)
			p.inject(w, r, f)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	p.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	return p, nil
}

func (p *Proxy) nextFault() (fault, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.faults) == 0 {
		return fault{}, false
	}
	f := p.faults[0]
	p.faults = p.faults[1:]
	return f, true
}

func (p *Proxy) inject(w http.ResponseWriter, r *http.Request, f fault) {
	io.Copy(io.Discard, r.Body) // the client finishes sending before it reads
	if f.status == Drop {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
			return
		}
		f.status = http.StatusBadGateway // hijacking unsupported (HTTP/2)
	}
	if f.retryAfter > 0 {
		secs := int64((f.retryAfter + time.Second - 1) / time.Second) // round up
		w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	}
	w.Header().Set("Content-Type", "application/fhir+json")
	w.WriteHeader(f.status)
	fmt.Fprintf(w, `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"transient","diagnostics":"faultproxy: injected %d"}]}`, f.status)
}

// URL returns the proxy's base URL: the upstream base with the proxy's
// loopback origin, e.g. "http://127.0.0.1:41234/fhir".
func (p *Proxy) URL() string {
	return p.srv.URL + p.upstream.EscapedPath()
}

// FailNext makes the next n requests fail with status (or [Drop]) instead of
// reaching the upstream; retryAfter > 0 adds a Retry-After header in whole
// seconds, rounded up. Calls queue up: FailNext(1, 429, time.Second) then
// FailNext(2, 503, 0) fails three requests in that order.
func (p *Proxy) FailNext(n, status int, retryAfter time.Duration) {
	if status != Drop && (status < 100 || status > 599) {
		panic(fmt.Sprintf("faultproxy: FailNext status %d", status))
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for range n {
		p.faults = append(p.faults, fault{status: status, retryAfter: retryAfter})
	}
}

// Pending returns how many queued faults have not fired yet.
func (p *Proxy) Pending() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.faults)
}

// Requests returns how many requests the proxy has seen, faulted or not.
func (p *Proxy) Requests() int { return int(p.requests.Load()) }

// Faulted returns how many requests got an injected fault.
func (p *Proxy) Faulted() int { return int(p.faulted.Load()) }

// Close stops the proxy and closes its connections.
func (p *Proxy) Close() { p.srv.Close() }

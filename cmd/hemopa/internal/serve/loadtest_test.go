package serve

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// BenchmarkOrderSign is one order-sign call with the full prefetch of a
// sample patient through the whole HTTP stack (auth, decode, decide, render),
// with the decision caches (as deployed) and without (every call maps and
// evaluates; decoding stays cached by the pipeline's decoder). Tokens are
// signed before the timer starts.
func BenchmarkOrderSign(b *testing.B) {
	for _, cached := range []bool{true, false} {
		b.Run(map[bool]string{true: "cached", false: "uncached"}[cached], func(b *testing.B) {
			ts := newTestServer(b, serverOpts{cache: cached})
			const path = "/cds-services/hemopa-order-sign"
			body := hookRequest(b, "b-approve", hookOrderSign, "ucare")
			tokens := make([]string, b.N+1)
			for i := range tokens {
				tokens[i] = ts.sign(b, path, token{exp: 5 * time.Minute})
			}
			ts.post(b, path, body, tokens[b.N]) // warm the caches
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				ts.post(b, path, body, tokens[i])
			}
		})
	}
}

// BenchmarkOrderSignHandler is the server's own work for one cached
// order-sign call (auth, parse, decide, render), without network or client.
func BenchmarkOrderSignHandler(b *testing.B) {
	ts := newTestServer(b, serverOpts{cache: true})
	const path = "/cds-services/hemopa-order-sign"
	body := hookRequest(b, "b-approve", hookOrderSign, "ucare")
	tokens := make([]string, b.N+1)
	for i := range tokens {
		tokens[i] = ts.sign(b, path, token{exp: 5 * time.Minute})
	}
	h := ts.Handler()
	run := func(tok string) {
		req := httptest.NewRequest("POST", path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatal(w.Code, w.Body.String())
		}
	}
	run(tokens[b.N])
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		run(tokens[i])
	}
}

func (ts *testServer) post(tb testing.TB, path string, body []byte, bearer string) {
	req, _ := http.NewRequest("POST", ts.URL+path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+bearer)
	resp, err := ts.client.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		tb.Fatalf("status %d", resp.StatusCode)
	}
}

// TestLoadOrderSign is the load test: `hemopa serve` as its own process,
// driven over loopback by 32 concurrent clients sending order-sign with the
// full prefetch of the sample patients (each token fresh, signed before the
// run), reporting throughput, p50/p90/p99 latency and the server's RSS at
// start and end. It runs only when HEMOPA_LOADTEST is set to a duration:
//
//	HEMOPA_LOADTEST=10s go test ./cmd/hemopa/internal/serve -run LoadOrderSign -v
//	HEMOPA_LOADTEST=2m HEMOPA_LOADTEST_RPS=2200 go test ./cmd/hemopa/internal/serve -run LoadOrderSign -v -timeout 30m
//
// HEMOPA_LOADTEST_RPS (default 2500) sizes the pool of pre-signed tokens and
// staggers their expiry (30 s after their expected use): set it near the
// throughput the machine reaches;
// HEMOPA_LOADTEST_RATE=500 paces the 32 clients to that total rate (open
// loop) instead of sending back to back; HEMOPA_LOADTEST_CACHE=off runs
// without the decision caches.
func TestLoadOrderSign(t *testing.T) {
	spec := os.Getenv("HEMOPA_LOADTEST")
	if spec == "" {
		t.Skip("set HEMOPA_LOADTEST=10s (or 2m) to run the load test")
	}
	dur, err := time.ParseDuration(spec)
	if err != nil {
		t.Fatalf("HEMOPA_LOADTEST=%q: %v", spec, err)
	}
	rps := 2500
	const warmup = 3 * time.Second
	pace := 0.0 // requests per second in total; 0: as fast as the clients go
	if s := os.Getenv("HEMOPA_LOADTEST_RATE"); s != "" {
		if pace, err = strconv.ParseFloat(s, 64); err != nil {
			t.Fatal(err)
		}
		rps = int(pace) + 100
	}
	if s := os.Getenv("HEMOPA_LOADTEST_RPS"); s != "" {
		if rps, err = strconv.Atoi(s); err != nil {
			t.Fatal(err)
		}
	}
	const clients = 32
	testKeys(t)
	root := repoRoot(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "hemopa")
	build := exec.Command("go", "build", "-o", bin, "./cmd/hemopa")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	base := "http://" + addr
	jwksPath := filepath.Join(dir, "ehr-jwks.json")
	if err := os.WriteFile(jwksPath, jwksJSON(rsaJWK(&rsaKey.PublicKey, "rsa-1")), 0o600); err != nil {
		t.Fatal(err)
	}
	cache := ""
	if os.Getenv("HEMOPA_LOADTEST_CACHE") == "off" {
		cache = "cache: {decisions: -1}\n"
	}
	cfg := fmt.Sprintf(`public_base_url: %s
issuers: [{iss: %s, jwks_file: %s}]
payers: [{name: UCare, match: {system: http://hemopa.org/fhir/sid/payer, value: ucare}, policy: ucare-hemgenix}]
default_policy: {Hemgenix: label-aligned-hemgenix, Roctavian: ny-pharmacy-109-roctavian}
rate_limit: {per_second: -1}
as_of: %s
token: {max_lifetime: 30m}
%s`, base, issFile, jwksPath, asOf, cache)
	cfgPath := filepath.Join(dir, "serve.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}

	// Bodies: every sample patient, order-sign, UCare.
	const path = "/cds-services/hemopa-order-sign"
	var bodies [][]byte
	for _, p := range samplePatients(t) {
		bodies = append(bodies, hookRequest(t, p, hookOrderSign, "ucare"))
	}
	// Tokens, signed in parallel before the run (RS384 signing costs far more
	// than verifying; signing during the run would load the shared CPUs).
	// Token i expires 30 s after the moment it is expected to be used at rps,
	// like short-lived tokens signed just in time: the server's replay cache
	// then holds a steady ~rps × (30 s + leeway) ids instead of every id of
	// the run.
	n := int(float64(rps)*(dur+warmup).Seconds()) + 2000
	t.Logf("signing %d tokens…", n)
	tokens := make([]string, n)
	var wg sync.WaitGroup
	signStart := time.Now()
	est := time.Duration(float64(n) * float64(2*time.Millisecond) / float64(runtime.GOMAXPROCS(0))) // signing time, roughly
	for w := range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for i := w; i < n; i += runtime.GOMAXPROCS(0) {
				use := signStart.Add(est + time.Duration(float64(i)/float64(rps)*float64(time.Second)))
				tokens[i] = signFor(t, base+path, time.Until(use)+30*time.Second)
			}
		})
	}
	wg.Wait()
	if late := time.Since(signStart) - est; late > 20*time.Second {
		t.Logf("signing took %v longer than estimated: early tokens may expire", late)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := exec.CommandContext(ctx, bin, "serve", "--addr", addr, "--config", cfgPath)
	stderr, _ := srv.StderrPipe()
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Process.Signal(os.Interrupt); _ = srv.Wait() }()
	ready := make(chan struct{})
	var requestLines atomic.Int64
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			if strings.Contains(line, `"msg":"listening"`) {
				close(ready)
			}
			if strings.Contains(line, `"msg":"request"`) {
				requestLines.Add(1)
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		t.Fatal("server did not start")
	}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}}
	var next atomic.Int64
	send := func(body []byte) (time.Duration, error) {
		i := next.Add(1) - 1
		if int(i) >= len(tokens) {
			return 0, errTokensSpent
		}
		req, _ := http.NewRequest("POST", base+path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tokens[i])
		start := time.Now()
		resp, err := hc.Do(req)
		if err != nil {
			return 0, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return 0, fmt.Errorf("status %d", resp.StatusCode)
		}
		return time.Since(start), nil
	}
	run := func(d time.Duration, record bool) (lat []time.Duration, errs int64, spent bool) {
		var mu sync.Mutex
		var nerr atomic.Int64
		var out atomic.Bool
		deadline := time.Now().Add(d)
		var wg sync.WaitGroup
		for c := range clients {
			wg.Go(func() {
				local := make([]time.Duration, 0, 4096)
				// Paced clients are staggered across the period, not in step.
				period := time.Duration(float64(clients) / max(pace, 1) * float64(time.Second))
				next := time.Now().Add(time.Duration(c) * period / clients)
				for k := c; time.Now().Before(deadline); k++ {
					if pace > 0 { // open loop: this client's share of the target rate
						time.Sleep(time.Until(next))
						next = next.Add(period)
					}
					l, err := send(bodies[k%len(bodies)])
					if err == errTokensSpent {
						out.Store(true)
						break
					}
					if err != nil {
						nerr.Add(1)
						continue
					}
					local = append(local, l)
				}
				if record {
					mu.Lock()
					lat = append(lat, local...)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		return lat, nerr.Load(), out.Load()
	}
	run(warmup, false) // warm-up: caches, pools and connections
	rssStart := scrapeRSS(t, base)
	t.Logf("RSS after warm-up: %.1f MiB", rssStart/(1<<20))
	type sample struct{ rss, heap, jtis float64 }
	var samples []sample
	stop := make(chan struct{})
	go func() {
		tick := time.NewTicker(max(dur/6, time.Second))
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				samples = append(samples, sample{scrapeRSS(t, base) / (1 << 20), scrape(t, base, "go_memstats_heap_inuse_bytes") / (1 << 20),
					scrape(t, base, "hemopa_replay_cache_entries")})
			}
		}
	}()
	cpuStart := scrape(t, base, "process_cpu_seconds_total")
	start := time.Now()
	lat, errs, spent := run(dur, true)
	elapsed := time.Since(start)
	cpuEnd := scrape(t, base, "process_cpu_seconds_total")
	close(stop)
	rssEnd := scrapeRSS(t, base)
	if len(lat) == 0 {
		t.Fatalf("no successful requests (%d errors)", errs)
	}
	slices.Sort(lat)
	pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	mode := "back to back"
	if pace > 0 {
		mode = fmt.Sprintf("paced at %.0f/s", pace)
	}
	t.Logf("order-sign, full prefetch, %d clients %s, %v: %d requests (%.0f/s), %d errors%s",
		clients, mode, elapsed.Round(time.Millisecond), len(lat), float64(len(lat))/elapsed.Seconds(), errs,
		map[bool]string{true: " (token pool spent early: raise HEMOPA_LOADTEST_RPS)", false: ""}[spent])
	t.Logf("latency p50 %v  p90 %v  p99 %v  max %v", pct(.50).Round(10*time.Microsecond), pct(.90).Round(10*time.Microsecond),
		pct(.99).Round(10*time.Microsecond), lat[len(lat)-1].Round(10*time.Microsecond))
	t.Logf("server CPU %.2f ms per request (%.0f%% of one core); load average at the end: %s",
		1000*(cpuEnd-cpuStart)/float64(len(lat)), 100*(cpuEnd-cpuStart)/elapsed.Seconds(), loadAvg())
	t.Logf("server RSS start %.1f MiB, end %.1f MiB", rssStart/(1<<20), rssEnd/(1<<20))
	for i, sm := range samples {
		t.Logf("  sample %d: RSS %.0f MiB, heap in use %.0f MiB, replay cache %.0f token ids", i+1, sm.rss, sm.heap, sm.jtis)
	}
	if errs > 0 {
		t.Errorf("%d requests failed", errs)
	}
}

var errTokensSpent = fmt.Errorf("token pool spent")

func signFor(t testing.TB, aud string, life time.Duration) string {
	now := time.Now()
	j := jwt.NewWithClaims(jwt.SigningMethodRS384, jwt.MapClaims{"iss": issFile, "sub": issFile, "aud": aud,
		"jti": newUUID(), "iat": now.Unix(), "exp": now.Add(life).Unix()})
	j.Header["kid"] = "rsa-1"
	s, err := j.SignedString(rsaKey)
	if err != nil {
		t.Error(err)
	}
	return s
}

// scrapeRSS reads process_resident_memory_bytes from /metrics.
func scrapeRSS(t testing.TB, base string) float64 {
	return scrape(t, base, "process_resident_memory_bytes")
}

// scrape reads one unlabelled series from /metrics.
func scrape(t testing.TB, base, series string) float64 {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	t.Fatalf("no %s in /metrics", series)
	return 0
}

// loadAvg is /proc/loadavg's first three fields (other work on the machine
// skews latency figures).
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// BenchmarkOrderSignParallel is BenchmarkOrderSign (cached) from 32
// concurrent clients in the same process.
func BenchmarkOrderSignParallel(b *testing.B) {
	ts := newTestServer(b, serverOpts{cache: true})
	const path = "/cds-services/hemopa-order-sign"
	body := hookRequest(b, "b-approve", hookOrderSign, "ucare")
	tokens := make([]string, b.N+1)
	for i := range tokens {
		tokens[i] = ts.sign(b, path, token{exp: 5 * time.Minute})
	}
	ts.post(b, path, body, tokens[b.N])
	ts.client.Transport.(*http.Transport).MaxIdleConnsPerHost = 64
	var next atomic.Int64
	b.SetParallelism(16) // × GOMAXPROCS 2 = 32 clients
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			ts.post(b, path, body, tokens[next.Add(1)-1])
		}
	})
}

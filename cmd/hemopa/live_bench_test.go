package main

import (
	"bytes"
	"context"
	"encoding/json"
	"hemopa/cmd/hemopa/internal/testenv"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sync/atomic"
	"testing"
	"time"

	"hemopa/cmd/hemopa/internal/pipeline"
	"hemopa/fhir"
	"hemopa/integration/harness"
	"hemopa/rules"
)

// BenchmarkLiveVsBare measures one patient's live evaluation against the
// local HAPI ("hemopa": batch fetch + decode + map + evaluate) and HAPI
// answering the very same batch of searches with nothing done to the answer
// ("bare"). The target is hemopa ≤ 1.2 × bare. Both report the response
// bytes and resources of one evaluation; hemopa also its round trips. Needs
// HAPI (skips without it unless CI is set):
// go test ./cmd/hemopa -run '^$' -bench LiveVsBare
func BenchmarkLiveVsBare(b *testing.B) {
	lb := newLiveBench(b)
	b.Run("bare", func(b *testing.B) {
		resources := bareResources(b, bareBatch(b, lb.ctx, lb.base, lb.body))
		var bytesRead int64
		for b.Loop() {
			bytesRead += int64(len(bareBatch(b, lb.ctx, lb.base, lb.body)))
		}
		b.ReportMetric(float64(bytesRead)/float64(b.N), "resp-bytes/op")
		b.ReportMetric(float64(resources), "resources/op")
	})
	b.Run("hemopa", func(b *testing.B) {
		conn, counted := countingConn(b, lb.base)
		var resources int64
		for b.Loop() {
			resources += int64(lb.evaluate(b, conn))
		}
		b.ReportMetric(float64(counted.Load())/float64(b.N), "resp-bytes/op")
		b.ReportMetric(float64(resources)/float64(b.N), "resources/op")
		b.ReportMetric(float64(conn.fhir.RoundTrips())/float64(b.N), "round-trips/op")
	})
}

// BenchmarkLiveVsBareInterleaved runs one bare batch and one hemopa
// evaluation in every iteration (alternating which goes first) and reports
// hemopa's time over bare's: on a shared machine whose load drifts, the ratio
// of neighbours is steadier than the ratio of two separate runs. Needs HAPI,
// as above.
func BenchmarkLiveVsBareInterleaved(b *testing.B) {
	lb := newLiveBench(b)
	conn, _ := countingConn(b, lb.base)
	var bare, hemopa time.Duration
	runBare := func() {
		t0 := time.Now()
		bareBatch(b, lb.ctx, lb.base, lb.body)
		bare += time.Since(t0)
	}
	runHemopa := func() {
		t0 := time.Now()
		lb.evaluate(b, conn)
		hemopa += time.Since(t0)
	}
	odd := false
	for b.Loop() {
		if odd = !odd; odd { // alternate who goes first
			runBare()
			runHemopa()
		} else {
			runHemopa()
			runBare()
		}
	}
	b.ReportMetric(float64(bare.Microseconds())/float64(b.N)/1000, "bare-ms/op")
	b.ReportMetric(float64(hemopa.Microseconds())/float64(b.N)/1000, "hemopa-ms/op")
	b.ReportMetric(float64(hemopa)/float64(bare), "hemopa/bare")
}

// liveBench is the setup both live-vs-bare benchmarks share: b-approve loaded
// into HAPI, the pipeline, UCare's policy, and the very batch the live path
// sends (HAPI warmed up with it).
type liveBench struct {
	ctx      context.Context
	base     string
	p        *pipeline.Pipeline
	policies []*rules.Policy
	asOf     time.Time
	body     []byte
}

func newLiveBench(b *testing.B) *liveBench {
	hapi := harness.RequireHAPI(b)
	if _, errs, code := runCLI(b, "", "load", "--fhir-server", hapi.BaseURL(), "../../testdata/patients/b-approve.json"); code != 0 {
		b.Fatalf("load: %s", errs)
	}
	p, err := pipeline.New()
	if err != nil {
		b.Fatal(err)
	}
	policies := testenv.Policies(b, "ucare-hemgenix")
	lb := &liveBench{ctx: context.Background(), base: hapi.BaseURL(), p: p, policies: policies,
		asOf: time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)}
	lb.body = batchBody(fetchPlan(p.Mapper, policies, "pat-b-approve", lb.asOf))
	for range 10 { // warm HAPI up so that neither side pays for it
		bareBatch(b, lb.ctx, lb.base, lb.body)
	}
	return lb
}

// evaluate is one live evaluation of b-approve (fetch, decode, map,
// evaluate), which must approve; it returns the resources fetched.
func (lb *liveBench) evaluate(b *testing.B, conn *liveConn) int {
	raws, err := fetchPatient(lb.ctx, conn, lb.p, lb.policies, "pat-b-approve", lb.asOf)
	if err != nil {
		b.Fatal(err)
	}
	bundle, err := lb.p.Decoder.DecodeResources(raws)
	if err != nil {
		b.Fatal(err)
	}
	if dets, _, err := lb.p.Decide(bundle, lb.policies, lb.asOf, "pat-b-approve"); err != nil || dets[0].Decision != "approve" {
		b.Fatalf("decision %v, err %v", dets, err)
	}
	return len(raws)
}

// BenchmarkLiveFetchSamples fetches every sample patient as the live path
// does under every policy and reports what one patient's fetch costs on
// average: response bytes, resources kept and round trips (which must stay
// ≤ 2). -v also logs each patient's figures. Needs HAPI, as above.
func BenchmarkLiveFetchSamples(b *testing.B) {
	hapi := harness.RequireHAPI(b)
	files, err := filepath.Glob("../../testdata/patients/*.json")
	if err != nil || len(files) == 0 {
		b.Fatalf("no sample patients: %v", err)
	}
	if _, errs, code := runCLI(b, "", append([]string{"load", "--fhir-server", hapi.BaseURL()}, files...)...); code != 0 {
		b.Fatalf("load: %s", errs)
	}
	p, err := pipeline.New()
	if err != nil {
		b.Fatal(err)
	}
	policies := testenv.Policies(b, "all")
	asOf := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	ctx := context.Background()
	var ids []string
	idRe := regexp.MustCompile(`"resourceType": "Patient",\s*"id": "([^"]+)"`)
	for _, f := range files {
		data, err := os.ReadFile(f)
		m := idRe.FindSubmatch(data)
		if err != nil || m == nil {
			b.Fatalf("%s: no Patient id (%v)", f, err)
		}
		ids = append(ids, string(m[1]))
	}
	logged := false
	conn, counted := countingConn(b, hapi.BaseURL())
	var resources, maxTrips int64
	for b.Loop() {
		for _, id := range ids {
			bytes0, trips0 := counted.Load(), conn.fhir.RoundTrips()
			raws, err := fetchPatient(ctx, conn, p, policies, id, asOf)
			if err != nil {
				b.Fatal(err)
			}
			resources += int64(len(raws))
			trips := conn.fhir.RoundTrips() - trips0
			maxTrips = max(maxTrips, trips)
			if !logged {
				b.Logf("%-28s %3d resources %7d bytes %d round trips", id, len(raws), counted.Load()-bytes0, trips)
			}
		}
		logged = true
	}
	n := float64(b.N * len(ids))
	b.ReportMetric(float64(counted.Load())/n, "resp-bytes/patient")
	b.ReportMetric(float64(resources)/n, "resources/patient")
	b.ReportMetric(float64(conn.fhir.RoundTrips())/n, "round-trips/patient")
	b.ReportMetric(float64(maxTrips), "max-round-trips")
	if maxTrips > 2 {
		b.Errorf("a patient took %d round trips, want ≤ 2", maxTrips)
	}
}

// batchBody is the batch Bundle hemopa POSTs for a plan.
func batchBody(plan []string) []byte {
	var entries []map[string]any
	for _, u := range plan {
		entries = append(entries, map[string]any{"request": map[string]string{"method": "GET", "url": u}})
	}
	body, _ := json.Marshal(map[string]any{"resourceType": "Bundle", "type": "batch", "entry": entries})
	return body
}

// bareBatch POSTs the batch as hemopa sends it and reads the whole answer.
func bareBatch(b *testing.B, ctx context.Context, base string, body []byte) []byte {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/fhir+json")
	req.Header.Set("Accept", "application/fhir+json")
	req.Header.Set("Cache-Control", "no-cache") // as hemopa sends it
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	data, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		b.Fatal(err)
	}
	return data
}

// bareResources counts the resources in a batch answer's searchsets; a
// searchset with a next link fails the benchmark (its other pages would not
// be in the bare figure).
func bareResources(b *testing.B, data []byte) int64 {
	var resp struct {
		Entry []struct {
			Resource struct {
				Entry []json.RawMessage `json:"entry"`
				Link  []struct {
					Relation string `json:"relation"`
				} `json:"link"`
			} `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(data, &resp); err != nil {
		b.Fatal(err)
	}
	var n int64
	for _, e := range resp.Entry {
		n += int64(len(e.Resource.Entry))
		for _, l := range e.Resource.Link {
			if l.Relation == "next" {
				b.Fatal("a search of the batch has more than one page: the bare side would not compare like with like")
			}
		}
	}
	return n
}

// countingConn is a live connection to an open server whose response bytes
// are counted.
func countingConn(b *testing.B, base string) (*liveConn, *atomic.Int64) {
	var n atomic.Int64
	hc := &http.Client{Transport: countingTransport{n: &n, base: http.DefaultTransport}}
	c, err := fhir.NewClient(base, fhir.WithHTTPClient(hc), fhir.WithTimeout(time.Minute))
	if err != nil {
		b.Fatal(err)
	}
	env := &Env{Stderr: io.Discard, Getenv: func(string) string { return "" }}
	lf := &liveFlags{server: base, logLevel: "off"}
	return &liveConn{fhir: c, log: lf.logger(env.Stderr)}, &n
}

type countingTransport struct {
	n    *atomic.Int64
	base http.RoundTripper
}

func (t countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	res, err := t.base.RoundTrip(r)
	if err == nil {
		res.Body = &countingBody{ReadCloser: res.Body, n: t.n}
	}
	return res, err
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (c *countingBody) Read(p []byte) (int, error) {
	k, err := c.ReadCloser.Read(p)
	c.n.Add(int64(k))
	return k, err
}

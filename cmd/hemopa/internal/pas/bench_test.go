package pas

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// latencies collects per-request durations across RunParallel goroutines.
type latencies struct {
	mu  sync.Mutex
	all []time.Duration
}

func (l *latencies) add(ds []time.Duration) { l.mu.Lock(); l.all = append(l.all, ds...); l.mu.Unlock() }

// report adds p50/p99/max latency and the process CPU time per request
// since cpu0 (the figure that does not depend on what else the machine runs).
func (l *latencies) report(b *testing.B, cpu0 time.Duration) {
	if len(l.all) == 0 {
		return
	}
	if cpu := processCPU() - cpu0; cpu > 0 {
		b.ReportMetric(float64(cpu.Microseconds())/1000/float64(len(l.all)), "cpu-ms/op")
	}
	slices.Sort(l.all)
	q := func(p float64) float64 {
		return float64(l.all[min(len(l.all)-1, int(p*float64(len(l.all))))].Microseconds()) / 1000
	}
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(float64(l.all[len(l.all)-1].Microseconds())/1000, "max-ms")
}

// benchBodies returns a PAS bundle and a function giving a distinct copy of
// it (a new Claim identifier, so a new submission) for each call.
func benchBodies(b *testing.B) (fresh func() []byte, same []byte) {
	const marker = "PAS-BENCH-000000000"
	body := wrapPatient(b, filepath.Join(repoRoot(b), "testdata", "patients", "b-approve.json"), pasSpec{identifier: marker})
	var n atomic.Int64
	return func() []byte {
		return bytes.ReplaceAll(body, []byte(marker), fmt.Appendf(nil, "PAS-BENCH-%09d", n.Add(1)))
	}, body
}

// BenchmarkSubmit measures Submit at 16 concurrent requests (RunParallel with
// parallelism 16/GOMAXPROCS) on the bbolt store, reporting p50/p99/max:
//
//	go test ./cmd/hemopa/internal/pas -run '^$' -bench BenchmarkSubmit -benchtime 2000x -cpu 2
//
// new: every request a new submission (decode, map, evaluate, render, fsync);
// new-memstore: the same without the disk (the compute part);
// replay: the same submission again (lookup of the stored response);
// http: new submissions through Handler over a loopback connection.
func BenchmarkSubmit(b *testing.B) {
	fresh, same := benchBodies(b)
	open := func(b *testing.B) *Service {
		s, err := NewService(WithStorePath(filepath.Join(b.TempDir(), "pas.db")), WithClock(fixedClock))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		return s
	}
	// RunParallel starts parallelism × GOMAXPROCS goroutines: 16 in all.
	parallelism := func(b *testing.B) { b.SetParallelism(max(1, (16+runtime.GOMAXPROCS(0)-1)/runtime.GOMAXPROCS(0))) }

	newSubmissions := func(b *testing.B, s *Service) {
		var lat latencies
		parallelism(b)
		b.ResetTimer()
		cpu0 := processCPU()
		b.RunParallel(func(pb *testing.PB) {
			var mine []time.Duration
			for pb.Next() {
				body := fresh()
				t0 := time.Now()
				if status, resp := s.Submit(context.Background(), body); status != 200 {
					b.Errorf("status %d: %.200s", status, resp)
				}
				mine = append(mine, time.Since(t0))
			}
			lat.add(mine)
		})
		lat.report(b, cpu0)
	}
	b.Run("new", func(b *testing.B) { newSubmissions(b, open(b)) })
	b.Run("new-memstore", func(b *testing.B) {
		s, err := NewService(WithStore(NewMemStore()), WithClock(fixedClock))
		if err != nil {
			b.Fatal(err)
		}
		newSubmissions(b, s)
	})
	b.Run("replay", func(b *testing.B) {
		s := open(b)
		s.Submit(context.Background(), same)
		var lat latencies
		parallelism(b)
		b.ResetTimer()
		cpu0 := processCPU()
		b.RunParallel(func(pb *testing.PB) {
			var mine []time.Duration
			for pb.Next() {
				t0 := time.Now()
				if status, _ := s.Submit(context.Background(), same); status != 200 {
					b.Errorf("status %d", status)
				}
				mine = append(mine, time.Since(t0))
			}
			lat.add(mine)
		})
		lat.report(b, cpu0)
	})
	b.Run("http", func(b *testing.B) {
		s := open(b)
		srv := httptest.NewServer(s.Handler())
		b.Cleanup(srv.Close)
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
		var lat latencies
		parallelism(b)
		b.ResetTimer()
		cpu0 := processCPU()
		b.RunParallel(func(pb *testing.PB) {
			var mine []time.Duration
			for pb.Next() {
				body := fresh()
				t0 := time.Now()
				resp, err := client.Post(srv.URL+"/Claim/$submit", "application/fhir+json", bytes.NewReader(body))
				if err != nil {
					b.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Errorf("status %d", resp.StatusCode)
				}
				mine = append(mine, time.Since(t0))
			}
			lat.add(mine)
		})
		lat.report(b, cpu0)
	})
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"hemopa/cmd/hemopa/internal/pipeline"
	"hemopa/integration/harness"
)

// BenchmarkLiveVsBare measures one patient's live evaluation against the
// local HAPI ("hemopa": batch fetch + decode + map + evaluate) and HAPI
// answering the very same batch of searches with nothing done to the answer
// ("bare"). The target is hemopa ≤ 1.2 × bare. Needs HAPI (skips without it
// unless CI is set): go test ./cmd/hemopa -run '^$' -bench LiveVsBare
func BenchmarkLiveVsBare(b *testing.B) {
	hapi := harness.RequireHAPI(b)
	if _, errs, code := runCLI(b, "", "load", "--fhir-server", hapi.BaseURL(), "../../testdata/patients/b-approve.json"); code != 0 {
		b.Fatalf("load: %s", errs)
	}
	p, err := pipeline.New("")
	if err != nil {
		b.Fatal(err)
	}
	policies, err := pipeline.SelectPolicies("ucare-hemgenix")
	if err != nil {
		b.Fatal(err)
	}
	asOf := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	plan := fetchPlan(p.Mapper, policies, "pat-b-approve", asOf)
	var entries []map[string]any
	for _, u := range plan {
		entries = append(entries, map[string]any{"request": map[string]string{"method": "GET", "url": u}})
	}
	body, _ := json.Marshal(map[string]any{"resourceType": "Bundle", "type": "batch", "entry": entries})
	ctx := context.Background()
	env := &Env{Stderr: io.Discard, Getenv: func(string) string { return "" }}

	b.Run("bare", func(b *testing.B) {
		for b.Loop() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, hapi.BaseURL(), bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/fhir+json")
			req.Header.Set("Accept", "application/fhir+json")
			req.Header.Set("Cache-Control", "no-cache") // as hemopa sends it
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.Copy(io.Discard, res.Body); err != nil {
				b.Fatal(err)
			}
			res.Body.Close()
		}
	})
	b.Run("hemopa", func(b *testing.B) {
		lf := &liveFlags{server: hapi.BaseURL(), timeout: time.Minute, logLevel: "off"}
		conn, err := connect(ctx, lf, nil, env)
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			raws, err := fetchPatient(ctx, conn, p, policies, "pat-b-approve", asOf)
			if err != nil {
				b.Fatal(err)
			}
			bundle, err := p.Decoder.DecodeResources(raws)
			if err != nil {
				b.Fatal(err)
			}
			dets, _, err := p.Decide(bundle, policies, asOf, "pat-b-approve")
			if err != nil || dets[0].Decision != "approve" {
				b.Fatalf("decision %v, err %v", dets, err)
			}
		}
	})
}

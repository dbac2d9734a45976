package fhir

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
)

// Batch runs several reads or searches in one round trip: it POSTs one
// batch Bundle of GET requests to the base and returns, for each request in
// order, its resources — the entries of a searchset (following its next
// links, one more round trip per page), or the single resource of a read.
//
// Each request is relative to the base, e.g.
// "Observation?patient=p1&code=http://loinc.org|3187-2&_count=1000" or
// "Patient/p1", and is put in request.url as given. Any entry whose
// response.status is not 2xx fails the whole call with an [*Error] naming
// that request (wrapped with its index). Being all GETs, a batch is retried
// like a read. An empty batch makes no request.
func (c *Client) Batch(ctx context.Context, requests []string) ([][]json.RawMessage, error) {
	if len(requests) == 0 {
		return nil, nil
	}
	type entry struct {
		Request struct {
			Method string `json:"method"`
			URL    string `json:"url"`
		} `json:"request"`
	}
	req := struct {
		ResourceType string  `json:"resourceType"`
		Type         string  `json:"type"`
		Entry        []entry `json:"entry"`
	}{ResourceType: "Bundle", Type: "batch", Entry: make([]entry, len(requests))}
	for i, r := range requests {
		r = strings.TrimPrefix(r, "/")
		if _, _, err := c.resolve(r); err != nil {
			return nil, fmt.Errorf("fhir: batch entry %d: %w", i, err)
		}
		req.Entry[i].Request.Method = http.MethodGet
		req.Entry[i].Request.URL = r
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("fhir: batch: %w", err)
	}

	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	var hdr http.Header
	if nc, _ := ctx.Value(noCacheKey{}).(bool); nc {
		hdr = http.Header{"Cache-Control": {"no-cache"}} // a batch of reads is a read
	}
	res, err := c.do(ctx, http.MethodPost, c.base, "", body, hdr, true)
	if err != nil {
		return nil, fmt.Errorf("fhir: batch of %d: %w", len(requests), err)
	}
	b, err := parsePageBundle(res.body, "batch-response")
	if err != nil {
		return nil, fmt.Errorf("fhir: batch of %d: %w", len(requests), err)
	}
	if len(b.Entry) != len(requests) {
		return nil, fmt.Errorf("fhir: batch of %d: response has %d entries", len(requests), len(b.Entry))
	}

	out := make([][]json.RawMessage, len(requests))
	for i, e := range b.Entry {
		r := req.Entry[i].Request.URL
		if e.Response == nil {
			return nil, fmt.Errorf("fhir: batch entry %d (GET %s): no response", i, r)
		}
		status, err := parseStatusLine(e.Response.Status)
		if err != nil {
			return nil, fmt.Errorf("fhir: batch entry %d (GET %s): %w", i, r, err)
		}
		if status < 200 || status > 299 {
			oc := outcomeOrNil(e.Response.Outcome)
			if oc == nil {
				oc = outcomeOrNil(e.Resource)
			}
			return nil, fmt.Errorf("fhir: batch entry %d: %w", i, &Error{Method: http.MethodGet, Path: r, Status: status, Outcome: oc})
		}
		if len(e.Resource) == 0 {
			continue
		}
		var peek struct {
			ResourceType string `json:"resourceType"`
			Type         string `json:"type"`
		}
		if err := json.Unmarshal(e.Resource, &peek); err != nil {
			return nil, fmt.Errorf("fhir: batch entry %d (GET %s): %w", i, r, err)
		}
		if peek.ResourceType != "Bundle" || peek.Type != "searchset" {
			out[i] = []json.RawMessage{e.Resource}
			continue
		}
		inner, err := parsePageBundle(e.Resource, "searchset")
		if err != nil {
			return nil, fmt.Errorf("fhir: batch entry %d (GET %s): %w", i, r, err)
		}
		if out[i], err = c.follow(ctx, r, inner, c.base); err != nil {
			return nil, fmt.Errorf("fhir: batch entry %d (GET %s): %w", i, r, err)
		}
	}
	c.log.LogAttrs(ctx, slog.LevelDebug, "fhir: batch done", slog.Int("requests", len(requests)))
	return out, nil
}

// parseStatusLine reads the code of a Bundle.entry.response.status such as
// "200 OK" or "404".
func parseStatusLine(s string) (int, error) {
	f := strings.Fields(s)
	if len(f) == 0 {
		return 0, errors.New("empty response.status")
	}
	n, err := strconv.Atoi(f[0])
	if err != nil || n < 100 || n > 599 {
		return 0, fmt.Errorf("bad response.status %q", s)
	}
	return n, nil
}

package pas

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"hemopa/cmd/hemopa/internal/davinci"
	"hemopa/fhir"
)

// Submit answers Claim/$submit. body is a PAS request Bundle (or a
// Parameters whose "resource" parameter holds it). It returns 200 with the
// response Bundle (ClaimResponse first; wrapped in a Parameters "return" when
// the request was), 400 with an OperationOutcome naming the FHIR path of what
// is wrong, or 500 when the store fails. The same submission (same entries,
// same policy plan) returns the stored response, unchanged.
func (s *Service) Submit(ctx context.Context, body []byte) (status int, resp []byte) {
	start := time.Now()
	r, err := parseRequest(body)
	if err == nil {
		err = r.checkClaim(true)
	}
	if err != nil {
		return s.reject(ctx, "submit", start, err)
	}
	pl, err := s.plan(r)
	if err != nil {
		return s.reject(ctx, "submit", start, err)
	}
	key := submissionKey(r, pl.fingerprint())
	rec, err := s.store.Load(ctx, key) // a replay needs no lock
	if errors.Is(err, ErrNotFound) {
		// Decide once per key: a concurrent twin waits here, then finds the record.
		defer s.locks.lock(key)()
		rec, err = s.store.Load(ctx, key)
	}
	replay := err == nil
	switch {
	case replay:
	case errors.Is(err, ErrNotFound):
		select {
		case s.work <- struct{}{}:
		case <-ctx.Done():
			return s.reject(ctx, "submit", start, fmt.Errorf("wait to decide: %w", ctx.Err()))
		}
		rec, err = s.adjudicate(ctx, r, key, pl)
		<-s.work
		if err != nil {
			return s.reject(ctx, "submit", start, err)
		}
		if err = s.store.Save(ctx, key, rec); err != nil {
			return s.reject(ctx, "submit", start, fmt.Errorf("persist decision: %w", err))
		}
	default:
		return s.reject(ctx, "submit", start, fmt.Errorf("look up earlier submission: %w", err))
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "pas submit", slog.String("key", key[:12]), slog.Int("status", http.StatusOK),
		slog.String("outcome", rec.Outcome), slog.Int("items", len(rec.Items)), slog.Bool("replay", replay),
		slog.Duration("took", time.Since(start)))
	return http.StatusOK, r.wrapReturn(rec.Response)
}

// Inquire answers Claim/$inquire: body is a PAS inquiry Bundle whose first
// entry is a Claim with the identifier of an earlier submission and its
// patient (or a Parameters wrapping it). A submission matches when one of
// its Claim identifiers equals one of the inquiry's (system compared when
// both have one) and the patient is the same (a shared Patient identifier;
// else the same Patient id). A bare Bundle gets the latest matching response
// bundle, or 404 with an OperationOutcome when nothing matches; a Parameters
// gets every match, newest first, as "return" parameters (none: an empty
// Parameters, as the operation's 0..* output allows).
func (s *Service) Inquire(ctx context.Context, body []byte) (status int, resp []byte) {
	start := time.Now()
	r, err := parseRequest(body)
	if err == nil {
		err = r.checkClaim(false)
	}
	if err != nil {
		return s.reject(ctx, "inquire", start, err)
	}
	want := r.patientMatch()
	seen := map[string]bool{}
	var found []*Record
	for _, id := range claimIdentifiers(r.claim) {
		recs, err := s.store.ListByClaim(ctx, id.Value)
		if err != nil {
			return s.reject(ctx, "inquire", start, fmt.Errorf("look up submissions: %w", err))
		}
		for _, rec := range recs {
			if seen[rec.Key] || !rec.matchesClaim(id) || !rec.Patient.matches(want) {
				continue
			}
			seen[rec.Key] = true
			found = append(found, rec)
		}
	}
	slices.SortFunc(found, func(a, b *Record) int {
		if c := b.Created.Compare(a.Created); c != 0 {
			return c
		}
		return strings.Compare(a.Key, b.Key)
	})
	s.log.LogAttrs(ctx, slog.LevelInfo, "pas inquire", slog.Int("matches", len(found)), slog.Duration("took", time.Since(start)))
	if r.wrapped {
		var ps []any
		for _, rec := range found {
			ps = append(ps, davinci.O("name", "return", "resource", rec.Inquiry))
		}
		out, err := davinci.Encode(davinci.O("resourceType", "Parameters", "parameter", ps))
		if err != nil {
			return s.reject(ctx, "inquire", start, err)
		}
		return http.StatusOK, out
	}
	if len(found) == 0 {
		return http.StatusNotFound, outcome("error", "not-found", "no earlier submission matches the inquiry's Claim identifier and patient", claimPath+".identifier")
	}
	return http.StatusOK, found[0].Inquiry
}

// reject turns an error into a status and an OperationOutcome, and logs the
// path and kind only.
func (s *Service) reject(ctx context.Context, op string, start time.Time, err error) (int, []byte) {
	var re *RequestError
	var de *fhir.DecodeError
	status, path, code, msg := http.StatusInternalServerError, "", "exception", "the server could not process the request; it may be retried"
	switch {
	case errors.As(err, &re):
		status, path, code, msg = http.StatusBadRequest, re.Path, re.Code, re.Msg
	case errors.As(err, &de):
		// "Bundle.entry[3].resource (Observation/x)" → the FHIRPath part.
		p, _, _ := strings.Cut(de.Path, " (")
		status, path, code, msg = http.StatusBadRequest, p, "structure", "not valid FHIR R4: "+de.Error()
	}
	lvl := slog.LevelInfo
	if status >= 500 {
		lvl = slog.LevelError
		// Internal errors carry no request content; log them whole.
		s.log.LogAttrs(ctx, lvl, "pas "+op+" failed", slog.Int("status", status), slog.String("error", err.Error()), slog.Duration("took", time.Since(start)))
	} else {
		s.log.LogAttrs(ctx, lvl, "pas "+op+" rejected", slog.Int("status", status), slog.String("path", path), slog.String("issue", code), slog.Duration("took", time.Since(start)))
	}
	return status, outcome("error", code, msg, path)
}

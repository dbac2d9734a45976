package serve

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"
)

// apiFunc is an authenticated endpoint: it gets the read body and answers a
// status with a JSON value (nil: no body), or an error.
type apiFunc func(ctx context.Context, r *http.Request, body []byte, rec *record) (int, any, error)

// record is what one request leaves in the log and the metrics: fixed words
// and counts, never PHI or tokens.
type record struct {
	requestID    string
	issuer       string
	hook         string
	hookInstance string
	decisions    []string
	kind         string // error kind
	extra        []any
}

func (r *record) addDecision(d string) {
	if d != "" && !slices.Contains(r.decisions, d) {
		r.decisions = append(r.decisions, d)
	}
}

// decision is the metric label: the single decision, "mixed", or "".
func (r *record) decision() string {
	switch len(r.decisions) {
	case 0:
		return ""
	case 1:
		return r.decisions[0]
	}
	return "mixed"
}

// api wraps an endpoint: request id, panic recovery, authentication (bare
// 401), rate limit (429), body limit (413), OperationOutcome errors, one log
// line and the metrics.
func (s *Server) api(route string, h apiFunc) http.Handler { return s.endpoint(route, h, true) }

// open wraps an endpoint as api does but without authentication (the rate
// limit is then per remote IP): discovery, when discovery_auth is off.
func (s *Server) open(route string, h apiFunc) http.Handler { return s.endpoint(route, h, false) }

func (s *Server) endpoint(route string, h apiFunc, authenticate bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &record{requestID: requestID(r)}
		w.Header().Set("X-Request-Id", rec.requestID)
		status := s.serveAPI(w, r, h, rec, authenticate)
		s.finish(r, route, status, start, rec)
	})
}

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request, h apiFunc, rec *record, authenticate bool) (status int) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("panic", "request_id", rec.requestID, "panic", panicWord(p))
			rec.kind = "panic"
			status = http.StatusInternalServerError
			writeError(w, &httpError{Status: status, Code: "exception", Msg: "internal error"})
		}
	}()
	limitKey := "ip:" + remoteIP(r)
	if s.ver != nil && authenticate {
		// aud is the URL called: as decoded ($questionnaire-package) or as sent (%24…).
		v, err := s.ver.verify(r.Context(), r, s.cfg.PublicBaseURL+r.URL.Path, s.cfg.PublicBaseURL+r.URL.EscapedPath())
		if err != nil {
			f, _ := isAuthFailure(err)
			rec.kind = "auth-" + string(f)
			s.m.authFail.WithLabelValues(string(f)).Inc()
			w.Header().Set("WWW-Authenticate", `Bearer`)
			w.WriteHeader(http.StatusUnauthorized)
			return http.StatusUnauthorized
		}
		rec.issuer = v.Issuer
		limitKey = "iss:" + v.Issuer
	}
	if !s.lim.allow(limitKey) {
		rec.kind = "rate-limited"
		s.m.rateLimits.Inc()
		w.Header().Set("Retry-After", "1")
		writeError(w, &httpError{Status: http.StatusTooManyRequests, Code: "throttled", Msg: "too many requests"})
		return http.StatusTooManyRequests
	}
	body, err := readBody(w, r, s.cfg.BodyLimit)
	if err != nil {
		he := asHTTPError(err)
		rec.kind = he.Kind
		writeError(w, he)
		return he.Status
	}
	status, resp, err := h(r.Context(), r, body, rec)
	if err != nil {
		he := asHTTPError(err)
		rec.kind = he.Kind
		if he.Status >= 500 {
			s.log.Error("request failed", "request_id", rec.requestID, "kind", he.Kind, "error", errorWord(he))
		}
		writeError(w, he)
		return he.Status
	}
	if resp == nil {
		w.WriteHeader(status)
		return status
	}
	writeJSON(w, status, resp)
	return status
}

// readBody reads the request body up to limit bytes (413 beyond).
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if r.Body == nil || r.Method == http.MethodGet {
		return nil, nil
	}
	if r.ContentLength > limit {
		return nil, &http.MaxBytesError{Limit: limit}
	}
	body := http.MaxBytesReader(w, r.Body, limit)
	var b []byte
	var err error
	if r.ContentLength > 0 {
		// One allocation of the announced size (at most limit, checked above).
		b = make([]byte, r.ContentLength)
		var n int
		n, err = io.ReadFull(body, b)
		b = b[:n]
		if err == nil {
			var extra [1]byte
			if m, _ := body.Read(extra[:]); m > 0 {
				err = errors.New("body longer than Content-Length")
			}
		}
	} else {
		b, err = io.ReadAll(body)
	}
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return nil, mb
		}
		return nil, badRequest("read-body", "could not read the request body")
	}
	return b, nil
}

// plain wraps an operational endpoint (no auth): request id, log, metrics.
func (s *Server) plain(route string, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &record{requestID: requestID(r)}
		w.Header().Set("X-Request-Id", rec.requestID)
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h(sw, r)
		if route == "GET /metrics" || route == "GET /healthz" || route == "GET /readyz" {
			s.m.observe(route, sw.status, "", time.Since(start))
			return // probes and scrapes are not worth a log line each
		}
		s.finish(r, route, sw.status, start, rec)
	})
}

// finish logs the request and records its metrics.
func (s *Server) finish(r *http.Request, route string, status int, start time.Time, rec *record) {
	d := time.Since(start)
	s.m.observe(route, status, rec.decision(), d)
	attrs := []any{"request_id", rec.requestID, "method", r.Method, "route", route, "status", status,
		"duration_ms", float64(d.Microseconds()) / 1000}
	if rec.issuer != "" {
		attrs = append(attrs, "iss", rec.issuer)
	}
	if rec.hook != "" {
		attrs = append(attrs, "hook", rec.hook)
	}
	if rec.hookInstance != "" && validID(rec.hookInstance) {
		attrs = append(attrs, "hook_instance", rec.hookInstance)
	}
	if len(rec.decisions) > 0 {
		attrs = append(attrs, "decisions", strings.Join(rec.decisions, ","))
	}
	if rec.kind != "" {
		attrs = append(attrs, "kind", rec.kind)
	}
	attrs = append(attrs, rec.extra...)
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
	}
	s.log.Log(r.Context(), level, "request", attrs...)
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// requestID keeps a sane client-sent X-Request-Id, else makes one.
func requestID(r *http.Request) string {
	if id := r.Header.Get("X-Request-Id"); id != "" && len(id) <= 64 && validID(strings.ReplaceAll(id, "_", "-")) {
		return id
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// panicWord logs a panic's type only (its message may carry data).
func panicWord(p any) string {
	if e, ok := p.(error); ok {
		return "error " + errorType(e)
	}
	return "non-error panic"
}

// errorWord is what an unexpected error may show in logs: its kind and the
// error text of our own wrapping (FHIR decode paths, policy ids), which hold
// no resource content.
func errorWord(he *httpError) string {
	if he.Err != nil {
		return he.Err.Error()
	}
	return he.Msg
}

func errorType(e error) string {
	for {
		u := errors.Unwrap(e)
		if u == nil {
			break
		}
		e = u
	}
	return strings.TrimPrefix(strings.TrimPrefix(typeName(e), "*"), "errors.")
}

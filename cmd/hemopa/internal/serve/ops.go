package serve

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"reflect"
	"time"
)

// handleDiscovery answers GET /cds-services.
func (s *Server) handleDiscovery(context.Context, *http.Request, []byte, *record) (int, any, error) {
	return http.StatusOK, discovery(s.prefetch), nil
}

// handleHealth answers GET /healthz: the process serves.
func (s *Server) handleHealth(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// handleReady answers GET /readyz: policies compiled and every issuer's keys
// loaded.
func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if s.ver != nil {
		if err := s.ver.ready(ctx); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "reason": err.Error()})
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// handleJWKS serves the product's public JWKS (for EHR registration).
func (s *Server) handleJWKS(w http.ResponseWriter, _ *http.Request) {
	if s.jwks == nil {
		writeError(w, &httpError{Status: http.StatusNotFound, Code: "not-found", Msg: "no JWKS configured"})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(s.jwks)
}

// privateJWKMembers must not appear in a published JWKS.
var privateJWKMembers = []string{"d", "p", "q", "dp", "dq", "qi", "k", "oth"}

// loadPublicJWKS reads a JWKS file and refuses one holding private keys.
func loadPublicJWKS(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("jwks_file: %w", err)
	}
	var set struct {
		Keys []map[string]json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(b, &set); err != nil || set.Keys == nil {
		return nil, fmt.Errorf("jwks_file %s: not a JWKS ({\"keys\": [...]})", path)
	}
	for i, k := range set.Keys {
		if _, ok := k["kty"]; !ok {
			return nil, fmt.Errorf("jwks_file %s: keys[%d] has no kty", path, i)
		}
		for _, m := range privateJWKMembers {
			if _, ok := k[m]; ok {
				return nil, fmt.Errorf("jwks_file %s: keys[%d] holds private key material (%q): publish public keys only", path, i, m)
			}
		}
	}
	return b, nil
}

// handlePAS delegates to the PAS service (501 until one is mounted).
func (s *Server) handlePAS(op func(pasService) func(context.Context, []byte) (int, []byte)) apiFunc {
	return func(ctx context.Context, _ *http.Request, body []byte, rec *record) (int, any, error) {
		if s.pas == nil {
			return 0, nil, &httpError{Status: http.StatusNotImplemented, Code: "not-supported", Kind: "no-pas",
				Msg: "prior authorization submission is not configured on this server"}
		}
		status, resp := op(s.pas)(ctx, body)
		return status, fhirBody{json.RawMessage(resp)}, nil
	}
}

func typeName(v any) string { return reflect.TypeOf(v).String() }

package pas

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
)

// MaxBodyBytes bounds a request body read by Handler.
const MaxBodyBytes = 16 << 20

// Handler serves POST /Claim/$submit and POST /Claim/$inquire (mount it
// under the FHIR base, e.g. with http.StripPrefix). Bodies are FHIR JSON;
// replies are application/fhir+json with the status Submit or Inquire chose,
// 413 for a body over MaxBodyBytes.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /Claim/$submit", func(w http.ResponseWriter, r *http.Request) {
		s.serve(w, r, s.Submit)
	})
	mux.HandleFunc("POST /Claim/$inquire", func(w http.ResponseWriter, r *http.Request) {
		s.serve(w, r, s.Inquire)
	})
	return mux
}

func (s *Service) serve(w http.ResponseWriter, r *http.Request, op func(ctx context.Context, body []byte) (int, []byte)) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	status, resp := 0, []byte(nil)
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		status, resp = http.StatusRequestEntityTooLarge, outcome("error", "too-costly", "the request body is larger than "+strconv.Itoa(MaxBodyBytes)+" bytes", "")
	case err != nil:
		status, resp = http.StatusBadRequest, outcome("error", "structure", "the request body could not be read", "")
	default:
		status, resp = op(r.Context(), body)
	}
	w.Header().Set("Content-Type", "application/fhir+json")
	w.Header().Set("Content-Length", strconv.Itoa(len(resp)))
	w.WriteHeader(status)
	w.Write(resp)
}

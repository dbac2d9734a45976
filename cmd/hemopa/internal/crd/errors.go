package crd

import (
	"fmt"
	"net/http"

	"hemopa/cmd/hemopa/internal/serve/cdshooks"
)

// Refusals are the wire package's: a fixed Kind safe to log and count, and a
// Msg for the client who sent the data.

func badRequest(kind, format string, args ...any) *cdshooks.Error {
	return &cdshooks.Error{Status: http.StatusBadRequest, Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

func unprocessable(kind, format string, args ...any) *cdshooks.Error {
	return &cdshooks.Error{Status: http.StatusUnprocessableEntity, Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

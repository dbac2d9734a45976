package serve

import (
	"encoding/json"
	"errors"

	"hemopa/cmd/hemopa/internal/serve/cdshooks"
)

// The CDS Hooks wire types live in package cdshooks (standard library only,
// so the request decoder can be fuzzed quickly); these are their names here.
type (
	resource    = cdshooks.Resource
	HookRequest = cdshooks.Request
	HookContext = cdshooks.Context
)

const (
	hookOrderSign     = cdshooks.OrderSign
	hookOrderSelect   = cdshooks.OrderSelect
	hookOrderDispatch = cdshooks.OrderDispatch
	hookAppointment   = cdshooks.AppointmentBook
	hookEncStart      = cdshooks.EncounterStart
	hookEncDischarge  = cdshooks.EncounterDischarge
)

// DecodeHookRequest parses and checks a hook request (see cdshooks.Decode);
// refusals are 400 or 422 with an OperationOutcome.
func DecodeHookRequest(body []byte, hook string) (*HookRequest, error) {
	req, err := cdshooks.Decode(body, hook)
	if err != nil {
		var ce *cdshooks.Error
		if errors.As(err, &ce) {
			return nil, wireError(ce)
		}
		return nil, err
	}
	return req, nil
}

func parseResource(raw json.RawMessage) (resource, error)     { return cdshooks.ParseResource(raw) }
func bundleResources(raw json.RawMessage) ([]resource, error) { return cdshooks.BundleResources(raw) }
func refID(ref, typ string) (string, bool)                    { return cdshooks.RefID(ref, typ) }
func isNull(raw json.RawMessage) bool                         { return cdshooks.IsNull(raw) }
func jsonProblem(err error) string                            { return cdshooks.JSONProblem(err) }
func validID(id string) bool                                  { return cdshooks.ValidID(id) }

// validBundleResources reads a Bundle already validated (a slice of a
// decoded hook request).
func validBundleResources(raw json.RawMessage) ([]resource, error) {
	return cdshooks.ValidBundleResources(raw)
}

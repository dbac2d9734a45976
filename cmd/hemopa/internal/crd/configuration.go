package crd

import "hemopa/cmd/hemopa/internal/serve/cdshooks"

// Configuration is what the CRD client asked a hook call to return
// (extension["davinci-crd.configuration"], CRD dev-14): coverage
// information on or off, documentation requests on or off, the most cards.
// The wire package decodes it; DefaultConfiguration is a call without one.
type Configuration = cdshooks.Configuration

// DefaultConfiguration is every option at its advertised default.
func DefaultConfiguration() Configuration { return cdshooks.DefaultConfiguration() }

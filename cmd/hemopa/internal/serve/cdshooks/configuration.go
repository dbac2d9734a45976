package cdshooks

import (
	"fmt"
	"math"

	"github.com/tidwall/gjson"
)

// ConfigurationExtension is the hook request extension carrying the CRD
// client's settings (CRD deviations.md dev-12, dev-14).
const ConfigurationExtension = "davinci-crd.configuration"

// Configuration option codes (CRD dev-5, dev-7: codes from the CRD Response
// Types where one applies; coverage-info and max-cards as the IG's
// CRDServices example names them).
const (
	OptCoverageInfo = "coverage-info" // coverage information (systemActions and coverage-info cards)
	OptDTRClin      = "dtr-clin"      // documentation requests: doc-needed, questionnaire, DTR launch
	OptMaxCards     = "max-cards"     // at most this many cards, most important first
)

// DefaultMaxCards is max-cards when the client sends none (the IG example's
// default).
const DefaultMaxCards = 10

// Configuration is what a hook call asked the service to return.
type Configuration struct {
	CoverageInfo bool // coverage-info
	DocRequests  bool // dtr-clin
	MaxCards     int  // max-cards (0: no cards)
}

// DefaultConfiguration is a call without extension["davinci-crd.configuration"]
// (dev-15: never required).
func DefaultConfiguration() Configuration {
	return Configuration{CoverageInfo: true, DocRequests: true, MaxCards: DefaultMaxCards}
}

// Option is one davinci-crd.configuration-options entry of discovery (dev-4).
type Option struct {
	Code, Type, Name, Description string
	Default                       any
}

// Options are the configuration options a service offers: coverage-info and
// max-cards always, dtr-clin only where the hook may ask for documentation.
func Options(asksDocumentation bool) []Option {
	opts := []Option{{Code: OptCoverageInfo, Type: "boolean", Name: "Coverage Information",
		Description: "Coverage information for gene therapy orders: the coverage-information systemAction and the coverage card. False returns neither.",
		Default:     true}}
	if asksDocumentation {
		opts = append(opts, Option{Code: OptDTRClin, Type: "boolean", Name: "Clinical Documentation (DTR)",
			Description: "Requests for clinical documentation: doc-needed and the questionnaire in coverage information, and the DTR launch link. False asks for none.",
			Default:     true})
	}
	return append(opts, Option{Code: OptMaxCards, Type: "integer", Name: "Maximum cards",
		Description: "The most cards returned; critical cards are kept before warnings, warnings before information.",
		Default:     DefaultMaxCards})
}

// parse applies the extension's settings. Codes the service does not offer
// are ignored (dev-17); a known code with a value of the wrong type is an
// error naming it.
func (c *Configuration) parse(r gjson.Result) []string {
	const where = "extension." + ConfigurationExtension
	if !r.IsObject() {
		return []string{where + ": expected object"}
	}
	var errs []string
	boolean := func(code string, v gjson.Result, dst *bool) {
		if v.Type != gjson.True && v.Type != gjson.False {
			errs = append(errs, fmt.Sprintf("%s.%s: expected boolean", where, code))
			return
		}
		*dst = v.Bool()
	}
	r.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case OptCoverageInfo:
			boolean(k.Str, v, &c.CoverageInfo)
		case OptDTRClin:
			boolean(k.Str, v, &c.DocRequests)
		case OptMaxCards:
			n := v.Float()
			if v.Type != gjson.Number || n != math.Trunc(n) || n < 0 || n > math.MaxInt32 {
				errs = append(errs, fmt.Sprintf("%s.%s: expected a non-negative integer", where, OptMaxCards))
				break
			}
			c.MaxCards = int(n)
		}
		return true
	})
	return errs
}

package crd

import (
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/tidwall/gjson"

	"hemopa/cmd/hemopa/internal/davinci"
	"hemopa/cmd/hemopa/internal/router"
	"hemopa/cmd/hemopa/internal/serve/cdshooks"
	"hemopa/mapping"
)

// Call is the hook call orders are assessed for.
type Call struct {
	PatientID string // context.patientId
	Primary   bool   // order-sign, order-dispatch: documentation may be asked for
	Config    Configuration
}

// Record is the patient's data a hook call gathered: the prefetch, completed
// from the EHR.
type Record struct {
	Patient   resource   // the Patient of context.patientId
	Coverages []resource // the coverage key's Coverages
	Resources []resource // every key's resources but the Patient (the Coverages too), in template order
	// Gaps are the parts of the record that could not be read (optional
	// keys neither sent nor fetched): what they would carry is unreadable,
	// not absent.
	Gaps []mapping.Gap
}

// Assessment is the answer about one order.
type Assessment struct {
	Card     *davinci.Object // the clinician's card; nil for none
	Action   *davinci.Object // the systemAction updating the order; nil for none
	Decision string          // no-coverage, no-policy, or the determination's decision
	Policy   string          // the deciding policy ("" when nothing was decided)
}

// Assess decides one order: the policy of its Coverage's payer, the
// determination on the record, the order updated with the
// coverage-information extension, and the card. An order without an active
// Coverage gets an information card only; one whose payer is listed without
// a policy for the drug gets nothing.
func (s *Service) Assess(o *Order, call Call, rec *Record) (Assessment, error) {
	if pid, ok := cdshooks.RefID(o.Subject, "Patient"); o.Subject != "" && (!ok || pid != call.PatientID) {
		return Assessment{}, unprocessable("order-subject", "%s is not for context.patientId", o.Ref())
	}
	cv, err := pickCoverage(o, rec.Coverages)
	if err != nil {
		return Assessment{}, err
	}
	if cv == nil {
		c := davinci.O("uuid", newUUID(), "summary", o.Drug+": no active coverage on record — requirements not checked",
			"indicator", "info", "detail", "No active Coverage was found for the patient, so no payer policy could be applied.",
			"source", davinci.O("label", "hemopa", "topic", davinci.O("system", crdTempSystem, "code", "coverage-info", "display", "Coverage Information")))
		return Assessment{Card: c, Decision: "no-coverage"}, nil
	}
	pol, payer, err := s.policyFor(cv, o.Drug)
	if err != nil {
		return Assessment{}, err
	}
	if pol == nil {
		return Assessment{Decision: "no-policy"}, nil
	}
	dec, err := s.dec.decide(patientResources(o, rec), pol, s.day(), call.PatientID, rec.Gaps...)
	if err != nil {
		return Assessment{}, err
	}
	ci := davinci.CoverageInfoFor(dec.Det, davinci.AssertionInput{Coverage: cv.Ref(), AssertionID: dec.Key, AskDocumentation: call.Primary,
		BillingCode: s.p.Mapper.BillingCode(o.Drug)})
	s.authorize(o, call, cv, dec, ci) // pa-needed satisfied where the payer authorizes at order time (authorize.go)
	if err := ci.Validate(); err != nil {
		return Assessment{}, fmt.Errorf("%s: %w", pol.ID, err)
	}
	action, err := systemAction(o, ci, pol.ID)
	if err != nil {
		return Assessment{}, err
	}
	card := s.card(cardInput{Order: o, Dec: dec, Payer: insurer(payer, cv), Coverage: cv.Ref(), Primary: call.Primary, Satisfied: ci.SatisfiedPAID})
	return Assessment{Card: card, Action: action, Decision: string(dec.Det.Decision), Policy: pol.ID}, nil
}

// patientResources is the record the policy is evaluated on: the Patient,
// the order (as the mapping reads it), then every prefetch key's resources,
// each resource once.
func patientResources(o *Order, rec *Record) []resource {
	var set resourceSet
	set.add(rec.Patient, o.eval)
	set.skip(o.Ref())
	set.add(rec.Resources...)
	return set.list
}

// systemAction is the update of the draft order carrying the coverage
// information extension (replacing an earlier one for the same Coverage).
// When the order already carries the same coverage information (all but its
// date), there is nothing to update and the action is nil: CRD resp-35 sends
// a systemAction only when something changed.
func systemAction(o *Order, ci *davinci.CoverageInfo, policy string) (*davinci.Object, error) {
	res, err := orderedObject(o.Raw)
	if err != nil {
		return nil, badRequest("bad-order", "%s: %v", o.Ref(), err)
	}
	var exts []any
	if raw, ok := res.Get("extension").(json.RawMessage); ok {
		var old []json.RawMessage
		if err := json.Unmarshal(raw, &old); err != nil {
			return nil, badRequest("bad-order", "%s: extension is not a list", o.Ref())
		}
		for _, e := range old {
			if !sameCoverageInfo(e, ci.Coverage) {
				exts = append(exts, e)
			} else if unchanged(e, ci) {
				return nil, nil
			}
		}
	}
	exts = append(exts, ci.Extension())
	res.Set("extension", exts)
	return davinci.O("type", "update",
		"description", "Coverage information for "+o.Ref()+" under "+policy,
		"resource", res), nil
}

// sameCoverageInfo reports a coverage-information extension about a Coverage.
func sameCoverageInfo(raw json.RawMessage, coverage string) bool {
	var e struct {
		URL       string `json:"url"`
		Extension []struct {
			URL            string     `json:"url"`
			ValueReference *reference `json:"valueReference"`
		} `json:"extension"`
	}
	if json.Unmarshal(raw, &e) != nil || e.URL != davinci.CoverageInfoURL {
		return false
	}
	for _, s := range e.Extension {
		if s.URL == "coverage" && s.ValueReference != nil && router.SameRef(s.ValueReference.Reference, coverage) {
			return true
		}
	}
	return false
}

// unchanged reports an order's coverage-information extension that says
// what ci says, its assertion date aside. The comparison is of the JSON
// values (key order and string escapes as the EHR wrote them do not matter).
func unchanged(old json.RawMessage, ci *davinci.CoverageInfo) bool {
	b, err := davinci.JSON(ci.Extension(), false)
	if err != nil {
		return false
	}
	a, okA := withoutDate(old)
	n, okN := withoutDate(b)
	return okA && okN && reflect.DeepEqual(a, n)
}

// withoutDate is a coverage-information extension's sub-extensions other
// than date, decoded, in order.
func withoutDate(ext []byte) ([]any, bool) {
	var e struct {
		Extension []map[string]any `json:"extension"`
	}
	if json.Unmarshal(ext, &e) != nil {
		return nil, false
	}
	var out []any
	for _, s := range e.Extension {
		if s["url"] != "date" {
			out = append(out, s)
		}
	}
	return out, true
}

// orderedObject reads a JSON object keeping its key order (values raw).
func orderedObject(raw json.RawMessage) (*davinci.Object, error) {
	if !gjson.ValidBytes(raw) {
		return nil, fmt.Errorf("malformed JSON object")
	}
	r := gjson.ParseBytes(raw)
	if !r.IsObject() {
		return nil, fmt.Errorf("not a JSON object")
	}
	obj := davinci.O()
	r.ForEach(func(k, v gjson.Result) bool {
		obj.Set(k.Str, json.RawMessage(v.Raw))
		return true
	})
	return obj, nil
}

package serve

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/tidwall/gjson"

	"hemopa/cmd/hemopa/internal/davinci"
	"hemopa/cmd/hemopa/internal/router"
)

// handleHook answers POST /cds-services/{id}.
func (s *Server) handleHook(ctx context.Context, r *http.Request, body []byte, rec *record) (int, any, error) {
	svc, ok := serviceByID(r.PathValue("id"))
	if !ok {
		return 0, nil, &httpError{Status: http.StatusNotFound, Code: "not-found", Kind: "no-service", Msg: "no such CDS service"}
	}
	rec.hook = svc.Hook
	req, err := DecodeHookRequest(body, svc.Hook)
	if err != nil {
		return 0, nil, err
	}
	rec.hookInstance = req.HookInstance
	g, err := s.newGatherer(req)
	if err != nil {
		return 0, nil, err
	}
	defer g.tokenUse()
	candidates, companions, err := s.hookOrders(ctx, req, g)
	if err != nil {
		return 0, nil, err
	}
	orders, err := s.findOrders(candidates, companions)
	if err != nil {
		return 0, nil, err
	}
	if len(orders) == 0 {
		rec.addDecision("no-order")
		return http.StatusOK, davinci.O("cards", []any{}), nil
	}
	data, err := g.collect(ctx)
	if err != nil {
		return 0, nil, err
	}
	patient := data.byKey["patient"]
	if len(patient) != 1 || patient[0].Type != "Patient" {
		return 0, nil, preconditionFailed("no-patient", "prefetch patient must hold the Patient of context.patientId")
	}
	cards, actions := []any{}, []any{}
	for i := range orders {
		card, action, decision, err := s.assess(&orders[i], req, svc, data)
		if err != nil {
			return 0, nil, err
		}
		rec.addDecision(decision)
		if card != nil {
			cards = append(cards, card)
		}
		if action != nil {
			actions = append(actions, action)
		}
	}
	resp := davinci.O("cards", cards)
	if len(actions) > 0 {
		resp.Set("systemActions", actions)
	}
	return http.StatusOK, resp, nil
}

// assess decides one order: its card, its systemAction and the decision word.
func (s *Server) assess(o *order, req *HookRequest, svc service, data *patientData) (card, action *davinci.Object, decision string, err error) {
	if pid, ok := refID(o.Subject, "Patient"); o.Subject != "" && (!ok || pid != req.Context.PatientID) {
		return nil, nil, "", unprocessable("order-subject", "%s is not for context.patientId", o.Ref())
	}
	cv, err := pickCoverage(o, data.byKey["coverage"])
	if err != nil {
		return nil, nil, "", err
	}
	if cv == nil {
		c := davinci.O("uuid", newUUID(), "summary", o.Drug+": no active coverage on record — requirements not checked",
			"indicator", "info", "detail", "No active Coverage was found for the patient, so no payer policy could be applied.",
			"source", davinci.O("label", "hemopa", "topic", davinci.O("system", crdTempSystem, "code", "coverage-info", "display", "Coverage Information")))
		return c, nil, "no-coverage", nil
	}
	pol, payer, err := s.cfg.policyFor(cv, o.Drug)
	if err != nil {
		return nil, nil, "", err
	}
	if pol == nil {
		return nil, nil, "no-policy", nil
	}
	rs := patientResources(o, data)
	dec, err := s.dec.decide(rs, pol, s.cfg.evalDay(), req.Context.PatientID, data.gaps...)
	if err != nil {
		return nil, nil, "", err
	}
	ci := davinci.CoverageInfoFor(dec.Det, davinci.AssertionInput{Coverage: cv.Ref(), AssertionID: dec.Key, AskDocumentation: svc.Primary})
	if err := ci.Validate(); err != nil {
		return nil, nil, "", fmt.Errorf("%s: %w", pol.ID, err)
	}
	action, err = systemAction(o, ci, pol.ID)
	if err != nil {
		return nil, nil, "", err
	}
	s.m.decisions.WithLabelValues(svc.Hook, pol.ID, string(dec.Det.Decision)).Inc()
	card = s.card(cardInput{Order: o, Dec: dec, Payer: payer, Coverage: cv.Ref(), Primary: svc.Primary})
	return card, action, string(dec.Det.Decision), nil
}

// patientResources is the record the policy is evaluated on: the Patient,
// the order (as the mapping reads it), then every prefetch key's resources,
// each resource once.
func patientResources(o *order, data *patientData) []resource {
	seen := map[string]bool{}
	var out []resource
	add := func(r resource) {
		if r.ID != "" {
			if seen[r.Ref()] {
				return
			}
			seen[r.Ref()] = true
		}
		out = append(out, r)
	}
	add(data.byKey["patient"][0])
	add(o.eval)
	seen[o.Ref()] = true
	for _, k := range data.keys {
		if k.Name == "patient" {
			continue
		}
		for _, r := range data.byKey[k.Name] {
			add(r)
		}
	}
	return out
}

// systemAction is the update of the draft order carrying the coverage
// information extension (replacing an earlier one for the same Coverage).
func systemAction(o *order, ci *davinci.CoverageInfo, policy string) (*davinci.Object, error) {
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

// handleFeedback answers POST /cds-services/{id}/feedback: logged as counts
// and outcomes only (cards and overrides may name patients).
func (s *Server) handleFeedback(_ context.Context, r *http.Request, body []byte, rec *record) (int, any, error) {
	if _, ok := serviceByID(r.PathValue("id")); !ok {
		return 0, nil, &httpError{Status: http.StatusNotFound, Code: "not-found", Kind: "no-service", Msg: "no such CDS service"}
	}
	var fb struct {
		Feedback []struct {
			Outcome string `json:"outcome"`
		} `json:"feedback"`
	}
	if err := json.Unmarshal(body, &fb); err != nil {
		return 0, nil, badRequest("bad-json", "invalid feedback JSON: %s", jsonProblem(err))
	}
	outcomes := map[string]int{}
	for _, f := range fb.Feedback {
		switch f.Outcome {
		case "accepted", "overridden":
			outcomes[f.Outcome]++
		default:
			outcomes["other"]++
		}
	}
	rec.extra = append(rec.extra, "feedback", len(fb.Feedback), "accepted", outcomes["accepted"], "overridden", outcomes["overridden"])
	return http.StatusOK, nil, nil
}

package serve

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"hemopa/cmd/hemopa/internal/crd"
	"hemopa/cmd/hemopa/internal/davinci"
	"hemopa/cmd/hemopa/internal/serve/cdshooks"
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
	orders, others, err := s.crd.Classify(candidates, companions)
	if err != nil {
		return 0, nil, err
	}
	call := hookCall(req, svc)
	if !svc.Primary {
		others = nil // coverage information for every order is a primary-hook duty (resp-26)
	}
	if len(orders) == 0 && len(others) == 0 {
		rec.addDecision("no-order")
		return http.StatusOK, davinci.O("cards", []any{}), nil
	}
	cards, actions := []any{}, []any{}
	if len(orders) == 0 {
		// Only orders hemopa does not decide: read the Coverages, nothing else.
		covs, err := g.coverages(ctx)
		var he *httpError
		if errors.As(err, &he) && he.Status == http.StatusPreconditionFailed {
			// The Coverages cannot be had: coverage information needs one,
			// and a 412 would hold up an order hemopa does not decide.
			rec.addDecision("no-coverage")
			return http.StatusOK, davinci.O("cards", []any{}), nil
		}
		if err != nil {
			return 0, nil, err
		}
		if actions, err = s.assessUnmanaged(others, call, covs, rec); err != nil {
			return 0, nil, err
		}
		cards, actions = applyConfiguration(call.Config, cards, actions)
		return http.StatusOK, cdsResponse(cards, actions), nil
	}
	data, err := g.collect(ctx)
	if err != nil {
		return 0, nil, err
	}
	record, err := data.record()
	if err != nil {
		return 0, nil, err
	}
	for i := range orders {
		a, err := s.crd.Assess(&orders[i], call, record)
		if err != nil {
			return 0, nil, err
		}
		rec.addDecision(a.Decision)
		if a.Policy != "" {
			s.m.decisions.WithLabelValues(svc.Hook, a.Policy, a.Decision).Inc()
		}
		if a.Card != nil {
			cards = append(cards, a.Card)
		}
		if a.Action != nil {
			actions = append(actions, a.Action)
		}
	}
	more, err := s.assessUnmanaged(others, call, record.Coverages, rec)
	if err != nil {
		return 0, nil, err
	}
	actions = append(actions, more...)
	cards, actions = applyConfiguration(call.Config, cards, actions)
	return http.StatusOK, cdsResponse(cards, actions), nil
}

// assessUnmanaged answers the orders hemopa has no policy for with the
// payer's coverage information for unmanaged items (systemActions only).
func (s *Server) assessUnmanaged(others []crd.Order, call crd.Call, covs []cdshooks.Resource, rec *record) ([]any, error) {
	var actions []any
	for i := range others {
		a, err := s.crd.AssessUnmanaged(&others[i], call, covs)
		if err != nil {
			return nil, err
		}
		rec.addDecision(a.Decision)
		if a.Action != nil {
			actions = append(actions, a.Action)
		}
	}
	return actions, nil
}

func cdsResponse(cards, actions []any) *davinci.Object {
	resp := davinci.O("cards", cards)
	if len(actions) > 0 {
		resp.Set("systemActions", actions)
	}
	return resp
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

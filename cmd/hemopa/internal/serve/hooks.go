package serve

import (
	"context"
	"encoding/json"
	"net/http"

	"hemopa/cmd/hemopa/internal/davinci"
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
	orders, err := s.crd.Orders(candidates, companions)
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
	record, err := data.record()
	if err != nil {
		return 0, nil, err
	}
	call := hookCall(req, svc)
	cards, actions := []any{}, []any{}
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
	cards, actions = applyConfiguration(call.Config, cards, actions)
	resp := davinci.O("cards", cards)
	if len(actions) > 0 {
		resp.Set("systemActions", actions)
	}
	return http.StatusOK, resp, nil
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

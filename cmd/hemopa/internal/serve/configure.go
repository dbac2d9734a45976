package serve

import (
	"slices"

	"hemopa/cmd/hemopa/internal/crd"
	"hemopa/cmd/hemopa/internal/davinci"
)

// hookCall is the crd.Call of a request to a service: documentation is asked
// for only on a primary hook whose client left dtr-clin on (CRD hook-19,
// dev-14).
func hookCall(req *HookRequest, svc service) crd.Call {
	cfg := req.Configuration
	return crd.Call{PatientID: req.Context.PatientID, Primary: svc.Primary && cfg.DocRequests, Config: cfg}
}

// applyConfiguration trims the assessed response to what the client's
// davinci-crd.configuration asked for (dev-5, dev-14): with coverage-info
// off no systemActions and no coverage-info cards; then at most max-cards
// cards, critical before warning before info (a stable sort, so equal
// cards keep the order of the orders).
func applyConfiguration(cfg crd.Configuration, cards, actions []any) ([]any, []any) {
	if !cfg.CoverageInfo {
		actions = nil
		cards = slices.DeleteFunc(cards, func(c any) bool { return cardTopic(c) == "coverage-info" })
	}
	if len(cards) > cfg.MaxCards {
		cards = slices.Clone(cards)
		slices.SortStableFunc(cards, func(a, b any) int { return indicatorRank(b) - indicatorRank(a) })
		cards = cards[:cfg.MaxCards]
	}
	return cards, actions
}

// indicatorRank orders cards by importance: critical 2, warning 1, info 0.
func indicatorRank(c any) int {
	o, _ := c.(*davinci.Object)
	if o == nil {
		return 0
	}
	switch o.Get("indicator") {
	case "critical":
		return 2
	case "warning":
		return 1
	}
	return 0
}

// cardTopic is a card's source.topic.code ("" when it has none).
func cardTopic(c any) string {
	o, _ := c.(*davinci.Object)
	if o == nil {
		return ""
	}
	src, _ := o.Get("source").(*davinci.Object)
	if src == nil {
		return ""
	}
	topic, _ := src.Get("topic").(*davinci.Object)
	if topic == nil {
		return ""
	}
	code, _ := topic.Get("code").(string)
	return code
}

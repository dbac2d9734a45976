package serve

import (
	"hemopa/cmd/hemopa/internal/davinci"
)

// service is one CDS Hooks service.
type service struct {
	ID, Hook, Title, Description string
	Primary                      bool // may ask for documentation (CRD primary hooks)
}

var services = []service{
	{ID: "hemopa-order-sign", Hook: hookOrderSign, Primary: true, Title: "Hemophilia gene therapy coverage requirements (order-sign)",
		Description: "Coverage and prior authorization requirements for Hemgenix, Beqvez and Roctavian orders at signing: " +
			"what the payer policy needs, what the record already shows, and the documentation form for what is missing."},
	{ID: "hemopa-order-select", Hook: hookOrderSelect, Title: "Hemophilia gene therapy coverage requirements (order-select)",
		Description: "Early coverage and prior authorization guidance when a Hemgenix, Beqvez or Roctavian order is selected (no documentation requests)."},
	{ID: "hemopa-order-dispatch", Hook: hookOrderDispatch, Primary: true, Title: "Hemophilia gene therapy coverage requirements (order-dispatch)",
		Description: "Coverage and prior authorization requirements when a Hemgenix, Beqvez or Roctavian order is dispatched to a performer."},
}

func serviceByID(id string) (service, bool) {
	for _, s := range services {
		if s.ID == id {
			return s, true
		}
	}
	return service{}, false
}

// discovery is the GET /cds-services answer: every service asks for the
// same prefetch keys.
func discovery(keys []prefetchKey) *davinci.Object {
	prefetch := davinci.O()
	for _, k := range keys {
		prefetch.Set(k.Name, k.Template)
	}
	var list []any
	for _, s := range services {
		list = append(list, davinci.O("hook", s.Hook, "id", s.ID, "title", s.Title, "description", s.Description,
			"prefetch", prefetch))
	}
	return davinci.O("services", list)
}

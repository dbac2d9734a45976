package serve

import (
	"hemopa/cmd/hemopa/internal/davinci"
	"hemopa/cmd/hemopa/internal/serve/cdshooks"
)

// service is one CDS Hooks service.
type service struct {
	ID, Hook, Title, Description string
	Primary                      bool // may ask for documentation (CRD primary hooks)
	// Prefetch names what the service asks for: the patient record (order
	// hooks), the record and the appointments' ServiceRequests
	// (appointment-book), or nothing (the encounter hooks, which assess no
	// order and so read no record).
	Prefetch prefetchSet
}

// prefetchSet is the prefetch a service's discovery entry asks for.
type prefetchSet int

const (
	prefetchRecord prefetchSet = iota
	prefetchRecordAndServiceRequests
	prefetchNone
)

// crdVersions are the CRD versions each service answers to (CRD dev-1; the
// IG's own CRDServices example writes major.minor).
var crdVersions = []string{"2.2"}

var services = []service{
	{ID: "hemopa-order-sign", Hook: hookOrderSign, Primary: true, Title: "Hemophilia gene therapy coverage requirements (order-sign)",
		Description: "Coverage and prior authorization requirements for Hemgenix, Beqvez and Roctavian orders at signing: " +
			"what the payer policy needs, what the record already shows, and the documentation form for what is missing."},
	{ID: "hemopa-order-select", Hook: hookOrderSelect, Title: "Hemophilia gene therapy coverage requirements (order-select)",
		Description: "Early coverage and prior authorization guidance when a Hemgenix, Beqvez or Roctavian order is selected (no documentation requests)."},
	{ID: "hemopa-order-dispatch", Hook: hookOrderDispatch, Primary: true, Title: "Hemophilia gene therapy coverage requirements (order-dispatch)",
		Description: "Coverage and prior authorization requirements when a Hemgenix, Beqvez or Roctavian order is dispatched to a performer."},
	{ID: "hemopa-appointment-book", Hook: hookAppointment, Primary: true, Prefetch: prefetchRecordAndServiceRequests,
		Title: "Hemophilia gene therapy coverage requirements (appointment-book)",
		Description: "Coverage and prior authorization requirements for the Hemgenix, Beqvez or Roctavian order an infusion appointment is booked for, " +
			"with the documentation form for what is missing."},
	{ID: "hemopa-encounter-start", Hook: hookEncStart, Prefetch: prefetchNone,
		Title:       "Hemophilia gene therapy coverage requirements (encounter-start)",
		Description: "Answers encounter-start without cards: hemopa assesses gene therapy orders, and this hook carries none (no documentation requests)."},
	{ID: "hemopa-encounter-discharge", Hook: hookEncDischarge, Prefetch: prefetchNone,
		Title:       "Hemophilia gene therapy coverage requirements (encounter-discharge)",
		Description: "Answers encounter-discharge without cards: hemopa assesses gene therapy orders, and this hook carries none (no documentation requests)."},
}

func serviceByID(id string) (service, bool) {
	for _, s := range services {
		if s.ID == id {
			return s, true
		}
	}
	return service{}, false
}

// appointmentServiceRequests is appointment-book's extra key: the patient's
// ServiceRequests, among them the appointments' basis (CDS Hooks 2.0 tokens
// cannot follow context.appointments, so the search is by patient; an order
// not found there is read by reference).
var appointmentServiceRequests = prefetchKey{Name: "serviceRequests", Template: "ServiceRequest?patient={{context.patientId}}"}

// discovery is the GET /cds-services answer: each service with its
// prefetch, the CRD versions and its configuration options (dev-1, dev-5).
func discovery(keys []prefetchKey) *davinci.Object {
	var list []any
	for _, s := range services {
		list = append(list, davinci.O("hook", s.Hook, "id", s.ID, "title", s.Title, "description", s.Description,
			"prefetch", s.prefetch(keys), "extension", s.extension()))
	}
	return davinci.O("services", list)
}

// prefetch is the service's prefetch templates by key.
func (s service) prefetch(keys []prefetchKey) *davinci.Object {
	out := davinci.O()
	switch s.Prefetch {
	case prefetchNone:
		return out
	case prefetchRecordAndServiceRequests:
		keys = append(keys[:len(keys):len(keys)], appointmentServiceRequests)
	}
	for _, k := range keys {
		out.Set(k.Name, k.Template)
	}
	return out
}

// extension is the service's davinci-crd.version and
// davinci-crd.configuration-options.
func (s service) extension() *davinci.Object {
	var opts []any
	for _, o := range cdshooks.Options(s.Primary) {
		opts = append(opts, davinci.O("code", o.Code, "type", o.Type, "name", o.Name, "description", o.Description, "default", o.Default))
	}
	return davinci.O("davinci-crd.version", crdVersions, "davinci-crd.configuration-options", opts)
}

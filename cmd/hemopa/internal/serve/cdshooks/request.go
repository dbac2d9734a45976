package cdshooks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"

	"github.com/tidwall/gjson"
)

// Request is a CDS Hooks 2.0 service request.
type Request struct {
	Hook              string             `json:"hook"`
	HookInstance      string             `json:"hookInstance"`
	FHIRServer        string             `json:"fhirServer"`
	FHIRAuthorization *FHIRAuthorization `json:"fhirAuthorization"`
	Context           Context            `json:"context"`
	// Prefetch by key: a present key whose value is JSON null means "searched,
	// nothing found"; an absent key means "not prefetched".
	Prefetch map[string]json.RawMessage `json:"prefetch"`
	// Configuration is extension["davinci-crd.configuration"] over the
	// defaults (CRD dev-14).
	Configuration Configuration `json:"-"`
}

// Context is the context of the hooks served.
type Context struct {
	UserID      string          `json:"userId"`
	PatientID   string          `json:"patientId"`
	EncounterID string          `json:"encounterId"`
	DraftOrders json.RawMessage `json:"draftOrders"` // order-sign, order-select: a Bundle
	Selections  []string        `json:"selections"`  // order-select
	// order-dispatch
	DispatchedOrders []string `json:"dispatchedOrders"` // CDS Hooks 2.0
	Order            string   `json:"order"`            // CRD 2.x (the Inferno kit, the RI)
	Performer        string   `json:"performer"`
	// appointment-book: a Bundle of Appointments
	Appointments json.RawMessage `json:"appointments"`
}

// DispatchedRefs are order-dispatch's orders: context.order then
// context.dispatchedOrders, each once.
func (c *Context) DispatchedRefs() []string {
	var out []string
	for _, r := range append([]string{c.Order}, c.DispatchedOrders...) {
		if r != "" && !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}

// FHIRAuthorization is the EHR's access token for its FHIR server. It is
// never logged or stored: its String and LogValue show no token.
type FHIRAuthorization struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   any    `json:"expires_in"`
	Scope       string `json:"scope"`
	Subject     string `json:"subject"`
	Patient     string `json:"patient"`
}

func (a *FHIRAuthorization) String() string   { return "fhirAuthorization{redacted}" }
func (a *FHIRAuthorization) GoString() string { return a.String() }

// LogValue keeps the token out of structured logs.
func (a *FHIRAuthorization) LogValue() slog.Value { return slog.StringValue(a.String()) }

// Hooks the product serves.
const (
	OrderSign     = "order-sign"
	OrderSelect   = "order-select"
	OrderDispatch = "order-dispatch"
	// AppointmentBook is CRD primary: the orders are the appointments' basedOn.
	AppointmentBook = "appointment-book"
	// EncounterStart and EncounterDischarge are CRD secondary: no order in
	// context.
	EncounterStart     = "encounter-start"
	EncounterDischarge = "encounter-discharge"
)

// Decode parses and checks a hook request for a service's hook. Unparseable
// JSON is an *Error with status 400; JSON that breaks CDS Hooks or CRD rules
// one with status 422.
func Decode(body []byte, hook string) (*Request, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return nil, badRequest("bad-json", "the request body is not a JSON object")
	}
	req, err := parse(body)
	if err != nil {
		return nil, err
	}
	if err := req.check(hook); err != nil {
		return nil, err
	}
	return req, nil
}

// parse reads the request in one validating pass and one walk over its
// keys: the prefetch and draftOrders stay raw (slices of body), to be read
// later. Types are checked as encoding/json would (a string field holding a
// number is a 400).
func parse(body []byte) (*Request, error) {
	if !gjson.ValidBytes(body) {
		return nil, badRequest("bad-json", "invalid hook request JSON: malformed JSON")
	}
	var errs []string
	str := func(r gjson.Result, name string) string {
		switch r.Type {
		case gjson.Null:
			return ""
		case gjson.String:
			return r.Str
		}
		errs = append(errs, name+": expected string")
		return ""
	}
	obj := func(r gjson.Result, name string) bool {
		if r.Type == gjson.Null {
			return false
		}
		if !r.IsObject() {
			errs = append(errs, name+": expected object")
			return false
		}
		return true
	}
	strs := func(r gjson.Result, name string) []string {
		if r.Type == gjson.Null {
			return nil
		}
		if !r.IsArray() {
			errs = append(errs, name+": expected array")
			return nil
		}
		out := []string{}
		r.ForEach(func(_, e gjson.Result) bool {
			out = append(out, str(e, name+"[]"))
			return true
		})
		return out
	}
	req := &Request{Configuration: DefaultConfiguration()}
	seen := map[string]bool{}
	gjson.Parse(view(body)).ForEach(func(k, v gjson.Result) bool {
		if seen[k.Str] { // the first of duplicate keys counts
			return true
		}
		seen[k.Str] = true
		switch k.Str {
		case "hook":
			req.Hook = str(v, "hook")
		case "hookInstance":
			req.HookInstance = str(v, "hookInstance")
		case "fhirServer":
			req.FHIRServer = str(v, "fhirServer")
		case "fhirAuthorization":
			if obj(v, "fhirAuthorization") {
				req.FHIRAuthorization = &FHIRAuthorization{
					AccessToken: str(v.Get("access_token"), "fhirAuthorization.access_token"),
					TokenType:   str(v.Get("token_type"), "fhirAuthorization.token_type"),
					ExpiresIn:   v.Get("expires_in").Value(),
					Scope:       str(v.Get("scope"), "fhirAuthorization.scope"),
					Subject:     str(v.Get("subject"), "fhirAuthorization.subject"),
					Patient:     str(v.Get("patient"), "fhirAuthorization.patient"),
				}
			}
		case "context":
			if !obj(v, "context") {
				break
			}
			c := &req.Context
			cseen := map[string]bool{}
			v.ForEach(func(ck, cv gjson.Result) bool {
				if cseen[ck.Str] {
					return true
				}
				cseen[ck.Str] = true
				switch ck.Str {
				case "userId":
					c.UserID = str(cv, "context.userId")
				case "patientId":
					c.PatientID = str(cv, "context.patientId")
				case "encounterId":
					c.EncounterID = str(cv, "context.encounterId")
				case "selections":
					c.Selections = strs(cv, "context.selections")
				case "dispatchedOrders":
					c.DispatchedOrders = strs(cv, "context.dispatchedOrders")
				case "performer":
					c.Performer = str(cv, "context.performer")
				case "order":
					c.Order = str(cv, "context.order")
				case "appointments":
					c.Appointments = rawOf(body, cv)
				case "draftOrders":
					c.DraftOrders = rawOf(body, cv)
				}
				return true
			})
		case "extension":
			if obj(v, "extension") {
				if cfg := v.Get(gjson.Escape(ConfigurationExtension)); cfg.Exists() {
					errs = append(errs, req.Configuration.parse(cfg)...)
				}
			}
		case "prefetch":
			if !obj(v, "prefetch") {
				break
			}
			req.Prefetch = map[string]json.RawMessage{}
			v.ForEach(func(pk, pv gjson.Result) bool {
				if _, dup := req.Prefetch[pk.Str]; !dup {
					req.Prefetch[pk.Str] = rawOf(body, pv)
				}
				return true
			})
		}
		return true
	})
	if len(errs) > 0 {
		return nil, badRequest("bad-json", "invalid hook request JSON: %s", strings.Join(errs, "; "))
	}
	return req, nil
}

// jsonProblem describes a JSON error without echoing values.
func JSONProblem(err error) string {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		return fmt.Sprintf("%s: expected %s, got JSON %s", te.Field, te.Type, te.Value)
	case errors.As(err, &se):
		return fmt.Sprintf("syntax error at offset %d", se.Offset)
	}
	return "malformed JSON"
}

func (r *Request) check(hook string) error {
	switch {
	case r.Hook == "":
		return unprocessable("hook", "hook is required")
	case r.Hook != hook:
		return unprocessable("hook", "this service answers %s, not %q", hook, r.Hook)
	case r.HookInstance == "":
		return unprocessable("hook", "hookInstance is required")
	case r.Context.PatientID == "":
		return unprocessable("context", "context.patientId is required")
	case strings.ContainsAny(r.Context.PatientID, "/?#&= "):
		return unprocessable("context", "context.patientId must be a bare id")
	}
	if r.FHIRServer != "" {
		u, err := url.Parse(r.FHIRServer)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return unprocessable("fhir-server", "fhirServer must be an absolute http(s) URL")
		}
	}
	if a := r.FHIRAuthorization; a != nil {
		switch {
		case r.FHIRServer == "":
			return unprocessable("fhir-authorization", "fhirAuthorization requires fhirServer")
		case a.AccessToken == "":
			return unprocessable("fhir-authorization", "fhirAuthorization.access_token is required")
		case !strings.EqualFold(a.TokenType, "Bearer"):
			return unprocessable("fhir-authorization", "fhirAuthorization.token_type must be Bearer")
		}
	}
	for k, v := range r.Prefetch {
		if t := bytes.TrimSpace(v); len(t) == 0 || (t[0] != '{' && !bytes.Equal(t, []byte("null"))) {
			return unprocessable("prefetch", "prefetch %q must be a FHIR resource or null", k)
		}
	}
	switch r.Hook {
	case OrderSign, OrderSelect:
		if err := checkBundle(r.Context.DraftOrders, "context.draftOrders"); err != nil {
			return err
		}
		if r.Hook == OrderSelect {
			if len(r.Context.Selections) == 0 {
				return unprocessable("context", "order-select requires context.selections")
			}
			for _, s := range r.Context.Selections {
				if t, id, ok := strings.Cut(s, "/"); !ok || t == "" || id == "" {
					return unprocessable("context", "context.selections must be Type/id references")
				}
			}
		}
	case OrderDispatch:
		return r.checkDispatch()
	case AppointmentBook:
		return checkBundle(r.Context.Appointments, "context.appointments")
	case EncounterStart, EncounterDischarge:
		if r.Context.EncounterID == "" {
			return unprocessable("context", "%s requires context.encounterId", r.Hook)
		}
	}
	return nil
}

// checkDispatch requires order-dispatch's orders (context.order, the CRD
// shape, or context.dispatchedOrders, the CDS Hooks one) and performer.
func (r *Request) checkDispatch() error {
	refs := r.Context.DispatchedRefs()
	if len(refs) == 0 {
		return unprocessable("context", "order-dispatch requires context.order or context.dispatchedOrders")
	}
	if r.Context.Performer == "" {
		return unprocessable("context", "order-dispatch requires context.performer")
	}
	for _, s := range refs {
		if t, id, ok := strings.Cut(s, "/"); !ok || t == "" || id == "" || !slices.Contains(OrderTypes, t) {
			return unprocessable("context", "context.order and context.dispatchedOrders must be references to orders (e.g. MedicationRequest/123)")
		}
	}
	return nil
}

// OrderTypes are the request resources an order hook may carry.
var OrderTypes = []string{"MedicationRequest", "ServiceRequest", "DeviceRequest", "NutritionOrder",
	"VisionPrescription", "CommunicationRequest", "SupplyRequest"}

// checkBundle requires a JSON object whose resourceType is Bundle.
func checkBundle(raw json.RawMessage, what string) error {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || bytes.Equal(t, []byte("null")) {
		return unprocessable("context", "%s is required", what)
	}
	if t[0] != '{' {
		return unprocessable("context", "%s must be a Bundle", what)
	}
	var head struct {
		ResourceType string `json:"resourceType"`
	}
	if err := json.Unmarshal(t, &head); err != nil || head.ResourceType != "Bundle" {
		return unprocessable("context", "%s must be a Bundle", what)
	}
	return nil
}

// Error is a refused request: Status 400 (unparseable) or 422 (breaks the
// rules). Kind is a fixed word safe to log; Msg is for the client.
type Error struct {
	Status int
	Kind   string
	Msg    string
}

func (e *Error) Error() string { return e.Msg }

func badRequest(kind, format string, args ...any) *Error {
	return &Error{Status: 400, Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

func unprocessable(kind, format string, args ...any) *Error {
	return &Error{Status: 422, Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

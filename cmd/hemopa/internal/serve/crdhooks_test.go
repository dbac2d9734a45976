package serve

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"hemopa/cmd/hemopa/internal/crd"
	"hemopa/cmd/hemopa/internal/davinci"
	"hemopa/cmd/hemopa/internal/testenv"
	"hemopa/rules"
)

// TestEveryInfernoRequestAccepted sends every *_request.json the Inferno CRD
// kit wrote to the service for its hook.
func TestEveryInfernoRequestAccepted(t *testing.T) {
	dir := testenv.Shared(t, "fixtures", "inferno-crd")
	files, err := filepath.Glob(filepath.Join(dir, "*_request.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no Inferno request fixtures in %s: %v", dir, err)
	}
	ts := newTestServer(t, serverOpts{})
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			body, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var head struct{ Hook string }
			if err := json.Unmarshal(body, &head); err != nil {
				t.Fatal(err)
			}
			if status, resp, _ := ts.do(t, "POST", "/cds-services/hemopa-"+head.Hook, body, ""); status != http.StatusOK {
				t.Errorf("%s: status %d: %s", head.Hook, status, resp)
			}
		})
	}
}

// discoveryService is a discovery entry as the Inferno kit reads it.
type discoveryService struct {
	Hook, ID, Title, Description string
	Prefetch                     map[string]string
	Extension                    struct {
		Version []string         `json:"davinci-crd.version"`
		Options []map[string]any `json:"davinci-crd.configuration-options"`
	}
}

// TestDiscoveryKitRules checks discovery against the Inferno CRD kit's rules
// (crd_v221_discovery_*): hook, id and description on every service; the
// version (dev-1); configuration options with code, type, name, description
// and default, unique code, name and description (dev-4, dev-8), types
// boolean or integer with a default of that type; a boolean coverage-info on
// every primary hook (dev-5).
func TestDiscoveryKitRules(t *testing.T) {
	ts := newTestServer(t, serverOpts{})
	status, body, _ := ts.do(t, "GET", "/cds-services", nil, "-")
	if status != http.StatusOK {
		t.Fatalf("status %d: %s", status, body)
	}
	var d struct{ Services []discoveryService }
	if err := json.Unmarshal(body, &d); err != nil {
		t.Fatal(err)
	}
	primary := []string{"appointment-book", "order-sign", "order-dispatch"}
	for _, s := range d.Services {
		if s.Hook == "" || s.ID == "" || s.Description == "" {
			t.Errorf("service %q lacks hook, id or description", s.ID)
		}
		if len(s.Extension.Version) == 0 || slices.Contains(s.Extension.Version, "") {
			t.Errorf("%s: davinci-crd.version %v", s.ID, s.Extension.Version)
		}
		checkOptions(t, s)
		if slices.Contains(primary, s.Hook) && optionType(s, "coverage-info") != "boolean" {
			t.Errorf("%s: primary hook without a boolean coverage-info option", s.ID)
		}
		if wantDTR := slices.Contains(primary, s.Hook); (optionType(s, "dtr-clin") == "boolean") != wantDTR {
			t.Errorf("%s: dtr-clin offered %v, want %v (secondary hooks ask for no documentation, hook-19)", s.ID, !wantDTR, wantDTR)
		}
	}
}

func checkOptions(t *testing.T, s discoveryService) {
	t.Helper()
	seen := map[string]map[any]bool{"code": {}, "name": {}, "description": {}}
	for _, o := range s.Extension.Options {
		for _, f := range []string{"code", "type", "name", "description"} {
			if v, ok := o[f].(string); !ok || v == "" {
				t.Errorf("%s option %v: %s is not a non-empty string", s.ID, o["code"], f)
			}
		}
		for f, vals := range seen {
			if vals[o[f]] {
				t.Errorf("%s: duplicate %s %v", s.ID, f, o[f])
			}
			vals[o[f]] = true
		}
		switch o["type"] {
		case "boolean":
			if _, ok := o["default"].(bool); !ok {
				t.Errorf("%s option %v: default %v is not a boolean", s.ID, o["code"], o["default"])
			}
		case "integer":
			if n, ok := o["default"].(float64); !ok || n != float64(int(n)) {
				t.Errorf("%s option %v: default %v is not an integer", s.ID, o["code"], o["default"])
			}
		default:
			t.Errorf("%s option %v: type %v", s.ID, o["code"], o["type"])
		}
	}
}

func optionType(s discoveryService, code string) any {
	for _, o := range s.Extension.Options {
		if o["code"] == code {
			return o["type"]
		}
	}
	return nil
}

// activeOrder turns a sample order-sign request's draft into an existing
// order in the medicationRequests prefetch and lets edit build the context.
func activeOrder(t *testing.T, patient, hook string, edit func(ctx map[string]any, order map[string]any)) []byte {
	t.Helper()
	return editHook(t, hookRequest(t, patient, hookOrderSign, "ucare"), func(m, ctx, prefetch map[string]any, o map[string]any) {
		m["hook"] = hook
		o["status"] = "active"
		prefetch["medicationRequests"] = map[string]any{"resourceType": "Bundle", "type": "searchset", "entry": []any{map[string]any{"resource": o}}}
		delete(ctx, "draftOrders")
		edit(ctx, o)
	})
}

// appointmentOn is an Appointment based on a MedicationRequest (CRD's
// alternate-reference on basedOn).
func appointmentOn(id, patient, order string) map[string]any {
	basedOn := []any{}
	if order != "" {
		basedOn = append(basedOn, map[string]any{"extension": []any{map[string]any{
			"url": alternateReferenceURL, "valueReference": map[string]string{"reference": order}}}})
	}
	return map[string]any{"resourceType": "Appointment", "id": id, "status": "proposed", "basedOn": basedOn,
		"participant": []any{map[string]any{"actor": map[string]string{"reference": "Patient/" + patient}, "status": "accepted"}}}
}

func appointmentBundle(appts ...map[string]any) map[string]any {
	var entries []any
	for _, a := range appts {
		entries = append(entries, map[string]any{"resource": a})
	}
	return map[string]any{"resourceType": "Bundle", "type": "collection", "entry": entries}
}

// TestAppointmentBookAndDispatchSamples sends the named samples through
// appointment-book (the order is the appointment's basis, in the prefetch)
// and order-dispatch with context.order (CRD 2.x): both primary hooks, so
// the coverage information is the CLI's decision and a pend asks for
// documentation.
func TestAppointmentBookAndDispatchSamples(t *testing.T) {
	ts := newTestServer(t, serverOpts{})
	for _, patient := range []string{"b-approve", "b-pend-stale", "b-deny-labs"} {
		want := cliDecision(t, patient, "ucare-hemgenix")
		if patient == "b-deny-labs" && want != rules.Deny {
			t.Fatalf("b-deny-labs under ucare-hemgenix decides %s: pick another deny sample", want)
		}
		for _, tc := range []struct {
			service string
			body    []byte
		}{
			{"hemopa-appointment-book", activeOrder(t, patient, hookAppointment, func(ctx, o map[string]any) {
				ctx["appointments"] = appointmentBundle(appointmentOn("appt-1", ctx["patientId"].(string), "MedicationRequest/"+o["id"].(string)))
			})},
			{"hemopa-order-dispatch", activeOrder(t, patient, hookOrderDispatch, func(ctx, o map[string]any) {
				ctx["order"] = "MedicationRequest/" + o["id"].(string)
				ctx["performer"] = "Organization/infusion-center"
			})},
		} {
			t.Run(patient+"/"+tc.service, func(t *testing.T) {
				hr := postHook(t, ts, tc.service, tc.body)
				if len(hr.Cards) != 1 || len(hr.SystemActions) != 1 {
					t.Fatalf("%d cards, %d systemActions", len(hr.Cards), len(hr.SystemActions))
				}
				ci := coverageInfo(t, hr.SystemActions[0].Resource)
				for k, v := range wantExtension(want, true) {
					if !slices.Contains(ci[k], v) {
						t.Errorf("%s (%s): %s = %v, want %s", patient, want, k, ci[k], v)
					}
				}
				checkCard(t, hr, want, true, "Hemgenix")
			})
		}
	}
}

// TestHooksWithoutOrders: an Appointment with no order basis, and the
// encounter hooks (no order in context; CRD secondary, hook-19), answer
// {"cards":[]} without reading the record.
func TestHooksWithoutOrders(t *testing.T) {
	ts := newTestServer(t, serverOpts{})
	encounter := func(hook string) []byte {
		b, _ := json.Marshal(map[string]any{"hook": hook, "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
			"context": map[string]string{"userId": "Practitioner/p1", "patientId": "pat-1", "encounterId": "enc-1"}})
		return b
	}
	for _, tc := range []struct {
		name, service string
		body          []byte
	}{
		{"appointment without basedOn", "hemopa-appointment-book", activeOrder(t, "b-approve", hookAppointment, func(ctx, _ map[string]any) {
			ctx["appointments"] = appointmentBundle(appointmentOn("appt-1", ctx["patientId"].(string), ""))
		})},
		{"encounter-start", "hemopa-encounter-start", encounter(hookEncStart)},
		{"encounter-discharge", "hemopa-encounter-discharge", encounter(hookEncDischarge)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body, _ := ts.do(t, "POST", "/cds-services/"+tc.service, tc.body, "")
			if status != http.StatusOK || strings.TrimSpace(string(body)) != `{"cards":[]}` {
				t.Errorf("status %d %s, want 200 {\"cards\":[]}", status, body)
			}
		})
	}
	// encounterId is the encounter hooks' context.
	status, body, _ := ts.do(t, "POST", "/cds-services/hemopa-encounter-start",
		[]byte(`{"hook":"encounter-start","hookInstance":"x","context":{"patientId":"pat-1"}}`), "")
	if status != http.StatusUnprocessableEntity || !strings.Contains(string(body), "encounterId") {
		t.Errorf("encounter-start without encounterId: %d %s", status, body)
	}
}

// withConfiguration sets extension["davinci-crd.configuration"].
func withConfiguration(t *testing.T, body []byte, cfg map[string]any) []byte {
	t.Helper()
	return editHook(t, body, func(m, _, _ map[string]any, _ map[string]any) {
		m["extension"] = map[string]any{"davinci-crd.configuration": cfg}
	})
}

// TestConfigurationHonoured: davinci-crd.configuration is obeyed (dev-14),
// unsupported codes are ignored (dev-17), and a supported code with a value
// of the wrong type is a 400 OperationOutcome naming it.
func TestConfigurationHonoured(t *testing.T) {
	ts := newTestServer(t, serverOpts{})
	pend := hookRequest(t, "b-pend-stale", hookOrderSign, "ucare")
	twoOrders := editHook(t, pend, func(_, ctx, _ map[string]any, o map[string]any) {
		second := map[string]any{}
		for k, v := range o {
			second[k] = v
		}
		second["id"] = o["id"].(string) + "-2"
		d := ctx["draftOrders"].(map[string]any)
		d["entry"] = append(d["entry"].([]any), map[string]any{"resource": second})
	})
	if hr := postHook(t, ts, "hemopa-order-sign", twoOrders); len(hr.Cards) != 2 {
		t.Fatalf("two orders, default configuration: %d cards", len(hr.Cards))
	}
	for _, tc := range []struct {
		name           string
		body           []byte
		cfg            map[string]any
		cards, actions int
		docNeeded      bool // the DTR launch: doc-needed + questionnaire in the coverage information
	}{
		{"defaults", pend, map[string]any{}, 1, 1, true},
		{"coverage-info off", pend, map[string]any{"coverage-info": false}, 0, 0, false},
		{"dtr-clin off", pend, map[string]any{"dtr-clin": false}, 1, 1, false},
		{"max-cards 1 of 2", twoOrders, map[string]any{"max-cards": 1}, 1, 2, true},
		{"max-cards 0", pend, map[string]any{"max-cards": 0}, 0, 1, true},
		{"unsupported code ignored", pend, map[string]any{"clinical-reminder": false, "cost": 3}, 1, 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hr := postHook(t, ts, "hemopa-order-sign", withConfiguration(t, tc.body, tc.cfg))
			if len(hr.Cards) != tc.cards || len(hr.SystemActions) != tc.actions {
				t.Fatalf("%d cards, %d systemActions, want %d, %d", len(hr.Cards), len(hr.SystemActions), tc.cards, tc.actions)
			}
			if tc.actions > 0 {
				ci := coverageInfo(t, hr.SystemActions[0].Resource)
				if got := len(ci["doc-needed"]) > 0 && len(ci["questionnaire"]) > 0; got != tc.docNeeded {
					t.Errorf("doc-needed and questionnaire %v, want %v: %v", got, tc.docNeeded, ci)
				}
			}
			smart := false
			for _, c := range hr.Cards {
				for _, l := range c.Links {
					smart = smart || l.Type == "smart"
				}
			}
			if smart {
				t.Error("a SMART link card: CRD 2.x launches DTR from the coverage information")
			}
		})
	}
	for _, tc := range []struct{ name, option string }{
		{"coverage-info a string", `"coverage-info":"no"`},
		{"dtr-clin a number", `"dtr-clin":0`},
		{"max-cards negative", `"max-cards":-1`},
		{"max-cards fractional", `"max-cards":1.5`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := strings.Replace(string(pend), "{", `{"extension":{"davinci-crd.configuration":{`+tc.option+`}},`, 1)
			status, resp, _ := ts.do(t, "POST", "/cds-services/hemopa-order-sign", []byte(body), "")
			code, _, _ := strings.Cut(strings.Trim(tc.option, `"`), `"`)
			if status != http.StatusBadRequest || !strings.Contains(string(resp), "OperationOutcome") || !strings.Contains(string(resp), code) {
				t.Errorf("status %d %s, want a 400 OperationOutcome naming %s", status, resp, code)
			}
		})
	}
}

// TestApplyConfiguration: max-cards keeps the most important cards
// (critical > warning > info), in order among equals.
func TestApplyConfiguration(t *testing.T) {
	card := func(id, indicator string) *davinci.Object {
		return davinci.O("uuid", id, "indicator", indicator,
			"source", davinci.O("label", "hemopa", "topic", davinci.O("code", "coverage-info")))
	}
	cards := []any{card("i1", "info"), card("w1", "warning"), card("c1", "critical"), card("w2", "warning")}
	ids := func(cs []any) []string {
		var out []string
		for _, c := range cs {
			out = append(out, c.(*davinci.Object).Get("uuid").(string))
		}
		return out
	}
	def := crd.DefaultConfiguration()
	for _, tc := range []struct {
		name    string
		cfg     crd.Configuration
		want    []string
		actions int
	}{
		{"defaults keep all", def, []string{"i1", "w1", "c1", "w2"}, 1},
		{"max 1", crd.Configuration{CoverageInfo: true, MaxCards: 1}, []string{"c1"}, 1},
		{"max 3", crd.Configuration{CoverageInfo: true, MaxCards: 3}, []string{"c1", "w1", "w2"}, 1},
		{"coverage off", crd.Configuration{MaxCards: 10}, nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, actions := applyConfiguration(tc.cfg, slices.Clone(cards), []any{"action"})
			if !slices.Equal(ids(got), tc.want) || len(actions) != tc.actions {
				t.Errorf("cards %v, %d actions; want %v, %d", ids(got), len(actions), tc.want, tc.actions)
			}
		})
	}
}

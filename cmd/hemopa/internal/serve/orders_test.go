package serve

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// editHook decodes a sample hook request, edits it and encodes it again.
func editHook(t *testing.T, body []byte, f func(m, ctx, prefetch map[string]any, order map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	ctx := m["context"].(map[string]any)
	var order map[string]any
	if d, ok := ctx["draftOrders"].(map[string]any); ok {
		order = d["entry"].([]any)[0].(map[string]any)["resource"].(map[string]any)
	}
	f(m, ctx, m["prefetch"].(map[string]any), order)
	b, _ := json.Marshal(m)
	return b
}

func postHook(t *testing.T, ts *testServer, service string, body []byte) hookResponse {
	t.Helper()
	status, resp, _ := ts.do(t, "POST", "/cds-services/"+service, body, "")
	if status != http.StatusOK {
		t.Fatalf("status %d: %s", status, resp)
	}
	var hr hookResponse
	if err := json.Unmarshal(resp, &hr); err != nil {
		t.Fatal(err)
	}
	return hr
}

// A gene therapy ordered as a DeviceRequest (HCPCS J1411) is found, and the
// systemAction updates the DeviceRequest as sent.
func TestDeviceRequestOrder(t *testing.T) {
	ts := newTestServer(t, serverOpts{})
	body := editHook(t, hookRequest(t, "b-approve", hookOrderSign, "ucare"), func(_, _, _ map[string]any, o map[string]any) {
		o["resourceType"] = "DeviceRequest"
		o["codeCodeableConcept"] = o["medicationCodeableConcept"]
		o["intent"] = "original-order"
		delete(o, "medicationCodeableConcept")
	})
	hr := postHook(t, ts, "hemopa-order-sign", body)
	if len(hr.SystemActions) != 1 {
		t.Fatalf("%d systemActions", len(hr.SystemActions))
	}
	var res struct{ ResourceType, Intent string }
	_ = json.Unmarshal(hr.SystemActions[0].Resource, &res)
	if res.ResourceType != "DeviceRequest" || res.Intent != "original-order" {
		t.Errorf("updated resource %+v, want the DeviceRequest as sent", res)
	}
	if ci := coverageInfo(t, hr.SystemActions[0].Resource); !slices.Contains(ci["covered"], "covered") {
		t.Errorf("coverage %v", ci)
	}
}

// order-dispatch reads the dispatched order from the prefetch.
func TestOrderDispatch(t *testing.T) {
	ts := newTestServer(t, serverOpts{})
	body := editHook(t, hookRequest(t, "b-pend-stale", hookOrderSign, "ucare"), func(m, ctx, prefetch map[string]any, o map[string]any) {
		m["hook"] = "order-dispatch"
		o["status"] = "active"
		prefetch["medicationRequests"] = map[string]any{"resourceType": "Bundle", "type": "searchset", "entry": []any{map[string]any{"resource": o}}}
		delete(ctx, "draftOrders")
		ctx["dispatchedOrders"] = []string{"MedicationRequest/" + o["id"].(string)}
		ctx["performer"] = "Organization/infusion-center"
	})
	hr := postHook(t, ts, "hemopa-order-dispatch", body)
	if len(hr.SystemActions) != 1 {
		t.Fatalf("%d systemActions", len(hr.SystemActions))
	}
	ci := coverageInfo(t, hr.SystemActions[0].Resource)
	if !slices.Contains(ci["doc-needed"], "clinical") || len(ci["questionnaire"]) != 1 {
		t.Errorf("order-dispatch is a primary hook: want doc-needed and the questionnaire, got %v", ci)
	}
	// Not in the prefetch and no fhirServer to read it: 412.
	body = editHook(t, body, func(_, _, prefetch map[string]any, _ map[string]any) { prefetch["medicationRequests"] = nil })
	if status, resp, _ := ts.do(t, "POST", "/cds-services/hemopa-order-dispatch", body, ""); status != http.StatusPreconditionFailed {
		t.Errorf("unreadable dispatched order: %d %s", status, resp)
	}
}

func TestNoCoverageOnRecord(t *testing.T) {
	ts := newTestServer(t, serverOpts{})
	body := editHook(t, hookRequest(t, "b-approve", hookOrderSign, "ucare"), func(_, _, prefetch map[string]any, o map[string]any) {
		prefetch["coverage"] = nil
		delete(o, "insurance")
	})
	hr := postHook(t, ts, "hemopa-order-sign", body)
	if len(hr.SystemActions) != 0 || len(hr.Cards) != 1 || !strings.Contains(hr.Cards[0].Summary, "no active coverage") {
		t.Errorf("no coverage: %+v", hr)
	}
}

// Only order-select's selections are assessed.
func TestOrderSelectSelectionsOnly(t *testing.T) {
	ts := newTestServer(t, serverOpts{})
	body := editHook(t, hookRequest(t, "b-approve", hookOrderSelect, "ucare"), func(_, ctx, _ map[string]any, _ map[string]any) {
		ctx["selections"] = []string{"NutritionOrder/diet-1"}
	})
	if hr := postHook(t, ts, "hemopa-order-select", body); len(hr.Cards) != 0 || len(hr.SystemActions) != 0 {
		t.Errorf("unselected gene therapy order assessed: %+v", hr)
	}
}

func TestFHIRServerAllowList(t *testing.T) {
	c := &Config{}
	for server, want := range map[string]bool{"https://ehr.example.org/fhir": true, "http://127.0.0.1:8080/fhir": true,
		"http://ehr.example.org/fhir": false, "https://user:pw@ehr.example.org/fhir": false} {
		if got := c.fhirServerAllowed(server); got != want {
			t.Errorf("default: %s → %v", server, got)
		}
	}
	c.AllowedFHIRServers = []string{"https://ehr.example.org/fhir/"}
	for server, want := range map[string]bool{"https://ehr.example.org/fhir": true, "https://ehr.example.org/fhir/r4": true,
		"https://ehr.example.org/fhirx": false, "https://evil.example.org/fhir": false} {
		if got := c.fhirServerAllowed(server); got != want {
			t.Errorf("allow-list: %s → %v", server, got)
		}
	}
}

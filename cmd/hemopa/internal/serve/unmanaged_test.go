package serve

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"

	"hemopa/fhir/fhirtest"
)

// aspirin turns a draft order into one hemopa has no policy for.
func aspirin(o map[string]any) {
	delete(o, "medicationReference")
	o["medicationCodeableConcept"] = map[string]any{"coding": []any{map[string]any{
		"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "1191", "display": "aspirin"}}, "text": "aspirin"}
}

// TestUnmanagedOrdersGetCoverageInformation: on a primary hook every order
// gets coverage information (CRD resp-26, hook-16) — an order hemopa has no
// policy for gets the payer's answer for unmanaged items (the product
// default here: conditional, conditional, info-needed OTH with its detail),
// with a stable coverage-assertion-id and no card; a secondary hook
// (order-select) answers nothing about it.
func TestUnmanagedOrdersGetCoverageInformation(t *testing.T) {
	ts := newTestServer(t, serverOpts{})
	only := editHook(t, hookRequest(t, "b-approve", hookOrderSign, "ucare"), func(_, _, _ map[string]any, o map[string]any) { aspirin(o) })
	var ids []string
	for range 2 {
		status, body, _ := ts.do(t, "POST", "/cds-services/hemopa-order-sign", only, ts.sign(t, "/cds-services/hemopa-order-sign", token{}))
		if status != http.StatusOK {
			t.Fatalf("status %d %s", status, body)
		}
		var r hookResponse
		if err := json.Unmarshal(body, &r); err != nil {
			t.Fatal(err)
		}
		if len(r.Cards) != 0 || len(r.SystemActions) != 1 {
			t.Fatalf("want one systemAction and no card, got %s", body)
		}
		fhirtest.Validate(t, "unmanaged order-sign", body)
		ci := coverageInfo(t, r.SystemActions[0].Resource)
		for k, want := range map[string]string{"covered": "conditional", "pa-needed": "conditional", "info-needed": "OTH"} {
			if !slices.Equal(ci[k], []string{want}) {
				t.Errorf("%s = %v, want %s", k, ci[k], want)
			}
		}
		if len(ci["reason"]) != 1 || len(ci["coverage-assertion-id"]) != 1 {
			t.Errorf("reason and assertion id: %v", ci)
		}
		if !hasDetail(t, r.SystemActions[0].Resource) {
			t.Errorf("info-needed OTH without a detail: %s", r.SystemActions[0].Resource)
		}
		ids = append(ids, ci["coverage-assertion-id"]...)
	}
	if ids[0] != ids[1] {
		t.Errorf("coverage-assertion-id not stable: %v", ids)
	}

	// A gene therapy order and an unmanaged one in one request: both answered.
	both := editHook(t, hookRequest(t, "b-approve", hookOrderSign, "ucare"), func(_, ctx, _ map[string]any, o map[string]any) {
		other := map[string]any{}
		b, _ := json.Marshal(o)
		_ = json.Unmarshal(b, &other)
		other["id"] = "mr-aspirin"
		aspirin(other)
		d := ctx["draftOrders"].(map[string]any)
		d["entry"] = append(d["entry"].([]any), map[string]any{"resource": other})
	})
	status, body, _ := ts.do(t, "POST", "/cds-services/hemopa-order-sign", both, ts.sign(t, "/cds-services/hemopa-order-sign", token{}))
	var r hookResponse
	if err := json.Unmarshal(body, &r); status != http.StatusOK || err != nil || len(r.SystemActions) != 2 {
		t.Fatalf("gene therapy + aspirin: status %d, %d systemActions: %s", status, len(r.SystemActions), body)
	}
	fhirtest.Validate(t, "mixed order-sign", body)

	sel := editHook(t, hookRequest(t, "b-approve", hookOrderSelect, "ucare"), func(_, _, _ map[string]any, o map[string]any) { aspirin(o) })
	status, body, _ = ts.do(t, "POST", "/cds-services/hemopa-order-select", sel, ts.sign(t, "/cds-services/hemopa-order-select", token{}))
	if status != http.StatusOK || string(body) != "{\"cards\":[]}\n" && string(body) != `{"cards":[]}` {
		t.Errorf("order-select of an unmanaged order: %d %s, want no answer", status, body)
	}
}

// hasDetail reports a detail sub-extension with a code and a value.
func hasDetail(t *testing.T, res json.RawMessage) bool {
	t.Helper()
	var r struct {
		Extension []struct {
			Extension []struct {
				URL       string `json:"url"`
				Extension []struct {
					URL string `json:"url"`
				} `json:"extension"`
			} `json:"extension"`
		} `json:"extension"`
	}
	if err := json.Unmarshal(res, &r); err != nil {
		t.Fatal(err)
	}
	for _, e := range r.Extension {
		for _, s := range e.Extension {
			if s.URL != "detail" {
				continue
			}
			got := map[string]bool{}
			for _, d := range s.Extension {
				got[d.URL] = true
			}
			if got["category"] && got["code"] && got["value"] {
				return true
			}
		}
	}
	return false
}

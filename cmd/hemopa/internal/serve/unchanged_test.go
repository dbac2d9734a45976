package serve

import (
	"encoding/json"
	"net/http"
	"testing"
)

// TestSystemActionOnlyWhenChanged: an order that already carries the
// coverage information hemopa would send gets no systemAction again (CRD
// resp-35); one whose coverage information differs gets the update.
func TestSystemActionOnlyWhenChanged(t *testing.T) {
	ts := newTestServer(t, serverOpts{})
	for _, tc := range []struct {
		name string
		edit func(o map[string]any)
	}{
		{"gene therapy order", func(map[string]any) {}},
		{"order hemopa does not decide", aspirin},
	} {
		t.Run(tc.name, func(t *testing.T) {
			first := editHook(t, hookRequest(t, "b-pend-stale", hookOrderSign, "ucare"), func(_, _, _ map[string]any, o map[string]any) { tc.edit(o) })
			r := post(t, ts, first)
			if len(r.SystemActions) != 1 {
				t.Fatalf("first call: %d systemActions", len(r.SystemActions))
			}
			updated := r.SystemActions[0].Resource
			again := editHook(t, first, func(_, ctx, _ map[string]any, _ map[string]any) {
				var o map[string]any
				if err := json.Unmarshal(updated, &o); err != nil {
					t.Fatal(err)
				}
				ctx["draftOrders"].(map[string]any)["entry"] = []any{map[string]any{"resource": o}}
			})
			if r := post(t, ts, again); len(r.SystemActions) != 0 {
				t.Errorf("the order already carries this coverage information: %d systemActions, want none", len(r.SystemActions))
			}
			changed := editHook(t, again, func(_, _, _ map[string]any, o map[string]any) {
				exts := o["extension"].([]any)
				ci := exts[len(exts)-1].(map[string]any)
				for _, s := range ci["extension"].([]any) {
					if m := s.(map[string]any); m["url"] == "coverage-assertion-id" {
						m["valueString"] = "an-older-assertion"
					}
				}
			})
			if r := post(t, ts, changed); len(r.SystemActions) != 1 {
				t.Errorf("older coverage information on the order: %d systemActions, want the update", len(r.SystemActions))
			}
		})
	}
}

func post(t *testing.T, ts *testServer, body []byte) hookResponse {
	t.Helper()
	status, b, _ := ts.do(t, "POST", "/cds-services/hemopa-order-sign", body, ts.sign(t, "/cds-services/hemopa-order-sign", token{}))
	if status != http.StatusOK {
		t.Fatalf("status %d: %s", status, b)
	}
	var r hookResponse
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

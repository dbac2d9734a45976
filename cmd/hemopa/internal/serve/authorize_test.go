package serve

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestAuthorizeAtOrderThenSubmit: a payer with authorize_at_order gets, on
// order-sign, pa-needed satisfied with a satisfied-pa-id; $submit for the
// same patient, order and drug answers A1 with that id as preAuthRef, and
// $inquire returns it.
func TestAuthorizeAtOrderThenSubmit(t *testing.T) {
	ts := newTestServer(t, serverOpts{authorizeAtOrder: true})
	const hookPath = "/cds-services/hemopa-order-sign"
	var orderRef, paID string
	for range 2 { // recording twice is fine, and the id is the same
		status, body, _ := ts.do(t, "POST", hookPath, hookRequest(t, "b-approve", hookOrderSign, "example"), ts.sign(t, hookPath, token{}))
		if status != http.StatusOK {
			t.Fatalf("order-sign: %d %s", status, body)
		}
		var r hookResponse
		if err := json.Unmarshal(body, &r); err != nil || len(r.SystemActions) != 1 {
			t.Fatalf("order-sign: want one systemAction: %s", body)
		}
		ci := coverageInfo(t, r.SystemActions[0].Resource)
		if !slices.Equal(ci["pa-needed"], []string{"satisfied"}) || len(ci["satisfied-pa-id"]) != 1 {
			t.Fatalf("pa-needed %v, satisfied-pa-id %v; want satisfied with an id", ci["pa-needed"], ci["satisfied-pa-id"])
		}
		if paID != "" && ci["satisfied-pa-id"][0] != paID {
			t.Errorf("satisfied-pa-id changed: %s then %s", paID, ci["satisfied-pa-id"][0])
		}
		paID = ci["satisfied-pa-id"][0]
		if len(r.Cards) != 1 || !strings.Contains(r.Cards[0].Summary, "on file") || !strings.Contains(r.Cards[0].Summary, paID) {
			t.Errorf("the card must say the PA is on file, as the coverage information does: %+v", r.Cards)
		}
		var order struct{ ResourceType, ID string }
		_ = json.Unmarshal(r.SystemActions[0].Resource, &order)
		orderRef = order.ResourceType + "/" + order.ID
	}
	if !strings.HasPrefix(paID, "HEMOPA-") {
		t.Errorf("satisfied-pa-id %q does not look like a PAS preAuthRef", paID)
	}

	// The same order through PAS: the Claim names it in supportingInfo.
	submit := claimFor(t, "b-approve", orderRef)
	const submitPath = "/fhir/Claim/$submit"
	status, body, _ := ts.do(t, "POST", submitPath, submit, ts.sign(t, submitPath, token{}))
	if status != http.StatusOK {
		t.Fatalf("$submit: %d %s", status, body)
	}
	if got := preAuthRef(t, body); got != paID {
		t.Errorf("$submit preAuthRef %q, want the satisfied-pa-id %q", got, paID)
	}
	if !strings.Contains(string(body), `"code":"A1"`) {
		t.Errorf("$submit: no A1 review action: %s", body)
	}
	const inquirePath = "/fhir/Claim/$inquire" // the request names the Claim identifier and patient
	status, body, _ = ts.do(t, "POST", inquirePath, submit, ts.sign(t, inquirePath, token{}))
	if status != http.StatusOK || preAuthRef(t, body) != paID {
		t.Errorf("$inquire: %d, preAuthRef %q, want %q", status, preAuthRef(t, body), paID)
	}

	// A Claim that does not name the order gets its own preAuthRef.
	status, body, _ = ts.do(t, "POST", submitPath, claimFor(t, "b-approve", ""), ts.sign(t, submitPath, token{}))
	if got := preAuthRef(t, body); status != http.StatusOK || got == paID || got == "" {
		t.Errorf("$submit without the order: %d, preAuthRef %q (the satisfied id is %q)", status, got, paID)
	}
}

// TestAuthorizeAtOrderOnlyWhenConfigured: the payer must be listed with
// authorize_at_order (the unlisted payer gets auth-needed, as before), and
// the hook must be primary (order-select says nothing of satisfied).
func TestAuthorizeAtOrderOnlyWhenConfigured(t *testing.T) {
	for _, tc := range []struct {
		name, payer, hook string
		opts              serverOpts
	}{
		{"payer without authorize_at_order", "other", hookOrderSign, serverOpts{authorizeAtOrder: true}},
		{"no authorizations wired", "example", hookOrderSign, serverOpts{}},
		{"secondary hook", "example", hookOrderSelect, serverOpts{authorizeAtOrder: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t, tc.opts)
			path := "/cds-services/hemopa-" + tc.hook
			status, body, _ := ts.do(t, "POST", path, hookRequest(t, "b-approve", tc.hook, tc.payer), ts.sign(t, path, token{}))
			if status != http.StatusOK {
				t.Fatalf("%d %s", status, body)
			}
			if strings.Contains(string(body), "satisfied") {
				t.Errorf("answered satisfied: %s", body)
			}
		})
	}
}

// claimFor is testdata/pas/<patient>.json as a compact bundle, its Claim
// naming order in supportingInfo ("" leaves the Claim as it is).
func claimFor(t *testing.T, patient, order string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), "testdata", "pas", patient+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var b map[string]any
	if err := json.Unmarshal(raw, &b); err != nil {
		t.Fatal(err)
	}
	if order != "" {
		claim := b["entry"].([]any)[0].(map[string]any)["resource"].(map[string]any)
		infos, _ := claim["supportingInfo"].([]any)
		claim["supportingInfo"] = append(infos, map[string]any{"sequence": len(infos) + 1,
			"category":       map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/claiminformationcategory", "code": "info"}}},
			"valueReference": map[string]any{"reference": order}})
	}
	out, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// preAuthRef is the ClaimResponse.preAuthRef of a PAS response bundle.
func preAuthRef(t *testing.T, body []byte) string {
	t.Helper()
	var b struct {
		Entry []struct {
			Resource struct {
				ResourceType string `json:"resourceType"`
				PreAuthRef   string `json:"preAuthRef"`
			} `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(body, &b); err != nil || len(b.Entry) == 0 {
		t.Fatalf("not a response bundle: %s", body)
	}
	return b.Entry[0].Resource.PreAuthRef
}

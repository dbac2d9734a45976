package pas

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"hemopa/cmd/hemopa/internal/davinci"
)

// TestSubmitFindsOrderAuthorization: $submit decides afresh; a Claim naming
// an order authorized at order time (same patient, order, drug, unexpired)
// whose lines are still approved answers with the recorded id as
// preAuthRef, and $inquire returns it. Expired, another drug, a fresh
// decision that is no longer approve, or a Claim not naming the order: the
// submission's own preAuthRef.
func TestSubmitFindsOrderAuthorization(t *testing.T) {
	for _, tc := range []struct {
		name, patient string
		edit          func(*davinci.OrderAuthorization)
		nameOrder     bool
		reused        bool
	}{
		{"approved", "b-approve", func(*davinci.OrderAuthorization) {}, true, true},
		{"no expiry", "b-approve", func(a *davinci.OrderAuthorization) { a.Expires = "" }, true, true},
		{"expired", "b-approve", func(a *davinci.OrderAuthorization) { a.Expires = "2026-11-23" }, true, false},
		{"another drug", "b-approve", func(a *davinci.OrderAuthorization) { a.Drug = "Beqvez" }, true, false},
		{"another patient", "b-approve", func(a *davinci.OrderAuthorization) { a.Patient = "someone" }, true, false},
		{"order not named", "b-approve", func(*davinci.OrderAuthorization) {}, false, false},
		{"no longer approved", "b-deny-labs", func(*davinci.OrderAuthorization) {}, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, st := newTestService(t)
			body, patient, order := claimNamingOrder(t, tc.patient, tc.nameOrder)
			a := davinci.OrderAuthorization{ID: "HEMOPA-AUTHORIZED01", Patient: patient, Order: order, Drug: "Hemgenix",
				Issued: "2026-11-20", Expires: "2027-05-19"}
			tc.edit(&a)
			if err := st.RecordAuthorization(context.Background(), a); err != nil {
				t.Fatal(err)
			}
			status, resp := submit(t, s, body)
			if status != http.StatusOK {
				t.Fatalf("%d %s", status, resp)
			}
			got := firstPreAuthRef(t, resp)
			if (got == a.ID) != tc.reused {
				t.Fatalf("preAuthRef %q; reuse of %s wanted: %v", got, a.ID, tc.reused)
			}
			if !tc.reused {
				return
			}
			status, resp = s.Inquire(context.Background(), body)
			if status != http.StatusOK || firstPreAuthRef(t, resp) != a.ID {
				t.Errorf("$inquire: %d, preAuthRef %q", status, firstPreAuthRef(t, resp))
			}
		})
	}
}

// claimNamingOrder is testdata/pas/<patient>.json with its draft
// MedicationRequest named in Claim.supportingInfo (when name), and the
// Patient id and order reference.
func claimNamingOrder(t *testing.T, patient string, name bool) (body []byte, patientID, order string) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), "testdata", "pas", patient+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var b map[string]any
	if err := json.Unmarshal(raw, &b); err != nil {
		t.Fatal(err)
	}
	entries := b["entry"].([]any)
	for _, e := range entries {
		r := e.(map[string]any)["resource"].(map[string]any)
		switch r["resourceType"] {
		case "Patient":
			patientID = r["id"].(string)
		case "MedicationRequest":
			order = "MedicationRequest/" + r["id"].(string)
		}
	}
	if name {
		claim := entries[0].(map[string]any)["resource"].(map[string]any)
		infos, _ := claim["supportingInfo"].([]any)
		claim["supportingInfo"] = append(infos, map[string]any{"sequence": len(infos) + 1,
			"category":       map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/claiminformationcategory", "code": "info"}}},
			"valueReference": map[string]any{"reference": order}})
	}
	if body, err = json.Marshal(b); err != nil {
		t.Fatal(err)
	}
	return body, patientID, order
}

func firstPreAuthRef(t *testing.T, body []byte) string {
	t.Helper()
	var b struct {
		Entry []struct {
			Resource struct {
				PreAuthRef string `json:"preAuthRef"`
			} `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(body, &b); err != nil || len(b.Entry) == 0 {
		t.Fatalf("not a response bundle: %s", body)
	}
	return b.Entry[0].Resource.PreAuthRef
}

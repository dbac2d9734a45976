package cdshooks

import (
	"errors"
	"hemopa/cmd/hemopa/internal/testenv"
	"os"
	"path/filepath"
	"testing"
)

// repoRoot is the folder holding go.mod.
func repoRoot(t testing.TB) string { t.Helper(); return testenv.RepoRoot(t) }

// FuzzHookRequest: the decoder never panics, refuses only with a 400 or 422
// carrying a message, and what it accepts can be walked for resources.
// Seeds: the Inferno CRD hook requests and the sample-patient requests.
func FuzzHookRequest(f *testing.F) {
	root := repoRoot(f)
	for _, p := range []string{"order_sign_hook_request.json", "order_select_hook_request.json"} {
		b := testenv.ReadShared(f, "fixtures", "inferno-crd", p)
		f.Add(b, OrderSign)
		f.Add(b, OrderSelect)
	}
	files, _ := filepath.Glob(filepath.Join(root, "testdata", "serve", "hooks", "*.json"))
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b, OrderSign)
		}
	}
	for _, s := range []string{``, `{}`, `null`, `[]`, `{"hook":"order-sign","hookInstance":"x","context":{"patientId":"p","draftOrders":{"resourceType":"Bundle","entry":[{"resource":null}]}}}`,
		`{"hook":"order-dispatch","hookInstance":"x","context":{"patientId":"p","dispatchedOrders":["MedicationRequest/1"],"performer":"Organization/o"}}`,
		`{"hook":"order-select","hookInstance":"x","context":{"patientId":"p","selections":["/"],"draftOrders":{"resourceType":"Bundle"}},"prefetch":{"a":null,"b":3}}`} {
		f.Add([]byte(s), OrderSign)
		f.Add([]byte(s), OrderDispatch)
	}
	f.Fuzz(func(t *testing.T, body []byte, hook string) {
		req, err := Decode(body, hook)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || (e.Status != 400 && e.Status != 422) || e.Msg == "" || e.Kind == "" {
				t.Fatalf("refusal %v is not a 400/422 with a kind and a message", err)
			}
			return
		}
		if req.Hook != hook || req.HookInstance == "" || req.Context.PatientID == "" {
			t.Fatalf("accepted an incomplete request: %+v", req)
		}
		if (hook == OrderSign || hook == OrderSelect) && IsNull(req.Context.DraftOrders) {
			t.Fatal("accepted an order hook without draftOrders")
		}
		if !IsNull(req.Context.DraftOrders) {
			if rs, err := BundleResources(req.Context.DraftOrders); err == nil {
				for _, r := range rs {
					_ = r.Ref()
				}
			}
		}
		for _, raw := range req.Prefetch {
			if !IsNull(raw) {
				_, _ = BundleResources(raw)
			}
		}
		if req.FHIRAuthorization != nil && (req.FHIRServer == "" || req.FHIRAuthorization.AccessToken == "") {
			t.Fatal("accepted fhirAuthorization without fhirServer or token")
		}
	})
}

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPASSubmitCLI submits the committed PAS bundle of a sample patient,
// checks the decision against the expected matrix, inquires about it, and
// checks the exit codes of rejected input.
func TestPASSubmitCLI(t *testing.T) {
	store := filepath.Join(t.TempDir(), "pas.db")
	bundle := "../../testdata/pas/b-approve.json"
	if _, err := os.Stat(bundle); err != nil {
		t.Skip("no testdata/pas bundles")
	}
	for _, tc := range []struct{ policy, decision string }{
		{"", expected["b-approve"]["ucare-hemgenix"]},
		{"bcbsms-hemophilia-b-gene-therapy", expected["b-approve"]["bcbsms-hemophilia-b-gene-therapy"]},
	} {
		args := []string{"pas", "submit", "--bundle", bundle, "--store", store, "--as-of", sampleAsOf}
		if tc.policy != "" {
			args = append(args, "--policy", tc.policy)
		}
		out, errs, code := runCLI(t, "", args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errs)
		}
		var b struct {
			Entry []struct {
				Resource struct {
					ResourceType string
					Outcome      string
					Disposition  string
				}
			}
		}
		if err := json.Unmarshal([]byte(out), &b); err != nil || len(b.Entry) == 0 || b.Entry[0].Resource.ResourceType != "ClaimResponse" {
			t.Fatalf("not a response bundle: %v %.300s", err, out)
		}
		want := map[string]string{"approve": "approved", "deny": "denied", "not-covered": "not covered", "pend": "pended"}[tc.decision]
		if d := b.Entry[0].Resource.Disposition; !strings.Contains(d, want) {
			t.Errorf("policy %q: disposition %q, want %s", tc.policy, d, want)
		}
	}
	// The inquiry: the committed bundle itself carries the Claim identifier and patient.
	out, errs, code := runCLI(t, "", "pas", "inquire", "--bundle", bundle, "--store", store)
	if code != 0 || !strings.Contains(out, "ClaimResponse") {
		t.Errorf("inquire: exit %d: %s", code, errs)
	}

	dir := t.TempDir()
	bad := filepath.Join(dir, "claim.json")
	os.WriteFile(bad, []byte(`{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Claim","use":"claim"}}]}`), 0o644)
	out, errs, code = runCLI(t, "", "pas", "submit", "--bundle", bad, "--store", store)
	if code != 2 || out != "" || !strings.Contains(errs, "Bundle.entry[0].resource.use") {
		t.Errorf("non-preauthorization claim: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if _, errs, code := runCLI(t, "", "pas", "frobnicate"); code != 2 || !strings.Contains(errs, "usage") {
		t.Errorf("unknown operation: exit %d %q", code, errs)
	}
}

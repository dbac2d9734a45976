package crd

import (
	"errors"
	"testing"

	"hemopa/cmd/hemopa/internal/router"
	"hemopa/cmd/hemopa/internal/serve/cdshooks"
	"hemopa/cmd/hemopa/internal/testenv"
)

// TestPolicyFor: a Coverage's payor routes the drug (see the router's
// tests); an unlisted payor without a default is an unknown Coverage (400).
func TestPolicyFor(t *testing.T) {
	cat := testenv.Catalog(t)
	r, err := router.New(cat, router.Config{
		Payers:        []router.Payer{{Name: "UCare", Match: router.PayerMatch{Display: "UCare"}, Policy: "ucare-hemgenix"}},
		DefaultPolicy: map[string]string{"Beqvez": "label-aligned-beqvez"},
	})
	if err != nil {
		t.Fatal(err)
	}
	s := &Service{router: r}
	cov := func(display string) *coverage {
		return &coverage{resource: resource{Type: "Coverage", ID: "c"}, Payor: []payorRef{{Display: display}}}
	}
	for _, tc := range []struct {
		payer, drug, policy string
		status              int // of the error; 0 none
	}{
		{"UCare", "Hemgenix", "ucare-hemgenix", 0},
		{"ucare ", "Hemgenix", "ucare-hemgenix", 0},
		{"UCare", "Beqvez", "label-aligned-beqvez", 0}, // the payer has no Beqvez policy: the default
		{"UCare", "Roctavian", "", 0},                  // listed payer, nothing for the drug: no card
		{"Other", "Beqvez", "label-aligned-beqvez", 0},
		{"Other", "Hemgenix", "", 400}, // unknown Coverage
	} {
		pol, _, err := s.policyFor(cov(tc.payer), tc.drug)
		var ce *cdshooks.Error
		switch {
		case tc.status != 0:
			if !errors.As(err, &ce) || ce.Status != tc.status || ce.Kind != "unknown-coverage" {
				t.Errorf("%s/%s: %v, want %d", tc.payer, tc.drug, err, tc.status)
			}
		case err != nil:
			t.Errorf("%s/%s: %v", tc.payer, tc.drug, err)
		case (pol == nil) != (tc.policy == "") || (pol != nil && pol.ID != tc.policy):
			t.Errorf("%s/%s: %v, want %q", tc.payer, tc.drug, pol, tc.policy)
		}
	}
}

// TestPickCoverage: the order's insurance names the Coverage; without one,
// the single active Coverage; several active and none named is a 400
// (hook-13); inactive Coverages do not count.
func TestPickCoverage(t *testing.T) {
	cov := func(id, status string) resource {
		return resource{Type: "Coverage", ID: id, Raw: []byte(`{"resourceType":"Coverage","id":"` + id + `","status":"` + status + `"}`)}
	}
	for _, tc := range []struct {
		name      string
		insurance []string
		covs      []resource
		want      string // Coverage id, "" none, "400" refused
	}{
		{"named", []string{"Coverage/b"}, []resource{cov("a", "active"), cov("b", "active")}, "b"},
		{"single active", nil, []resource{cov("a", "cancelled"), cov("b", "active")}, "b"},
		{"none active", nil, []resource{cov("a", "cancelled")}, ""},
		{"several active, none named", nil, []resource{cov("a", "active"), cov("b", "active")}, "400"},
		{"named but not in the prefetch", []string{"Coverage/z"}, []resource{cov("a", "active")}, "400"},
	} {
		cv, err := pickCoverage(&Order{resource: resource{Type: "MedicationRequest", ID: "mr"}, Insurance: tc.insurance}, tc.covs)
		var ce *cdshooks.Error
		switch {
		case tc.want == "400":
			if !errors.As(err, &ce) || ce.Status != 400 {
				t.Errorf("%s: %v, %v; want a 400", tc.name, cv, err)
			}
		case err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want == "" && cv != nil, tc.want != "" && (cv == nil || cv.ID != tc.want):
			t.Errorf("%s: %+v, want %q", tc.name, cv, tc.want)
		}
	}
}

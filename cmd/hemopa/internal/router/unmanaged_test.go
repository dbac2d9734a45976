package router

import (
	"strings"
	"testing"

	"hemopa/cmd/hemopa/internal/testenv"
)

func TestUnmanaged(t *testing.T) {
	cat := testenv.Catalog(t)
	noAuth := &Unmanaged{Covered: "covered", PANeeded: "no-auth", Reason: "UCare does not require PA for this item"}
	r, err := New(cat, Config{
		Payers: []Payer{
			{Name: "UCare", Match: PayerMatch{Display: "UCare"}, Policy: "ucare-hemgenix", Unmanaged: noAuth},
			{Name: "NY", Match: PayerMatch{Display: "NY Medicaid"}, Policy: "ny-pharmacy-109-hemgenix"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		display, payer string
		want           Unmanaged
	}{
		{"UCare", "UCare", *noAuth},
		{"NY Medicaid", "NY", DefaultUnmanaged},
		{"Someone else", "", DefaultUnmanaged},
	} {
		if u, payer := r.UnmanagedFor(Payor{Display: tc.display}); u != tc.want || payer != tc.payer {
			t.Errorf("%s: %+v (%q), want %+v (%q)", tc.display, u, payer, tc.want, tc.payer)
		}
	}
	if err := DefaultUnmanaged.check("default"); err != nil {
		t.Errorf("the product default breaks its own rules: %v", err)
	}
	for _, tc := range []struct {
		u    Unmanaged
		want string
	}{
		{Unmanaged{Covered: "maybe", PANeeded: "no-auth", Reason: "r"}, "unmanaged.covered"},
		{Unmanaged{Covered: "not-covered", PANeeded: "no-auth", Reason: "r"}, "crd-ci-q2"},
		{Unmanaged{Covered: "covered", Reason: "r"}, "unmanaged.pa_needed"},
		{Unmanaged{Covered: "covered", PANeeded: "no-auth"}, "reason is required"},
	} {
		u := tc.u
		if _, err := New(cat, Config{Unmanaged: &u}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.u, err, tc.want)
		}
	}
}

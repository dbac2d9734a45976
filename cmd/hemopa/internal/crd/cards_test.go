package crd

import "testing"

func TestInsurer(t *testing.T) {
	for _, tc := range []struct {
		configured string
		payors     []payorRef
		want       string
	}{
		{"UCare", []payorRef{{Display: "UCare Minnesota"}}, "UCare"},
		{"", []payorRef{{Reference: "Organization/x"}, {Display: "NY Medicaid"}}, "NY Medicaid"},
		{"", []payorRef{{Reference: "Organization/x"}}, "Organization/x"},
		{"", nil, "The patient's payer"},
	} {
		if got := insurer(tc.configured, &coverage{Payor: tc.payors}); got != tc.want {
			t.Errorf("insurer(%q, %+v) = %q, want %q", tc.configured, tc.payors, got, tc.want)
		}
	}
}

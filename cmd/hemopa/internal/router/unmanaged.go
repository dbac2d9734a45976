package router

import (
	"fmt"
	"slices"
)

// Unmanaged is what a payer wants said, on a CRD primary hook, about an order
// hemopa has no policy for (anything but a hemophilia gene therapy): CRD
// servers supply coverage information for every order of a primary hook
// (CRD resp-26, hook-16), never silence. Covered and PANeeded are the
// coverage-information codes; Reason is shown to the clinician.
type Unmanaged struct {
	Covered  string `yaml:"covered"`   // covered | not-covered | conditional
	PANeeded string `yaml:"pa_needed"` // no-auth | auth-needed | performpa | conditional ("" with not-covered)
	Reason   string `yaml:"reason"`
}

// DefaultUnmanaged is the product's answer when the payer configures none:
// conditional coverage and prior authorization, with the reason that this
// service does not review the item — true, and it sends the clinician to the
// payer's usual process without asserting coverage or a PA requirement
// hemopa cannot know.
var DefaultUnmanaged = Unmanaged{Covered: "conditional", PANeeded: "conditional",
	Reason: "Not reviewed by this coverage requirements service, which answers for hemophilia gene therapies (Hemgenix, Beqvez, Roctavian) only: follow the payer's usual coverage and prior authorization process"}

func (u Unmanaged) check(where string) error {
	if !slices.Contains([]string{"covered", "not-covered", "conditional"}, u.Covered) {
		return fmt.Errorf("%s.covered: %q is not covered, not-covered or conditional", where, u.Covered)
	}
	switch {
	case u.Covered == "not-covered" && u.PANeeded != "":
		return fmt.Errorf("%s.pa_needed: not-covered takes no pa_needed (CRD crd-ci-q2)", where)
	case u.Covered != "not-covered" && !slices.Contains([]string{"no-auth", "auth-needed", "performpa", "conditional"}, u.PANeeded):
		return fmt.Errorf("%s.pa_needed: %q is not no-auth, auth-needed, performpa or conditional", where, u.PANeeded)
	case u.Reason == "":
		return fmt.Errorf("%s.reason is required (what the clinician is told)", where)
	}
	return nil
}

// UnmanagedFor is the answer for an order hemopa has no policy for under
// payors: the matching payer's unmanaged:, else the configuration's, else
// DefaultUnmanaged. payer is the configured payer's name ("" when none).
func (r *Router) UnmanagedFor(payors ...Payor) (u Unmanaged, payer string) {
	if p := r.payerOf(payors); p != nil {
		if p.unmanaged != nil {
			return *p.unmanaged, p.name
		}
		return r.unmanaged, p.name
	}
	return r.unmanaged, ""
}

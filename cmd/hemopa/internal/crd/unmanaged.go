package crd

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"hemopa/cmd/hemopa/internal/davinci"
	"hemopa/cmd/hemopa/internal/serve/cdshooks"
)

// AssessUnmanaged answers an order hemopa has no policy for (anything but a
// hemophilia gene therapy) on a primary hook: CRD servers supply coverage
// information for every order of a primary hook (resp-26, hook-16), so the
// order is updated with the payer's configured answer for items this service
// does not review (router.Unmanaged). Only the Coverages are read — nothing
// of the record is decoded. No card: the answer is in the coverage
// information and a card repeating it is not wanted (resp-25). An order
// without an active Coverage gets nothing (coverage information is about a
// Coverage).
func (s *Service) AssessUnmanaged(o *Order, call Call, coverages []resource) (Assessment, error) {
	if pid, ok := cdshooks.RefID(o.Subject, "Patient"); o.Subject != "" && (!ok || pid != call.PatientID) {
		return Assessment{}, unprocessable("order-subject", "%s is not for context.patientId", o.Ref())
	}
	cv, err := pickCoverage(o, coverages)
	if err != nil || cv == nil {
		return Assessment{Decision: "no-coverage"}, err
	}
	u, _ := s.router.UnmanagedFor(cv.payors()...)
	day := s.day().Format("2006-01-02")
	ci := &davinci.CoverageInfo{Coverage: cv.Ref(), Covered: u.Covered, PANeeded: u.PANeeded, Reasons: []string{u.Reason}, Date: day}
	if u.Covered == davinci.Conditional || u.PANeeded == davinci.Conditional {
		ci.InfoNeeded = []string{davinci.InfoOther}
		ci.Details = []davinci.Detail{{Code: "Not reviewed by this service", Value: u.Reason}}
	}
	ci.AssertionID = unmanagedAssertionID(o.Ref(), cv.Ref(), day, u.Covered, u.PANeeded, u.Reason)
	if err := ci.Validate(); err != nil {
		return Assessment{}, err // the router checked the configuration: a bug
	}
	action, err := systemAction(o, ci, "the payer's answer for items this service does not review")
	if err != nil {
		return Assessment{}, err
	}
	return Assessment{Action: action, Decision: "unmanaged"}, nil
}

// unmanagedAssertionID is the coverage-assertion-id of an unmanaged answer: a
// digest of what the assertion is about and says, so the same order under the
// same Coverage gets the same id on every primary hook of one day, and
// another Coverage another id (CRD resp-32).
func unmanagedAssertionID(parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return "unmanaged-" + hex.EncodeToString(sum[:12])
}

package crd

import (
	"context"
	"time"

	"hemopa/cmd/hemopa/internal/davinci"
	"hemopa/rules"
)

// Authorizations records authorizations granted at order time (the PAS
// store implements it). Recording the same authorization twice is fine.
type Authorizations interface {
	RecordAuthorization(ctx context.Context, a davinci.OrderAuthorization) error
}

// OrderAuthorization is an authorization granted at order time.
type OrderAuthorization = davinci.OrderAuthorization

// WithAuthorizations lets payers configured with authorize_at_order grant the
// authorization at order time, recorded in a (default: none, so never
// satisfied).
// onError is told when recording fails (the order is then answered
// auth-needed), for the log.
func WithAuthorizations(a Authorizations, onError func(error)) Option {
	return func(o *options) { o.auths, o.authErr = a, onError }
}

// recordTimeout bounds recording an authorization.
const recordTimeout = 5 * time.Second

// authorize grants the authorization at order time when the payer of cv
// authorizes at order time, the hook is primary, and the determination is
// an approval that needs no human review: the authorization is recorded,
// then ci says pa-needed satisfied with its id. Otherwise, or when
// recording fails (the answer falls back to auth-needed: the PA goes
// through PAS as before, nothing is claimed that PAS cannot find), ci is
// unchanged.
func (s *Service) authorize(o *Order, call Call, cv *coverage, dec *decision, ci *davinci.CoverageInfo) {
	if err := s.grant(o, call, cv, dec, ci); err != nil && s.authErr != nil {
		s.authErr(err)
	}
}

func (s *Service) grant(o *Order, call Call, cv *coverage, dec *decision, ci *davinci.CoverageInfo) error {
	if s.auths == nil || !call.Primary || dec.Det.Decision != rules.Approve ||
		(dec.Det.Review != "" && dec.Det.Review != "none") || !s.router.AuthorizesAtOrder(cv.payors()...) {
		return nil
	}
	a := davinci.OrderAuthorization{
		ID:      davinci.OrderAuthorizationID(dec.Key, o.Ref(), cv.Ref()),
		Patient: call.PatientID, Order: o.Ref(), Drug: o.Drug,
		Policy: dec.Det.Policy, PolicyVersion: dec.Det.PolicyVersion, Coverage: cv.Ref(),
		Issued: dec.Det.AsOf, DeterminationKey: dec.Key,
	}
	if d := dec.Det.ApprovalDays; d != nil {
		if day, err := time.Parse("2006-01-02", dec.Det.AsOf); err == nil {
			a.Expires = day.AddDate(0, 0, *d).Format("2006-01-02")
		}
	}
	// The hook's context is not passed to Assess; the write is local and short.
	ctx, cancel := context.WithTimeout(context.Background(), recordTimeout)
	defer cancel()
	if err := s.auths.RecordAuthorization(ctx, a); err != nil {
		return err
	}
	ci.PANeeded, ci.SatisfiedPAID = davinci.Satisfied, a.ID
	return nil
}

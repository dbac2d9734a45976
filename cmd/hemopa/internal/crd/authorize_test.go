package crd

import (
	"context"
	"errors"
	"testing"

	"hemopa/cmd/hemopa/internal/davinci"
	"hemopa/cmd/hemopa/internal/router"
	"hemopa/cmd/hemopa/internal/testenv"
	"hemopa/rules"
)

type fakeAuths struct {
	got []davinci.OrderAuthorization
	err error
}

func (f *fakeAuths) RecordAuthorization(_ context.Context, a davinci.OrderAuthorization) error {
	if f.err != nil {
		return f.err
	}
	f.got = append(f.got, a)
	return nil
}

// TestAuthorize: satisfied only when the payer authorizes at order time, the
// hook is primary, the decision is approve and no human review is required;
// each condition off leaves auth-needed, as does a failed recording.
func TestAuthorize(t *testing.T) {
	cat := testenv.Catalog(t)
	r, err := router.New(cat, router.Config{Payers: []router.Payer{
		{Name: "NY", Match: router.PayerMatch{Reference: "Organization/ny-medicaid"}, Policy: "ny-pharmacy-109-hemgenix", AuthorizeAtOrder: true},
		{Name: "UCare", Match: router.PayerMatch{Display: "UCare"}, Policy: "ucare-hemgenix"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	// The policies' own review: UCare's goes to the Medical Director, so it
	// never qualifies; NY's needs none.
	for id, want := range map[string]string{"ucare-hemgenix": "medical-director", "ny-pharmacy-109-hemgenix": ""} {
		if pol, err := cat.Lookup(id); err != nil || pol.Review != want {
			t.Fatalf("%s: review %q (%v), want %q", id, pol.Review, err, want)
		}
	}
	days := 180
	type input struct {
		payor    string
		primary  bool
		decision rules.Decision
		review   string
		auths    bool
		fail     bool
	}
	base := input{payor: "Organization/ny-medicaid", primary: true, decision: rules.Approve, review: "none", auths: true}
	for _, tc := range []struct {
		name      string
		edit      func(*input)
		satisfied bool
	}{
		{"all conditions", func(*input) {}, true},
		{"review empty", func(in *input) { in.review = "" }, true},
		{"payer without authorize_at_order", func(in *input) { in.payor = "Organization/other" }, false},
		{"secondary hook", func(in *input) { in.primary = false }, false},
		{"pend", func(in *input) { in.decision = rules.Pend }, false},
		{"human review", func(in *input) { in.review = "medical-director" }, false},
		{"no authorizations", func(in *input) { in.auths = false }, false},
		{"recording fails", func(in *input) { in.fail = true }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := base
			tc.edit(&in)
			fake := &fakeAuths{}
			if in.fail {
				fake.err = errors.New("disk full")
			}
			var reported error
			var opts []Option
			if in.auths {
				opts = append(opts, WithAuthorizations(fake, func(err error) { reported = err }))
			}
			s := New(nil, r, opts...)
			o := &Order{resource: resource{Type: "MedicationRequest", ID: "mr-1"}, Drug: "Hemgenix"}
			cv := &coverage{resource: resource{Type: "Coverage", ID: "cov-1"}, Payor: []payorRef{{Reference: in.payor}}}
			det := &rules.Determination{Policy: "ny-pharmacy-109-hemgenix", PolicyVersion: "1", Drug: "Hemgenix",
				AsOf: "2026-11-24", Decision: in.decision, Review: in.review, ApprovalDays: &days, Missing: []string{"x"}}
			dec := &decision{Det: det, Key: "0123456789abcdef0123456789abcdef"}
			ci := davinci.CoverageInfoFor(det, davinci.AssertionInput{Coverage: cv.Ref(), AssertionID: dec.Key, AskDocumentation: in.primary})
			s.authorize(o, Call{PatientID: "pat-1", Primary: in.primary}, cv, dec, ci)
			if err := ci.Validate(); err != nil {
				t.Fatal(err)
			}
			if !tc.satisfied {
				if ci.PANeeded == davinci.Satisfied || ci.SatisfiedPAID != "" || len(fake.got) != 0 {
					t.Errorf("pa-needed %s, id %q, recorded %v; want as without authorization", ci.PANeeded, ci.SatisfiedPAID, fake.got)
				}
				if in.fail && reported == nil {
					t.Error("the recording error was not reported")
				}
				return
			}
			if ci.PANeeded != davinci.Satisfied || ci.SatisfiedPAID == "" || len(fake.got) != 1 {
				t.Fatalf("pa-needed %s, id %q, recorded %v; want satisfied and recorded", ci.PANeeded, ci.SatisfiedPAID, fake.got)
			}
			want := davinci.OrderAuthorization{ID: ci.SatisfiedPAID, Patient: "pat-1", Order: "MedicationRequest/mr-1", Drug: "Hemgenix",
				Policy: "ny-pharmacy-109-hemgenix", PolicyVersion: "1", Coverage: "Coverage/cov-1",
				Issued: "2026-11-24", Expires: "2027-05-23", DeterminationKey: dec.Key}
			if fake.got[0] != want {
				t.Errorf("recorded %+v, want %+v", fake.got[0], want)
			}
			if ci.SatisfiedPAID != davinci.OrderAuthorizationID(dec.Key, o.Ref(), cv.Ref()) {
				t.Errorf("id %s is not derived from the determination key, order and Coverage", ci.SatisfiedPAID)
			}
		})
	}
}

// TestOrderAuthorizationID: the same inputs give the same id; another order
// or determination another.
func TestOrderAuthorizationID(t *testing.T) {
	a := davinci.OrderAuthorizationID("k1", "MedicationRequest/mr-1", "Coverage/c")
	if a != davinci.OrderAuthorizationID("k1", "MedicationRequest/mr-1", "Coverage/c") {
		t.Error("not stable")
	}
	for _, b := range []string{davinci.OrderAuthorizationID("k2", "MedicationRequest/mr-1", "Coverage/c"),
		davinci.OrderAuthorizationID("k1", "MedicationRequest/mr-2", "Coverage/c")} {
		if a == b {
			t.Errorf("%s for different inputs", a)
		}
	}
}

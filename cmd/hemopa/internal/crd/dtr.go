package crd

import (
	"encoding/json"

	"hemopa/cmd/hemopa/internal/davinci"
	"hemopa/cmd/hemopa/internal/serve/cdshooks"
)

// PackageRequest is a $questionnaire-package call, as its parameters carry it.
type PackageRequest struct {
	Coverage json.RawMessage // the coverage parameter: its payor picks the policy
	Orders   []resource      // the order parameters; the first gene therapy names the drug
	Record   []resource      // the bundle parameter's resources, to pre-fill from (an order there counts when Orders has none)
	Warnings []string        // for the package's outcome
}

// Package is a questionnaire package and what decided it.
type Package struct {
	Body     *davinci.Object // the package Bundle: the Questionnaire and the pre-filled QuestionnaireResponse
	Decision string          // the determination's decision
	Policy   string          // the deciding policy
}

// Package decides the order's policy and determination and pre-fills the
// attestation Questionnaire from the record: what the record answers is
// answered, the rest is asked for.
func (s *Service) Package(in PackageRequest) (*Package, error) {
	covRes, err := cdshooks.ParseResource(in.Coverage)
	if err != nil || covRes.Type != "Coverage" {
		return nil, badRequest("bad-coverage", "parameter coverage must be a Coverage resource")
	}
	cv, err := parseCoverage(covRes)
	if err != nil {
		return nil, err
	}
	var companions []resource
	for _, r := range in.Record {
		if r.Type == "Medication" {
			companions = append(companions, r)
		}
	}
	found, err := s.Orders(in.Orders, companions)
	if err != nil {
		return nil, err
	}
	if len(found) == 0 {
		if found, err = s.Orders(in.Record, companions); err != nil {
			return nil, err
		}
	}
	if len(found) == 0 {
		return nil, unprocessable("no-order", "no Hemgenix, Beqvez or Roctavian order in parameter order or bundle")
	}
	o := &found[0]
	pol, _, err := s.policyFor(cv, o.Drug)
	if err != nil {
		return nil, err
	}
	if pol == nil {
		return nil, unprocessable("no-policy", "the payer of %s has no policy for %s", cv.Ref(), o.Drug)
	}
	pid, rs, err := dtrRecord(cv, o, in.Orders, in.Record)
	if err != nil {
		return nil, err
	}
	dec, err := s.dec.decide(rs, pol, s.day(), pid)
	if err != nil {
		return nil, err
	}
	cat := s.p.Catalog
	answered, missing := davinci.Prefill(cat, pol, dec.Det, dec.Facts)
	var orderRefs []string
	for _, f := range found {
		orderRefs = append(orderRefs, f.Ref())
	}
	qr := davinci.QuestionnaireResponse(cat, answered, missing, davinci.PackageInput{
		Patient: "Patient/" + pid, Coverage: cv.Ref(), Orders: orderRefs})
	return &Package{Body: davinci.QuestionnairePackage(davinci.Questionnaire(cat), qr, in.Warnings),
		Decision: string(dec.Det.Decision), Policy: pol.ID}, nil
}

// dtrRecord is the record evaluated for a package: the Patient (the Coverage
// beneficiary; a stand-in when the bundle has none), the order, the other
// orders, the Coverage and the bundle, each resource once.
func dtrRecord(cv *coverage, o *Order, orders, record []resource) (string, []resource, error) {
	pid, _ := cdshooks.RefID(cv.Beneficiary.Reference, "Patient")
	var patient *resource
	for i, r := range record {
		if r.Type == "Patient" && (pid == "" || r.ID == pid) {
			patient = &record[i]
			pid = r.ID
			break
		}
	}
	if pid == "" || !cdshooks.ValidID(pid) {
		return "", nil, unprocessable("no-patient", "Coverage.beneficiary must reference the Patient (or the bundle hold one)")
	}
	var set resourceSet
	if patient != nil {
		set.add(*patient)
	} else {
		set.add(stubPatient(pid))
	}
	set.add(o.eval)
	set.skip(o.Ref())
	set.add(orders...)
	set.add(cv.resource)
	set.add(record...)
	return pid, set.list, nil
}

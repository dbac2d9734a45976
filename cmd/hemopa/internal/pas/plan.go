package pas

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	codespb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	bcrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"
	claimpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/claim_go_proto"
	patpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/patient_go_proto"

	"hemopa/cmd/hemopa/internal/router"
	"hemopa/rules"
)

// plan is what a submission is decided with: each item's gene therapy and
// the policy chosen for it.
type plan struct {
	drugs    []string        // by item index; "" if the line names no gene therapy
	policies []*rules.Policy // by item index; nil: not reviewed
	payer    router.Payor
}

// plan reads the items' drugs and chooses their policies before the bundle
// is decoded: the choice is part of the submission key.
func (s *Service) plan(r *request) (*plan, error) {
	items, _ := r.claim["item"].([]any)
	pl := &plan{policies: make([]*rules.Policy, len(items)), payer: r.payerOf()}
	var err error
	if pl.drugs, err = s.itemDrugs(items); err != nil {
		return nil, err
	}
	for i, drug := range pl.drugs {
		if drug == "" {
			continue
		}
		pol, _, err := s.router.Route(drug, pl.payer)
		if err != nil && !errors.Is(err, router.ErrUnrouted) {
			return nil, fmt.Errorf("route %s: %w", drug, err)
		}
		pl.policies[i] = pol // nil: not reviewed
	}
	return pl, nil
}

// fingerprint names the plan's drug → policy@version choices.
func (pl *plan) fingerprint() string {
	var b strings.Builder
	for i, d := range pl.drugs {
		b.WriteString(d)
		if p := pl.policies[i]; p != nil {
			b.WriteString("=" + p.ID + "@" + p.Version())
		}
		b.WriteByte(';')
	}
	return b.String()
}

// itemDrugs names the gene therapy of each Claim.item (by index) exactly as
// the mapping reads a preauthorization Claim: each item's productOrService is
// put alone in a Claim of its own, and the requested_drug facts say which
// drug each names. Only productOrService (codings and text) is read, so it is
// copied from the JSON rather than decoded with the whole Claim.
func (s *Service) itemDrugs(items []any) ([]string, error) {
	out := make([]string, len(items))
	str := func(m map[string]any, k string) *dtpb.String {
		v, _ := m[k].(string)
		return &dtpb.String{Value: v}
	}
	probe := &bcrpb.Bundle{Entry: []*bcrpb.Bundle_Entry{{Resource: &bcrpb.ContainedResource{
		OneofResource: &bcrpb.ContainedResource_Patient{Patient: &patpb.Patient{}}}}}}
	for i, x := range items {
		it, _ := x.(map[string]any)
		pos, _ := it["productOrService"].(map[string]any)
		cc := &dtpb.CodeableConcept{Text: str(pos, "text")}
		codings, _ := pos["coding"].([]any)
		for _, y := range codings {
			c, _ := y.(map[string]any)
			sys, _ := c["system"].(string)
			code, _ := c["code"].(string)
			cc.Coding = append(cc.Coding, &dtpb.Coding{System: &dtpb.Uri{Value: sys}, Code: &dtpb.Code{Value: code}, Display: str(c, "display")})
		}
		claim := &claimpb.Claim{Id: &dtpb.Id{Value: "item-" + strconv.Itoa(i)},
			Use:  &claimpb.Claim_UseCode{Value: codespb.UseCode_PREAUTHORIZATION},
			Item: []*claimpb.Claim_Item{{ProductOrService: cc}}}
		probe.Entry = append(probe.Entry, &bcrpb.Bundle_Entry{Resource: &bcrpb.ContainedResource{
			OneofResource: &bcrpb.ContainedResource_Claim{Claim: claim}}})
	}
	chart, err := s.p.Mapper.Map(probe)
	if err != nil {
		return nil, fmt.Errorf("read item products: %w", err)
	}
	for _, v := range chart.Facts["requested_drug"] {
		if i, err := strconv.Atoi(strings.TrimPrefix(v.Source, "Claim/item-")); err == nil && i >= 0 && i < len(out) && out[i] == "" {
			out[i] = v.Code
		}
	}
	return out, nil
}

// payerOf reads the payer: the focal (else first) Claim.insurance Coverage's
// first payor, else Claim.insurer.
// The router matches it against the configured payers.
func (r *request) payerOf() router.Payor {
	ref := ""
	if ins, ok := r.claim["insurance"].([]any); ok {
		var pick map[string]any
		for _, x := range ins {
			m, _ := x.(map[string]any)
			if m == nil {
				continue
			}
			if pick == nil {
				pick = m
			}
			if focal, _ := m["focal"].(bool); focal {
				pick = m
				break
			}
		}
		if cov := r.resolve(refOf(pick["coverage"])); cov != nil && cov.typ == "Coverage" {
			if payors, ok := cov.object()["payor"].([]any); ok && len(payors) > 0 {
				ref = refOf(payors[0])
			}
		}
	}
	if ref == "" {
		ref = refOf(r.claim["insurer"])
	}
	p := router.Payor{Reference: ref}
	if e := r.resolve(ref); e != nil && e.typ == "Organization" {
		p.Display, _ = e.object()["name"].(string)
		for _, id := range identifiersOf(e.object()["identifier"]) {
			p.Identifiers = append(p.Identifiers, router.Identifier{System: id.System, Value: id.Value})
		}
	}
	return p
}

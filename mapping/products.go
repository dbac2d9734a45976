package mapping

import (
	"strings"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"

	"hemopa/rules"
)

// productOf names the drug a CodeableConcept describes, by code (HCPCS, RxNorm,
// NDC prefix) or by name in its text and displays.
func (m *Mapper) productOf(cc *dtpb.CodeableConcept) *product {
	if cc == nil {
		return nil
	}
	for _, cd := range codingsOf(cc) {
		if p := m.prodByCode[m.codeKey(cd.system, cd.code)]; p != nil {
			return p
		}
		if shortSystem(cd.system, "") == "ndc" {
			for _, p := range m.products {
				for _, pre := range p.NDCPrefixes {
					if strings.HasPrefix(cd.code, pre) {
						return p
					}
				}
			}
		}
	}
	text := textOf(cc)
	if strings.TrimSpace(text) == "" {
		return nil
	}
	for _, p := range m.products {
		if containsAny(text, p.UnlessNames) {
			continue
		}
		if containsAny(text, p.Names) {
			return p
		}
	}
	return nil
}

func containsAny(text string, words []string) bool {
	for _, w := range words {
		if strings.Contains(text, w) {
			return true
		}
	}
	return false
}

// medicationConcept resolves medication[x]: a CodeableConcept, or a reference
// to a Medication in the bundle.
func (c *mapCall) medicationConcept(cc *dtpb.CodeableConcept, ref *dtpb.Reference) *dtpb.CodeableConcept {
	if cc != nil {
		return cc
	}
	if e := c.resolve(refString(ref)); e != nil && e.typ == "Medication" {
		return e.res.GetMedication().GetCode()
	}
	return nil
}

// mapOrder records the gene therapy being ordered (requested_drug) and who
// ordered it: an active or draft MedicationRequest/ServiceRequest, or a
// preauthorization Claim's item.
func (c *mapCall) mapOrder(e *entry) {
	add := func(p *product, requester *dtpb.Reference) {
		if p == nil || p.Role != "gene-therapy" {
			return
		}
		c.add("requested_drug", rules.Value{Code: p.Name, Source: e.ref()})
		if c.prescribe == "" {
			c.prescribe = refString(requester)
		}
	}
	switch e.typ {
	case "MedicationRequest":
		mr := e.res.GetMedicationRequest()
		if st := status(mr.GetStatus().GetValue()); (st == "active" || st == "draft" || st == "on-hold") && c.about(mr.GetSubject()) {
			add(c.m.productOf(c.medicationConcept(mr.GetMedication().GetCodeableConcept(), mr.GetMedication().GetReference())), mr.GetRequester())
		}
	case "ServiceRequest":
		sr := e.res.GetServiceRequest()
		if st := status(sr.GetStatus().GetValue()); (st == "active" || st == "draft" || st == "on-hold") && c.about(sr.GetSubject()) {
			add(c.m.productOf(sr.GetCode()), sr.GetRequester())
		}
	case "Claim":
		cl := e.res.GetClaim()
		if status(cl.GetUse().GetValue()) == "preauthorization" && c.about(cl.GetPatient()) {
			for _, it := range cl.GetItem() {
				add(c.m.productOf(it.GetProductOrService()), cl.GetProvider())
			}
		}
	}
}

// mapMedication reads prior gene therapy, current factor prophylaxis and
// current hepatitis antiviral therapy from medication resources.
func (c *mapCall) mapMedication(e *entry) bool {
	var (
		p        *product
		st       string
		subject  *dtpb.Reference
		date     = firstDate()
		received bool // the product was given or taken
		current  bool // the product is in current use
	)
	switch e.typ {
	case "MedicationRequest":
		mr := e.res.GetMedicationRequest()
		st, subject = status(mr.GetStatus().GetValue()), mr.GetSubject()
		p = c.m.productOf(c.medicationConcept(mr.GetMedication().GetCodeableConcept(), mr.GetMedication().GetReference()))
		date = dateTime(mr.GetAuthoredOn())
		received, current = st == "completed", st == "active"
	case "MedicationStatement":
		ms := e.res.GetMedicationStatement()
		st, subject = status(ms.GetStatus().GetValue()), ms.GetSubject()
		p = c.m.productOf(c.medicationConcept(ms.GetMedication().GetCodeableConcept(), ms.GetMedication().GetReference()))
		eff := ms.GetEffective()
		date = firstDate(dateTime(eff.GetDateTime()), dateTime(eff.GetPeriod().GetStart()), dateTime(ms.GetDateAsserted()))
		received, current = st == "completed" || st == "active", st == "active"
	case "MedicationAdministration":
		ma := e.res.GetMedicationAdministration()
		st, subject = status(ma.GetStatus().GetValue()), ma.GetSubject()
		p = c.m.productOf(c.medicationConcept(ma.GetMedication().GetCodeableConcept(), ma.GetMedication().GetReference()))
		eff := ma.GetEffective()
		date = firstDate(dateTime(eff.GetDateTime()), dateTime(eff.GetPeriod().GetStart()))
		received = st == "completed" || st == "in-progress"
	}
	if p == nil || !c.about(subject) {
		return false
	}
	v := rules.Value{Flag: rules.Positive, Date: date, Code: p.Name, Source: e.ref()}
	switch {
	case p.Role == "gene-therapy" && received:
		c.add("prior_gene_therapy", v)
	case p.Role == "factor" && current:
		c.add("factor_prophylaxis", v)
	case p.Role == "antiviral" && current:
		c.add("antiviral_therapy", v)
	default:
		return false
	}
	return true
}

// mapProcedure reads a completed gene therapy procedure.
func (c *mapCall) mapProcedure(e *entry) bool {
	pr := e.res.GetProcedure()
	st := status(pr.GetStatus().GetValue())
	if (st != "completed" && st != "in-progress") || !c.about(pr.GetSubject()) {
		return false
	}
	p := c.m.productOf(pr.GetCode())
	if p == nil {
		for _, u := range pr.GetUsedCode() {
			if p = c.m.productOf(u); p != nil {
				break
			}
		}
	}
	if p == nil || p.Role != "gene-therapy" {
		return false
	}
	perf := pr.GetPerformed()
	date := firstDate(dateTime(perf.GetDateTime()), periodDay(perf.GetPeriod()))
	c.add("prior_gene_therapy", rules.Value{Flag: rules.Positive, Date: date, Code: p.Name, Source: e.ref()})
	return true
}

// mapClaim reads claims history: a billed (not preauthorization) Claim or an
// ExplanationOfBenefit with a gene therapy line is evidence of prior receipt.
func (c *mapCall) mapClaim(e *entry) bool {
	var (
		items []*dtpb.CodeableConcept
		dates []*dtpb.Period
	)
	switch e.typ {
	case "Claim":
		cl := e.res.GetClaim()
		st, use := status(cl.GetStatus().GetValue()), status(cl.GetUse().GetValue())
		if st != "active" || use != "claim" || !c.about(cl.GetPatient()) {
			return false
		}
		for _, it := range cl.GetItem() {
			items = append(items, it.GetProductOrService())
			dates = append(dates, itemPeriod(it.GetServiced().GetDate(), it.GetServiced().GetPeriod(), cl.GetBillablePeriod(), cl.GetCreated()))
		}
	case "ExplanationOfBenefit":
		eob := e.res.GetExplanationOfBenefit()
		st, use := status(eob.GetStatus().GetValue()), status(eob.GetUse().GetValue())
		if st != "active" || use != "claim" || status(eob.GetOutcome().GetValue()) == "error" || !c.about(eob.GetPatient()) {
			return false
		}
		for _, it := range eob.GetItem() {
			items = append(items, it.GetProductOrService())
			dates = append(dates, itemPeriod(it.GetServiced().GetDate(), it.GetServiced().GetPeriod(), eob.GetBillablePeriod(), eob.GetCreated()))
		}
	}
	found := false
	for i, cc := range items {
		if p := c.m.productOf(cc); p != nil && p.Role == "gene-therapy" {
			c.add("prior_gene_therapy", rules.Value{Flag: rules.Positive, Date: periodDay(dates[i]), Code: p.Name, Source: e.ref()})
			found = true
		}
	}
	return found
}

// itemPeriod picks the best date of a claim line as a Period.
func itemPeriod(d *dtpb.Date, p *dtpb.Period, billable *dtpb.Period, created *dtpb.DateTime) *dtpb.Period {
	if d != nil {
		return &dtpb.Period{Start: &dtpb.DateTime{ValueUs: d.GetValueUs(), Timezone: d.GetTimezone()}}
	}
	for _, x := range []*dtpb.Period{p, billable} {
		if x != nil && (x.GetStart() != nil || x.GetEnd() != nil) {
			return x
		}
	}
	return &dtpb.Period{Start: created}
}

// mapPrescriber records the specialties of the ordering clinician's
// PractitionerRole: the order's requester (a PractitionerRole, or a
// Practitioner whose role is in the bundle), else the bundle's only role.
func (c *mapCall) mapPrescriber() {
	var roles []*entry
	if e := c.resolve(c.prescribe); e != nil {
		switch e.typ {
		case "PractitionerRole":
			roles = []*entry{e}
		case "Practitioner":
			for _, r := range c.entries {
				if r.typ == "PractitionerRole" && c.resolve(refString(r.res.GetPractitionerRole().GetPractitioner())) == e {
					roles = append(roles, r)
				}
			}
		}
	}
	if roles == nil {
		for _, r := range c.entries {
			if r.typ == "PractitionerRole" {
				roles = append(roles, r)
			}
		}
		if len(roles) != 1 {
			return
		}
	}
	for _, r := range roles {
		for _, sp := range r.res.GetPractitionerRole().GetSpecialty() {
			for _, cd := range codingsOf(sp) {
				if cd.system == c.m.codes.SpecialtySystem && cd.code != "" {
					c.add("prescriber_specialty", rules.Value{Code: cd.code, Source: r.ref()})
				}
			}
		}
		c.chart.Read["PractitionerRole"]++
	}
}

package mapping

import (
	"strings"
	"time"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"

	"hemopa/rules"
)

// productOf names the drug a CodeableConcept describes, by code (HCPCS, RxNorm,
// NDC in any spelling) or by name in its text and displays.
func (m *Mapper) productOf(cc *dtpb.CodeableConcept) *product {
	if cc == nil {
		return nil
	}
	for _, cd := range codingsOf(cc) {
		if p := m.prodByCode[m.codeKey(cd.system, cd.code)]; p != nil {
			return p
		}
		if shortSystem(cd.system, "") == "ndc" {
			if p := m.productByNDC(cd.code); p != nil {
				return p
			}
		}
	}
	return m.productByName(textOf(cc))
}

func (m *Mapper) productByNDC(code string) *product {
	for _, p := range m.products {
		for _, pre := range p.NDCPrefixes {
			if ndcMatches(code, pre) {
				return p
			}
		}
	}
	return nil
}

func (m *Mapper) productByName(text string) *product {
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

// medicationConcept resolves medication[x]: a CodeableConcept, a Medication
// contained in the resource itself ("#id"), or a Medication in the bundle.
func (c *mapCall) medicationConcept(e *entry, cc *dtpb.CodeableConcept, ref *dtpb.Reference) *dtpb.CodeableConcept {
	if cc != nil {
		return cc
	}
	if t := c.resolveFrom(e, refString(ref)); t != nil && t.typ == "Medication" {
		return t.res.GetMedication().GetCode()
	}
	if d := ref.GetDisplay().GetValue(); d != "" {
		return &dtpb.CodeableConcept{Text: &dtpb.String{Value: d}}
	}
	return nil
}

// mapOrder records the gene therapy being ordered (requested_drug) and who
// ordered it: an active, draft or on-hold MedicationRequest/ServiceRequest, or
// a preauthorization Claim's item. The order is the drug decided, never a
// prior therapy (mapMedication reads only completed requests as given).
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
		if medicationReading["MedicationRequest"][status(mr.GetStatus().GetValue())] == order && c.about(mr.GetSubject()) {
			add(c.m.productOf(c.medicationConcept(e, mr.GetMedication().GetCodeableConcept(), mr.GetMedication().GetReference())), mr.GetRequester())
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

// reading is what a medication or procedure status says about the product.
type reading int8

const (
	notGiven reading = iota // not given (not-done, not-taken, intended, cancelled …): ignored
	given                   // given or taken, wholly or in part
	current                 // given and in current use (an active statement)
	order                   // an order not yet carried out: the drug decided, never a prior therapy
	unsure                  // status unknown (or stopped before completion): could have been given
)

// medicationReading maps each resource type's status to what it says (FHIR R4
// value sets; statuses not listed are notGiven, entered-in-error included).
// Stopped and on-hold administrations were started: a partial infusion of a
// gene therapy is a prior gene therapy.
var medicationReading = map[string]map[string]reading{
	"MedicationAdministration": {"completed": given, "in-progress": given, "stopped": given, "on-hold": given, "unknown": unsure},
	"MedicationStatement":      {"active": current, "completed": given, "stopped": given, "on-hold": given, "unknown": unsure},
	// A dispense handed over (completed) or being handed over (in-progress) was
	// received; a stopped one may have been handed over in part.
	"MedicationDispense": {"completed": given, "in-progress": given, "stopped": unsure, "unknown": unsure},
	// A request is an order while active, draft or on-hold; completed means it
	// was carried out; stopped (halted before all of it happened) or unknown may
	// have been carried out in part.
	"MedicationRequest": {"completed": given, "active": order, "draft": order, "on-hold": order, "stopped": unsure, "unknown": unsure},
	"Procedure":         {"completed": given, "in-progress": given, "stopped": given, "on-hold": given, "unknown": unsure},
}

// mapMedication reads prior gene therapy, current factor prophylaxis and
// current hepatitis antiviral therapy from medication resources.
func (c *mapCall) mapMedication(e *entry) bool {
	var (
		cc      *dtpb.CodeableConcept
		st      string
		subject *dtpb.Reference
		date    time.Time
	)
	switch e.typ {
	case "MedicationRequest":
		mr := e.res.GetMedicationRequest()
		st, subject = status(mr.GetStatus().GetValue()), mr.GetSubject()
		cc = c.medicationConcept(e, mr.GetMedication().GetCodeableConcept(), mr.GetMedication().GetReference())
		date = dateTime(mr.GetAuthoredOn())
	case "MedicationStatement":
		ms := e.res.GetMedicationStatement()
		st, subject = status(ms.GetStatus().GetValue()), ms.GetSubject()
		cc = c.medicationConcept(e, ms.GetMedication().GetCodeableConcept(), ms.GetMedication().GetReference())
		eff := ms.GetEffective()
		date = firstDate(dateTime(eff.GetDateTime()), dateTime(eff.GetPeriod().GetStart()), dateTime(ms.GetDateAsserted()))
	case "MedicationAdministration":
		ma := e.res.GetMedicationAdministration()
		st, subject = status(ma.GetStatus().GetValue()), ma.GetSubject()
		cc = c.medicationConcept(e, ma.GetMedication().GetCodeableConcept(), ma.GetMedication().GetReference())
		eff := ma.GetEffective()
		date = firstDate(dateTime(eff.GetDateTime()), dateTime(eff.GetPeriod().GetStart()))
	case "MedicationDispense":
		md := e.res.GetMedicationDispense()
		st, subject = status(md.GetStatus().GetValue()), md.GetSubject()
		cc = c.medicationConcept(e, md.GetMedication().GetCodeableConcept(), md.GetMedication().GetReference())
		date = firstDate(dateTime(md.GetWhenHandedOver()), dateTime(md.GetWhenPrepared()))
	default:
		return false
	}
	if !c.about(subject) {
		return false
	}
	r := medicationReading[e.typ][st]
	p := c.m.productOf(cc)
	if p == nil {
		return c.unnamedGeneTherapy(e, r, []*dtpb.CodeableConcept{cc}, date)
	}
	v := rules.Value{Flag: rules.Positive, Date: date, Code: p.Name, Source: e.ref()}
	switch {
	case p.Role == "gene-therapy" && (r == given || r == current):
		c.add("prior_gene_therapy", v)
	case p.Role == "gene-therapy" && r == unsure:
		c.unreadable(e, []string{"prior_gene_therapy"}, recordText(cc), `status "`+st+`": cannot tell whether `+p.Name+` was given — correct the status`, date)
	case p.Role == "factor" && (r == current || e.typ == "MedicationRequest" && st == "active"):
		c.add("factor_prophylaxis", v)
	case p.Role == "antiviral" && (r == current || e.typ == "MedicationRequest" && st == "active"):
		c.add("antiviral_therapy", v)
	default:
		return false
	}
	return true
}

// unnamedGeneTherapy is the safety net for medication, procedure and claim
// line concepts no product matches: one whose text or displays say gene
// therapy (vocabulary.yaml) and that was, or may have been, given makes
// prior_gene_therapy unreadable — it cannot be tied to a product, nor to the
// hemophilia being treated, so a reviewer must look.
func (c *mapCall) unnamedGeneTherapy(e *entry, r reading, ccs []*dtpb.CodeableConcept, date time.Time) bool {
	if r != given && r != current && r != unsure {
		return false
	}
	for _, cc := range ccs {
		if cc == nil || c.m.knownIrrelevant(codingsOf(cc)) {
			continue
		}
		if contains(c.m.factsByText(textOf(cc)), "prior_gene_therapy") {
			c.unreadable(e, []string{"prior_gene_therapy"}, recordText(cc), "names a gene therapy that matches no known product — name the product or correct it", date)
			return true
		}
	}
	return false
}

// recordText is what the record calls a concept: its text, else its first
// display, else its first code.
func recordText(cc *dtpb.CodeableConcept) string {
	if t := strings.TrimSpace(cc.GetText().GetValue()); t != "" {
		return t
	}
	for _, cd := range codingsOf(cc) {
		if cd.display != "" {
			return cd.display
		}
	}
	for _, cd := range codingsOf(cc) {
		if cd.code != "" {
			return cd.code
		}
	}
	return ""
}

// mapProcedure reads a gene therapy procedure from its code, its usedCode or
// their text.
func (c *mapCall) mapProcedure(e *entry) bool {
	pr := e.res.GetProcedure()
	if !c.about(pr.GetSubject()) {
		return false
	}
	st := status(pr.GetStatus().GetValue())
	r := medicationReading["Procedure"][st]
	if r == notGiven {
		return false
	}
	ccs := append([]*dtpb.CodeableConcept{pr.GetCode()}, pr.GetUsedCode()...)
	perf := pr.GetPerformed()
	date := firstDate(dateTime(perf.GetDateTime()), periodDay(perf.GetPeriod()))
	var p *product
	for _, cc := range ccs {
		if p = c.m.productOf(cc); p != nil {
			break
		}
	}
	if p == nil || p.Role != "gene-therapy" {
		return c.unnamedGeneTherapy(e, r, ccs, date)
	}
	if r == unsure {
		c.unreadable(e, []string{"prior_gene_therapy"}, recordText(pr.GetCode()), `status "`+st+`": cannot tell whether `+p.Name+` was given — correct the status`, date)
		return true
	}
	c.add("prior_gene_therapy", rules.Value{Flag: rules.Positive, Date: date, Code: p.Name, Source: e.ref()})
	return true
}

// claimLine is one billed line (or detail, or sub-detail) with its date.
type claimLine struct {
	cc   *dtpb.CodeableConcept
	date time.Time
}

// mapClaim reads claims history. Diagnoses of any active Claim or
// ExplanationOfBenefit are diagnoses (condition.go); the lines of a billed one
// (use claim, not in error) are what was given: a gene therapy line, by HCPCS,
// NDC, RxNorm or name, is a prior gene therapy.
func (c *mapCall) mapClaim(e *entry) bool {
	var (
		lines   []claimLine
		billed  bool
		dx      []*dtpb.CodeableConcept
		claimOn time.Time
	)
	switch e.typ {
	case "Claim":
		cl := e.res.GetClaim()
		if !c.about(cl.GetPatient()) || status(cl.GetStatus().GetValue()) != "active" {
			return false
		}
		billed = status(cl.GetUse().GetValue()) == "claim"
		for _, it := range cl.GetItem() {
			d := periodDay(itemPeriod(it.GetServiced().GetDate(), it.GetServiced().GetPeriod(), cl.GetBillablePeriod(), cl.GetCreated()))
			lines = append(lines, claimLine{it.GetProductOrService(), d})
			for _, det := range it.GetDetail() {
				lines = append(lines, claimLine{det.GetProductOrService(), d})
				for _, sub := range det.GetSubDetail() {
					lines = append(lines, claimLine{sub.GetProductOrService(), d})
				}
			}
		}
		for _, d := range cl.GetDiagnosis() {
			dx = append(dx, d.GetDiagnosis().GetCodeableConcept())
		}
		claimOn = firstDate(periodDay(cl.GetBillablePeriod()), dateTime(cl.GetCreated()))
	case "ExplanationOfBenefit":
		eob := e.res.GetExplanationOfBenefit()
		if !c.about(eob.GetPatient()) || status(eob.GetStatus().GetValue()) != "active" || status(eob.GetOutcome().GetValue()) == "error" {
			return false
		}
		billed = status(eob.GetUse().GetValue()) == "claim"
		for _, it := range eob.GetItem() {
			d := periodDay(itemPeriod(it.GetServiced().GetDate(), it.GetServiced().GetPeriod(), eob.GetBillablePeriod(), eob.GetCreated()))
			lines = append(lines, claimLine{it.GetProductOrService(), d})
			for _, det := range it.GetDetail() {
				lines = append(lines, claimLine{det.GetProductOrService(), d})
				for _, sub := range det.GetSubDetail() {
					lines = append(lines, claimLine{sub.GetProductOrService(), d})
				}
			}
		}
		for _, d := range eob.GetDiagnosis() {
			dx = append(dx, d.GetDiagnosis().GetCodeableConcept())
		}
		claimOn = firstDate(periodDay(eob.GetBillablePeriod()), dateTime(eob.GetCreated()))
	}
	if len(lines) > 0 && !lines[0].date.IsZero() {
		claimOn = lines[0].date // the first line's date of service dates the diagnoses
	}
	found := c.claimDiagnoses(e, dx, claimOn)
	if !billed {
		return found
	}
	for _, l := range lines {
		p := c.m.productOf(l.cc)
		switch {
		case p != nil && p.Role == "gene-therapy":
			c.add("prior_gene_therapy", rules.Value{Flag: rules.Positive, Date: l.date, Code: p.Name, Source: e.ref()})
			found = true
		case p == nil:
			if c.unnamedGeneTherapy(e, given, []*dtpb.CodeableConcept{l.cc}, l.date) {
				found = true
			}
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

// BillingCode is the HCPCS code products.yaml gives a drug (J1411 for
// Hemgenix), "" when it gives none: the code a claim for the drug is billed
// under, as CRD's coverage information names it.
func (m *Mapper) BillingCode(drug string) string {
	for _, p := range m.products {
		if !strings.EqualFold(p.Name, drug) {
			continue
		}
		for _, c := range p.Codes {
			if sys, code, _ := strings.Cut(c, "|"); sys == "hcpcs" {
				return code
			}
		}
	}
	return ""
}

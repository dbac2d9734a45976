package pipeline

// The metamorphic catalogue of issue 7 ("How to prove it"): record
// transformations, each with the relation the decision must keep. It is
// written from the issue and the policy documents in /work/shared/policies,
// not from what the mapping does today. testdata/metamorphic/CATALOGUE.md is
// this table as a reviewer's checklist (go test -run TestMetamorphicCatalogue -update).

import (
	"encoding/json"
	"fmt"
	"strings"

	"hemopa/rules"
)

// relation is what a transformation must keep, comparing the decision on the
// transformed record (got) with the decision on the sample (base).
type relation string

const (
	// same: the decision is unchanged (invariance).
	relSame relation = "same"
	// notApprove: the result is never approve ("adding this never turns
	// non-approve into approve").
	relNotApprove relation = "not-approve"
	// pendOrWorse: the result is pend, deny or not-covered — used where the
	// new evidence is unreadable or unattested, so pend is what we expect.
	relPendOrWorse relation = "pend-or-worse"
	// noBetter: the decision does not move toward approve in the precedence
	// not-covered > deny > pend > approve.
	relNoBetter relation = "no-better"
	// rejected: the bundle is refused with an error (issue item 7).
	relRejected relation = "rejected"
)

var rank = map[rules.Decision]int{rules.Approve: 0, rules.Pend: 1, rules.Deny: 2, rules.NotCovered: 3}

// holds reports whether the relation holds; err is the pipeline's error.
func (r relation) holds(base, got rules.Decision, err error) bool {
	if r == relRejected {
		return err != nil
	}
	if err != nil {
		return false
	}
	switch r {
	case relSame:
		return got == base
	case relNotApprove, relPendOrWorse:
		return got != rules.Approve
	case relNoBetter:
		return rank[got] >= rank[base]
	}
	return false
}

// disqualifies: the relation forbids an approval outright.
func (r relation) disqualifies() bool { return r == relNotApprove || r == relPendOrWorse }

// Policy concepts: what each policy's source document makes a criterion of.
// A transformation that names concepts applies to the policies having one of
// them; one naming none applies to every policy.
const (
	cAge              = "age"               // UCare 1.B; NY Hemgenix 2 / Roctavian 2; 003 universal PA; Beqvez label (002): adults
	cDose             = "dose"              // UCare 1.N–O; NY Hemgenix 10 / Roctavian 11 (prescribing information); 003 weight-based dosing; Beqvez label dose
	cPriorGene        = "prior-gene"        // UCare 1.C and "not recommended" 1; NY Hemgenix 7 / Roctavian 8; 003 one-time per lifetime; Beqvez single dose (judgement, label)
	cAttestation      = "attestation"       // UCare 1.C note, 1.E.i, 1.H, 1.M ("according to the prescribing physician"); NY Hemgenix 4.b / Roctavian 7 (not for convenience)
	cInhibitorHistory = "inhibitor-history" // UCare "not recommended" 2; NY Hemgenix 6 / Roctavian 6
	cInhibitorNow     = "inhibitor-current" // UCare 1.F; NY 6; 003 "FIX inhibitor negative (Bethesda)"
	cHepatitis        = "hepatitis"         // UCare 1.G; NY Hemgenix 8.a / Roctavian 9.a; 003 hepatitis B/C serology
	cHIVLoad          = "hiv-viral-load"    // 003 (uncontrolled HIV = detectable viral load); UCare 1.H (a lab outranks the prescriber's word)
	cCD4              = "cd4"               // NY Hemgenix 8.b / Roctavian 9.b (CD4+ ≤ 200/µL)
	cLFT              = "lft-uln"           // UCare 1.I (ALT/AST/bilirubin/ALP ≤ 2 × ULN)
	cFibrosis         = "fibrosis"          // UCare 1.J; NY Hemgenix 8.d / Roctavian 9.d (FibroScan ≥ 9 kPa)
	cPlatelets        = "platelets"         // UCare 1.K; NY Hemgenix 8.c / Roctavian 9.c (≥ 50 × 10⁹/L)
	cAAV5Titer        = "aav5-titer"        // 003: anti-AAV5 NAb titer < 1:678
	cAAV5Negative     = "aav5-negative"     // NY Roctavian 5: no NAbs against AAV5
)

type policyDoc struct {
	drugs    []string // the drugs the policy decides
	concepts []string
}

// policyDocs is read from the policy documents (see the concept comments).
// BCBSMS (002) finds both drugs not medically necessary: it never approves, so
// every concept applies to it (nothing may turn its not-covered around).
var policyDocs = map[string]policyDoc{
	"ucare-hemgenix": {[]string{"hemgenix"}, []string{cAge, cDose, cPriorGene, cAttestation, cInhibitorHistory, cInhibitorNow,
		cHepatitis, cHIVLoad, cLFT, cFibrosis, cPlatelets}},
	"ny-pharmacy-109-hemgenix": {[]string{"hemgenix"}, []string{cAge, cDose, cPriorGene, cAttestation, cInhibitorHistory, cInhibitorNow,
		cHepatitis, cCD4, cFibrosis, cPlatelets}},
	"ny-pharmacy-109-roctavian": {[]string{"roctavian"}, []string{cAge, cDose, cPriorGene, cAttestation, cInhibitorHistory, cInhibitorNow,
		cHepatitis, cCD4, cFibrosis, cPlatelets, cAAV5Negative}},
	"label-aligned-hemgenix": {[]string{"hemgenix"}, []string{cAge, cDose, cPriorGene, cInhibitorNow, cHepatitis, cHIVLoad, cAAV5Titer}},
	"label-aligned-beqvez":   {[]string{"beqvez"}, []string{cAge, cDose, cPriorGene}},
	"bcbsms-hemophilia-b-gene-therapy": {[]string{"hemgenix", "beqvez"}, []string{cAge, cDose, cPriorGene, cAttestation, cInhibitorHistory,
		cInhibitorNow, cHepatitis, cHIVLoad, cCD4, cLFT, cFibrosis, cPlatelets, cAAV5Titer, cAAV5Negative}},
}

// entry is one transformation of the catalogue.
type entry struct {
	id       string
	item     string   // the issue-7 item it comes from: "1"…"10", or "P" (the principle: irrelevant data stays irrelevant)
	rel      relation // what the decision must keep
	concepts []string // the policy concepts it bears on (nil: every policy)
	hemo     string   // "A" or "B" when it only fits one hemophilia
	orders   string   // item 10: the drug the order is changed to (applies where the policy decides another drug)
	group    string   // fuzzing: at most one entry of a group per sequence (they set the same field)
	desc     string
	apply    func(x *rec) error
}

func (e *entry) appliesTo(policy, hemo string) bool {
	if e.hemo != "" && e.hemo != hemo {
		return false
	}
	doc, ok := policyDocs[policy]
	if !ok {
		return false
	}
	if e.orders != "" {
		for _, d := range doc.drugs {
			if d == e.orders {
				return false
			}
		}
		return true
	}
	if len(e.concepts) == 0 {
		return true
	}
	for _, c := range e.concepts {
		for _, pc := range doc.concepts {
			if c == pc {
				return true
			}
		}
	}
	return false
}

// --- building blocks ---------------------------------------------------------

var (
	plateletLOINC = cc(sysLOINC, "777-3", "Platelets [#/volume] in Blood by Automated count")
	cbcPanel      = cc(sysLOINC, "58410-2", "CBC panel - Blood by Automated count")
	weightLOINC   = cc(sysLOINC, "29463-7", "Body weight")
	hbsagLOINC    = cc(sysLOINC, "5196-1", "Hepatitis B virus surface Ag [Presence] in Serum")
	cd4LOINC      = cc(sysLOINC, "24467-3", "CD3+CD4+ (T4 helper) cells [#/volume] in Blood")
	hivRNALOINC   = cc(sysLOINC, "20447-9", "HIV 1 RNA [#/volume] (viral load) in Serum or Plasma by NAA with probe detection")
	hivRNALog     = cc(sysLOINC, "29541-0", "HIV 1 RNA [Log #/volume] (viral load) in Serum or Plasma by NAA with probe detection")
	inhibitorDx   = cc(sysICD10, "D68.311", "Acquired hemophilia")
)

// lowPlatelets is a failing count (5–45 × 10⁹/L) under the standard code.
func (x *rec) lowPlatelets(when string) map[string]any {
	return x.obs("final", "laboratory", plateletLOINC, when, qty(x.val(1, 5, 45), "10*3/uL", "10*3/uL"), interp("L", "Low"))
}

func (x *rec) addObs(status, cat, code, when string, fields ...string) error {
	x.add(x.obs(status, cat, code, when, fields...))
	return nil
}

// otherPatient adds a second Patient to the bundle (once) and returns its reference.
func (x *rec) otherPatient() string {
	const id = "mm-other-patient"
	for _, r := range x.resources("Patient") {
		if r["id"] == id {
			return "Patient/" + id
		}
	}
	x.add(x.parse(`{"resourceType":"Patient","id":"mm-other-patient","identifier":[{"system":"http://ehr.example.org/mrn","value":"MRN-OTHER-1"}],
	 "name":[{"family":"Lindqvist","given":["Erik"]}],"gender":"male","birthDate":"1979-06-02"}`))
	return "Patient/" + id
}

// about points a resource's subject (or patient) at another reference; nil removes it.
func about(r map[string]any, field string, ref map[string]any) map[string]any {
	if ref == nil {
		delete(r, field)
	} else {
		r[field] = ref
	}
	return r
}

func ref(s string) map[string]any { return map[string]any{"reference": s} }

// sampleObs returns a copy of the code of the patient's sample Observation
// carrying one of the codes (the samples' local codes are the site's).
func (x *rec) sampleCode(codes ...string) (string, error) {
	rs := x.byCode("Observation", "code", codes...)
	if len(rs) == 0 {
		return "", errSkip
	}
	b, _ := json.Marshal(rs[0]["code"])
	return string(b), nil
}

// medAdmin is a MedicationAdministration of a medication[x] member.
func (x *rec) medAdmin(status, medication, when string, extra ...string) map[string]any {
	s := fmt.Sprintf(`{"resourceType":"MedicationAdministration","id":"{{ID}}","status":%q,%s,"subject":{"reference":"{{PAT}}"},"effectiveDateTime":%q`, status, medication, when)
	for _, e := range extra {
		s += "," + e
	}
	return x.parse(s + "}")
}

func (x *rec) gtCode() string {
	g := x.geneTherapy()
	return cc(sysHCPCS, g.hcpcs, g.name)
}

// setOrder replaces the ordered drug of every MedicationRequest.
func (x *rec) setOrder(medication string) error {
	mrs := x.resources("MedicationRequest")
	if len(mrs) == 0 {
		return errSkip
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(medication), &m); err != nil {
		return err
	}
	for _, r := range mrs {
		r["medicationCodeableConcept"] = m
	}
	return nil
}

// notOurs: resources the transformations add have ids starting "mm-".
func notOurs(r map[string]any) bool { s, _ := r["id"].(string); return !strings.HasPrefix(s, "mm-") }

func (x *rec) setBirthDate(f func(string) string) error {
	p := x.patient()
	bd, _ := p["birthDate"].(string)
	if p == nil || len(bd) < 4 {
		return errSkip
	}
	p["birthDate"] = f(bd)
	return nil
}

// --- the catalogue -----------------------------------------------------------

// catalogue is ordered by issue item; ids are <item family>/<variant>.
var catalogue = []entry{
	// P — the principle: what is irrelevant stays irrelevant.
	{id: "invariance/reverse-entry-order", item: "P", rel: relSame, desc: "The bundle's entries in reverse order (Patient last)",
		apply: func(x *rec) error {
			e := x.entries()
			for i, j := 0, len(e)-1; i < j; i, j = i+1, j-1 {
				e[i], e[j] = e[j], e[i]
			}
			return nil
		}},
	{id: "invariance/rotate-entry-order", item: "P", rel: relSame, desc: "The bundle's entries rotated by a third (resources before the Patient they reference)",
		apply: func(x *rec) error {
			e := x.entries()
			k := len(e) / 3
			x.setEntries(append(append([]any{}, e[k:]...), e[:k]...))
			return nil
		}},
	{id: "invariance/heart-rate-vital-sign", item: "P", rel: relSame, desc: "A heart-rate vital sign (LOINC 8867-4, 72 /min) is irrelevant",
		apply: func(x *rec) error {
			return x.addObs("final", "vital-signs", cc(sysLOINC, "8867-4", "Heart rate"), x.recent(0), qty(72, "beats/minute", "/min"))
		}},
	{id: "invariance/unrelated-lab-hemoglobin", item: "P", rel: relSame, desc: "An unrelated laboratory result (hemoglobin 718-7, 14.1 g/dL) is irrelevant",
		apply: func(x *rec) error {
			return x.addObs("final", "laboratory", cc(sysLOINC, "718-7", "Hemoglobin [Mass/volume] in Blood"), x.recent(0), qty(14.1, "g/dL", "g/dL"))
		}},
	{id: "invariance/immunization", item: "P", rel: relSame, desc: "An influenza Immunization (CVX 140) is irrelevant",
		apply: func(x *rec) error {
			x.add(x.parse(`{"resourceType":"Immunization","id":"{{ID}}","status":"completed","vaccineCode":{"coding":[{"system":"http://hl7.org/fhir/sid/cvx","code":"140","display":"Influenza, seasonal, injectable, preservative free"}]},
			 "patient":{"reference":"{{PAT}}"},"occurrenceDateTime":"2026-10-02","primarySource":true,"lotNumber":"FLU-26-118"}`))
			return nil
		}},
	{id: "invariance/flag-fall-risk", item: "P", rel: relSame, desc: "A Flag \"Fall risk\" (a type without a reader, no relevant words) is irrelevant",
		apply: func(x *rec) error {
			x.add(x.parse(`{"resourceType":"Flag","id":"{{ID}}","status":"active","code":{"text":"Fall risk"},"subject":{"reference":"{{PAT}}"}}`))
			return nil
		}},
	{id: "invariance/encounter", item: "P", rel: relSame, desc: "An ambulatory hemophilia follow-up Encounter is irrelevant",
		apply: func(x *rec) error {
			x.add(x.parse(`{"resourceType":"Encounter","id":"{{ID}}","status":"finished","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"AMB","display":"ambulatory"},
			 "type":[{"coding":[{"system":"http://snomed.info/sct","code":"185349003","display":"Encounter for check up"}]}],"subject":{"reference":"{{PAT}}"},
			 "period":{"start":"2026-11-02T09:00:00Z","end":"2026-11-02T09:40:00Z"},"reasonCode":[{"text":"Hemophilia follow-up visit"}]}`))
			return nil
		}},
	{id: "invariance/unrelated-condition", item: "P", rel: relSame, desc: "An unrelated active Condition (seasonal allergic rhinitis, ICD-10-CM J30.2) is irrelevant",
		apply: func(x *rec) error {
			x.add(x.condition(cc(sysICD10, "J30.2", "Other seasonal allergic rhinitis"), "active", "confirmed", "2012-04-01"))
			return nil
		}},
	{id: "invariance/family-history-of-hemophilia", item: "P", rel: relSame, desc: "A FamilyMemberHistory of hemophilia in a maternal uncle is about the uncle, not the patient",
		apply: func(x *rec) error {
			code := cc(sysICD10, "D67", "Hereditary factor IX deficiency")
			if x.hemo == "A" {
				code = cc(sysICD10, "D66", "Hereditary factor VIII deficiency")
			}
			x.add(x.parse(`{"resourceType":"FamilyMemberHistory","id":"{{ID}}","status":"completed","patient":{"reference":"{{PAT}}"},"date":"2024-05-14",
			 "relationship":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-RoleCode","code":"MUNCLE","display":"maternal uncle"}]},
			 "sex":{"coding":[{"system":"http://hl7.org/fhir/administrative-gender","code":"male"}]},
			 "condition":[{"code":` + code + `,"note":[{"text":"Uncle had factor inhibitors and received an AAV gene therapy in a trial"}]}]}`))
			return nil
		}},
	{id: "invariance/entered-in-error-low-platelets", item: "P", rel: relSame, desc: "A newer failing platelet count marked entered-in-error is ignored",
		apply: func(x *rec) error {
			x.add(x.obs("entered-in-error", "laboratory", plateletLOINC, x.recent(0), qty(x.val(1, 5, 45), "10*3/uL", "10*3/uL")))
			return nil
		}},
	{id: "invariance/entered-in-error-positive-titer", item: "P", rel: relSame, desc: "A positive inhibitor titer marked entered-in-error is ignored",
		apply: func(x *rec) error {
			return x.addObs("entered-in-error", "laboratory", x.inhibitorCode(), x.old(0)+"T08:00:00Z", qty(x.val(1, 0.8, 30), "BU/mL", "[beth'U]/mL"))
		}},
	{id: "invariance/entered-in-error-inhibitor-condition", item: "P", rel: relSame, desc: "An inhibitor diagnosis (D68.311) with verificationStatus entered-in-error is ignored",
		apply: func(x *rec) error {
			c := x.condition(inhibitorDx, "active", "entered-in-error", x.old(0))
			delete(c, "clinicalStatus") // FHIR con-5: no clinicalStatus on entered-in-error
			x.add(c)
			return nil
		}},
	{id: "invariance/refuted-inhibitor-condition", item: "P", rel: relSame, desc: "An inhibitor diagnosis (D68.311) with verificationStatus refuted is ignored",
		apply: func(x *rec) error {
			x.add(x.condition(inhibitorDx, "inactive", "refuted", x.old(0)))
			return nil
		}},
	{id: "invariance/entered-in-error-gene-therapy-administration", item: "P", rel: relSame, desc: "A gene therapy MedicationAdministration marked entered-in-error is ignored",
		apply: func(x *rec) error {
			x.add(x.medAdmin("entered-in-error", `"medicationCodeableConcept":`+x.gtCode(), x.old(0)+"T10:00:00Z"))
			return nil
		}},
	{id: "invariance/older-passing-platelets", item: "P", rel: relSame, desc: "An older passing platelet count (240 × 10⁹/L, 2026-10-01) does not change the newest",
		apply: func(x *rec) error {
			return x.addObs("final", "laboratory", plateletLOINC, "2026-10-01T08:00:00Z", qty(240, "10*3/uL", "10*3/uL"))
		}},

	// 1 — histories are histories.
	{id: "inhibitor-history/old-positive-bethesda", item: "1", rel: relNotApprove, concepts: []string{cInhibitorHistory},
		desc: "An old positive Bethesda titer (3185-6/3204-5, 0.8–30 BU/mL, flagged H) years ago",
		apply: func(x *rec) error {
			return x.addObs("final", "laboratory", x.inhibitorCode(), x.old(0)+"T08:00:00Z", qty(x.val(1, 0.8, 30), "BU/mL", "[beth'U]/mL"), interp("H", "High"))
		}},
	{id: "inhibitor-history/old-positive-bu-local-unit", item: "1", rel: relNotApprove, concepts: []string{cInhibitorHistory},
		desc: "An old positive Bethesda titer in the local unit \"BU\" (no UCUM code), value only",
		apply: func(x *rec) error {
			return x.addObs("final", "laboratory", x.inhibitorCode(), x.old(0)+"T08:00:00Z", qty(x.val(1, 1, 30), "BU", ""))
		}},
	{id: "inhibitor-history/old-positive-interpretation-only", item: "1", rel: relNotApprove, concepts: []string{cInhibitorHistory},
		desc: "An old Bethesda result with no value and the lab's own interpretation POS",
		apply: func(x *rec) error {
			return x.addObs("final", "laboratory", x.inhibitorCode(), x.old(0)+"T08:00:00Z", interp("POS", "Positive"))
		}},
	{id: "inhibitor-history/old-positive-coded", item: "1", rel: relNotApprove, concepts: []string{cInhibitorHistory},
		desc: "An old Bethesda result coded Positive (SNOMED 10828004)",
		apply: func(x *rec) error {
			return x.addObs("final", "laboratory", x.inhibitorCode(), x.old(0)+"T08:00:00Z", snomedPositive)
		}},
	{id: "inhibitor-history/old-positive-text-value", item: "1", rel: relNotApprove, concepts: []string{cInhibitorHistory},
		desc: "An old Bethesda result as text: \"Positive, 1:8 (2.1 BU)\"",
		apply: func(x *rec) error {
			return x.addObs("final", "laboratory", x.inhibitorCode(), x.old(0)+"T08:00:00Z", `"valueString":"Positive, 1:8 (2.1 BU)"`)
		}},
	{id: "inhibitor-history/nijmegen-local-code", item: "1", rel: relNotApprove, concepts: []string{cInhibitorHistory},
		desc: "An old positive titer under an unknown local code with text \"FIX inhibitor (Nijmegen)\" (FVIII for hemophilia A)",
		apply: func(x *rec) error {
			f := "FIX"
			if x.hemo == "A" {
				f = "FVIII"
			}
			return x.addObs("final", "laboratory", cc(sysLocal, "NIJ-"+f, f+" inhibitor (Nijmegen)"), x.old(0)+"T08:00:00Z", qty(x.val(1, 0.8, 30), "BU/mL", "[beth'U]/mL"))
		}},
	{id: "inhibitor-history/resolved-inhibitor-condition", item: "1", rel: relNotApprove, concepts: []string{cInhibitorHistory},
		desc: "An inhibitor diagnosis (ICD-10-CM D68.311) with clinicalStatus resolved",
		apply: func(x *rec) error {
			x.add(x.condition(inhibitorDx, "resolved", "confirmed", x.old(0), `"abatementDateTime":"2025-01-15"`))
			return nil
		}},
	{id: "inhibitor-history/inactive-inhibitor-condition", item: "1", rel: relNotApprove, concepts: []string{cInhibitorHistory},
		desc: "An inhibitor diagnosis (D68.311) with clinicalStatus inactive",
		apply: func(x *rec) error {
			x.add(x.condition(inhibitorDx, "inactive", "confirmed", x.old(0)))
			return nil
		}},
	{id: "inhibitor-history/text-only-condition", item: "1", rel: relNotApprove, concepts: []string{cInhibitorHistory},
		desc: "A resolved Condition with text only: \"History of factor IX inhibitor (immune tolerance induction 2012)\"",
		apply: func(x *rec) error {
			x.add(x.condition(textCC("History of factor "+x.factor()+" inhibitor (immune tolerance induction 2012)"), "resolved", "confirmed", "2011-03-01"))
			return nil
		}},
	{id: "inhibitor-history/diagnosis-on-eob", item: "1", rel: relNotApprove, concepts: []string{cInhibitorHistory},
		desc: "An ExplanationOfBenefit from a prior plan with the diagnosis D68.311",
		apply: func(x *rec) error {
			x.add(x.eob(x.old(0), []string{cc("http://www.ama-assn.org/go/cpt", "99214", "Office or other outpatient visit, established patient")}, inhibitorDx))
			return nil
		}},
	{id: "inhibitor-history/diagnosis-on-claim", item: "1", rel: relNotApprove, concepts: []string{cInhibitorHistory},
		desc: "A Claim with the diagnosis D68.311",
		apply: func(x *rec) error {
			x.add(x.claim(x.old(0), []string{cc("http://www.ama-assn.org/go/cpt", "99214", "Office or other outpatient visit, established patient")}, inhibitorDx))
			return nil
		}},
	{id: "inhibitor-history/old-unreadable-titer", item: "1", rel: relPendOrWorse, concepts: []string{cInhibitorHistory},
		desc: "An old Bethesda result that cannot be read (\"see scanned report\") is unknown, not ruled out",
		apply: func(x *rec) error {
			return x.addObs("final", "laboratory", x.inhibitorCode(), x.old(0)+"T08:00:00Z", `"valueString":"see scanned report"`)
		}},
	{id: "inhibitor-history/old-titer-unknown-unit", item: "1", rel: relPendOrWorse, concepts: []string{cInhibitorHistory},
		desc: "An old Bethesda result of 3 in a unit nobody can convert (\"titre\")",
		apply: func(x *rec) error {
			return x.addObs("final", "laboratory", x.inhibitorCode(), x.old(0)+"T08:00:00Z", qty(3, "titre", ""))
		}},
	{id: "inhibitor-current/newer-positive-bethesda", item: "1", rel: relNotApprove, concepts: []string{cInhibitorNow, cInhibitorHistory},
		desc: "A newer positive Bethesda titer (0.8–5 BU/mL, POS) after the sample's negative one",
		apply: func(x *rec) error {
			return x.addObs("final", "laboratory", x.inhibitorCode(), x.recent(0), qty(x.val(1, 0.8, 5), "BU/mL", "[beth'U]/mL"), interp("POS", "Positive"))
		}},
	{id: "inhibitor-current/newer-unreadable-bethesda", item: "1", rel: relPendOrWorse, concepts: []string{cInhibitorNow, cInhibitorHistory},
		desc: "A newer Bethesda result that cannot be read (\"specimen clotted, see comment\")",
		apply: func(x *rec) error {
			return x.addObs("final", "laboratory", x.inhibitorCode(), x.recent(0), `"valueString":"specimen clotted, see comment"`)
		}},

	// 2 — prior gene therapy is found wherever it is recorded.
	{id: "prior-gene-therapy/eob-hcpcs", item: "2", rel: relNotApprove, concepts: []string{cPriorGene},
		desc:  "A prior plan's EOB line for the patient's gene therapy by HCPCS (J1411 Hemgenix, J1412 Roctavian)",
		apply: func(x *rec) error { x.add(x.eob(x.old(0), []string{x.gtCode()})); return nil }},
	{id: "prior-gene-therapy/claim-hcpcs", item: "2", rel: relNotApprove, concepts: []string{cPriorGene},
		desc:  "A Claim line for the patient's gene therapy by HCPCS",
		apply: func(x *rec) error { x.add(x.claim(x.old(0), []string{x.gtCode()})); return nil }},
	{id: "prior-gene-therapy/eob-beqvez-hcpcs", item: "2", rel: relNotApprove, concepts: []string{cPriorGene}, hemo: "B",
		desc: "A prior plan's EOB line for Beqvez (J1414) — UCare 1.C names Hemgenix or Beqvez",
		apply: func(x *rec) error {
			x.add(x.eob(x.old(0), []string{cc(sysHCPCS, "J1414", "Beqvez (fidanacogene elaparvovec-dzkt)")}))
			return nil
		}},
	{id: "prior-gene-therapy/eob-ndc-4-4-2", item: "2", rel: relNotApprove, concepts: []string{cPriorGene}, hemo: "B",
		desc: "An EOB line for a Hemgenix kit by 10-digit NDC 4-4-2 \"0053-0100-10\" (000 Table 1)",
		apply: func(x *rec) error {
			x.add(x.eob(x.old(0), []string{cc(sysNDC, "0053-0100-10", "Hemgenix 10-vial kit")}))
			return nil
		}},
	{id: "prior-gene-therapy/eob-ndc-5-4-2", item: "2", rel: relNotApprove, concepts: []string{cPriorGene}, hemo: "B",
		desc: "An EOB line for a Hemgenix kit by 11-digit NDC with dashes \"00053-0300-30\"",
		apply: func(x *rec) error {
			x.add(x.eob(x.old(0), []string{cc(sysNDC, "00053-0300-30", "HEMGENIX KIT")}))
			return nil
		}},
	{id: "prior-gene-therapy/eob-ndc-11-digits", item: "2", rel: relNotApprove, concepts: []string{cPriorGene}, hemo: "B",
		desc: "An EOB line for a Hemgenix kit by 11 digits without dashes \"00053010010\" (claims format)",
		apply: func(x *rec) error {
			x.add(x.eob(x.old(0), []string{cc(sysNDC, "00053010010", "HEMGENIX KIT")}))
			return nil
		}},
	{id: "prior-gene-therapy/claim-ndc-11-digits-no-display", item: "2", rel: relNotApprove, concepts: []string{cPriorGene}, hemo: "B",
		desc: "A Claim line by 11-digit NDC \"00053028028\" with no display",
		apply: func(x *rec) error {
			x.add(x.claim(x.old(0), []string{`{"coding":[{"system":"` + sysNDC + `","code":"00053028028"}]}`}))
			return nil
		}},
	{id: "prior-gene-therapy/eob-name-only", item: "2", rel: relNotApprove, concepts: []string{cPriorGene},
		desc: "An EOB line naming the product only (\"ETRANACOGENE DEZAPARVOVEC-DRLB KIT\" / \"VALOCTOCOGENE ROXAPARVOVEC-RVOX\")",
		apply: func(x *rec) error {
			name := "ETRANACOGENE DEZAPARVOVEC-DRLB KIT"
			if x.hemo == "A" {
				name = "VALOCTOCOGENE ROXAPARVOVEC-RVOX INFUSION"
			}
			x.add(x.eob(x.old(0), []string{textCC(name)}))
			return nil
		}},
	{id: "prior-gene-therapy/administration-rxnorm", item: "2", rel: relNotApprove, concepts: []string{cPriorGene}, hemo: "B",
		desc: "A completed MedicationAdministration by RxNorm 2626772 (Hemgenix; terminology.md)",
		apply: func(x *rec) error {
			x.add(x.medAdmin("completed", `"medicationCodeableConcept":`+cc(sysRxNorm, "2626772", "etranacogene dezaparvovec"), x.old(0)+"T10:00:00Z"))
			return nil
		}},
	{id: "prior-gene-therapy/administration-stopped", item: "2", rel: relNotApprove, concepts: []string{cPriorGene},
		desc: "A MedicationAdministration with status stopped (a partial infusion stopped for a reaction)",
		apply: func(x *rec) error {
			x.add(x.medAdmin("stopped", `"medicationCodeableConcept":`+x.gtCode(), x.old(0)+"T10:00:00Z",
				`"statusReason":[{"text":"Infusion stopped after 40 mL: infusion reaction"}]`))
			return nil
		}},
	{id: "prior-gene-therapy/administration-name-only", item: "2", rel: relNotApprove, concepts: []string{cPriorGene},
		desc: "A completed MedicationAdministration with the product's name as text only",
		apply: func(x *rec) error {
			x.add(x.medAdmin("completed", `"medicationCodeableConcept":`+textCC(x.geneTherapy().name+" IV infusion"), x.old(0)+"T10:00:00Z"))
			return nil
		}},
	{id: "prior-gene-therapy/administration-contained-medication", item: "2", rel: relNotApprove, concepts: []string{cPriorGene},
		desc: "A MedicationAdministration whose medicationReference is a contained Medication (#gt) of the product",
		apply: func(x *rec) error {
			x.add(x.parse(`{"resourceType":"MedicationAdministration","id":"{{ID}}","status":"completed",
			 "contained":[{"resourceType":"Medication","id":"gt","code":` + x.gtCode() + `}],
			 "medicationReference":{"reference":"#gt"},"subject":{"reference":"{{PAT}}"},"effectiveDateTime":"` + x.old(0) + `T10:00:00Z"}`))
			return nil
		}},
	{id: "prior-gene-therapy/dispense-ndc", item: "2", rel: relNotApprove, concepts: []string{cPriorGene}, hemo: "B",
		desc: "A completed MedicationDispense of a Hemgenix kit by NDC \"0053-0300-30\"",
		apply: func(x *rec) error {
			x.add(x.parse(`{"resourceType":"MedicationDispense","id":"{{ID}}","status":"completed","medicationCodeableConcept":` + cc(sysNDC, "0053-0300-30", "Hemgenix 30-vial kit") + `,
			 "subject":{"reference":"{{PAT}}"},"quantity":{"value":1},"whenHandedOver":"` + x.old(0) + `T08:00:00Z"}`))
			return nil
		}},
	{id: "prior-gene-therapy/statement-completed", item: "2", rel: relNotApprove, concepts: []string{cPriorGene},
		desc: "A MedicationStatement, status completed, of the product by name",
		apply: func(x *rec) error {
			x.add(x.parse(`{"resourceType":"MedicationStatement","id":"{{ID}}","status":"completed","medicationCodeableConcept":` + textCC(x.geneTherapy().name) + `,
			 "subject":{"reference":"{{PAT}}"},"effectiveDateTime":"` + x.old(0) + `"}`))
			return nil
		}},
	{id: "prior-gene-therapy/procedure-investigational-aav", item: "2", rel: relNotApprove, concepts: []string{cPriorGene},
		desc: "A completed Procedure with text \"AAV gene therapy (investigational)\" (NY 7/8: any gene therapy under investigation)",
		apply: func(x *rec) error {
			x.add(x.parse(`{"resourceType":"Procedure","id":"{{ID}}","status":"completed","code":{"text":"AAV gene therapy (investigational)"},
			 "subject":{"reference":"{{PAT}}"},"performedDateTime":"` + x.old(0) + `","note":[{"text":"Clinical trial participant"}]}`))
			return nil
		}},
	{id: "prior-gene-therapy/adverse-event-naming-product", item: "2", rel: relNotApprove, concepts: []string{cPriorGene},
		desc: "An AdverseEvent (a type hemopa has no reader for) \"Infusion reaction during Hemgenix infusion\" — accounted for by its text",
		apply: func(x *rec) error {
			x.add(x.parse(`{"resourceType":"AdverseEvent","id":"{{ID}}","actuality":"actual","subject":{"reference":"{{PAT}}"},
			 "event":{"text":"Infusion reaction during Hemgenix infusion"},"date":"` + x.old(0) + `"}`))
			return nil
		}},
	{id: "prior-gene-therapy/procedure-factor-gene-transfer", item: "2", rel: relNotApprove, concepts: []string{cPriorGene},
		desc: "A completed Procedure \"AAV factor IX (VIII) gene transfer, clinical trial\" for the same hemophilia",
		apply: func(x *rec) error {
			x.add(x.parse(`{"resourceType":"Procedure","id":"{{ID}}","status":"completed","code":{"text":"AAV factor ` + x.factor() + ` gene transfer, clinical trial"},
			 "subject":{"reference":"{{PAT}}"},"performedDateTime":"` + x.old(0) + `"}`))
			return nil
		}},

	// 3 — attestations have an author who may attest.
	{id: "attestation/authored-by-patient", item: "3", rel: relPendOrWorse, concepts: []string{cAttestation}, group: "qr-author",
		desc: "The attestation QuestionnaireResponse authored by the Patient is not an attestation",
		apply: func(x *rec) error {
			q, err := x.qr()
			if err == nil {
				q["author"] = ref(x.pat())
			}
			return err
		}},
	{id: "attestation/authored-by-related-person", item: "3", rel: relPendOrWorse, concepts: []string{cAttestation}, group: "qr-author",
		desc: "The attestation authored by a RelatedPerson (the patient's mother)",
		apply: func(x *rec) error {
			q, err := x.qr()
			if err != nil {
				return err
			}
			rp := x.add(x.parse(`{"resourceType":"RelatedPerson","id":"{{ID}}","patient":{"reference":"{{PAT}}"},
			 "relationship":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-RoleCode","code":"MTH","display":"mother"}]}],"name":[{"family":"Okafor","given":["Grace"]}]}`))
			q["author"] = ref("RelatedPerson/" + rp["id"].(string))
			return nil
		}},
	{id: "attestation/no-author", item: "3", rel: relPendOrWorse, concepts: []string{cAttestation}, group: "qr-author",
		desc: "The attestation with no author at all (judgement: an unattributed form is not a prescriber's word)",
		apply: func(x *rec) error {
			q, err := x.qr()
			if err == nil {
				delete(q, "author")
			}
			return err
		}},
	{id: "attestation/status-in-progress", item: "3", rel: relPendOrWorse, concepts: []string{cAttestation}, group: "qr-status",
		desc: "The attestation QuestionnaireResponse with status in-progress",
		apply: func(x *rec) error {
			q, err := x.qr()
			if err == nil {
				q["status"] = "in-progress"
			}
			return err
		}},
	{id: "attestation/status-entered-in-error", item: "3", rel: relPendOrWorse, concepts: []string{cAttestation}, group: "qr-status",
		desc: "The attestation with status entered-in-error",
		apply: func(x *rec) error {
			q, err := x.qr()
			if err == nil {
				q["status"] = "entered-in-error"
			}
			return err
		}},
	{id: "attestation/status-stopped", item: "3", rel: relPendOrWorse, concepts: []string{cAttestation}, group: "qr-status",
		desc: "The attestation with status stopped",
		apply: func(x *rec) error {
			q, err := x.qr()
			if err == nil {
				q["status"] = "stopped"
			}
			return err
		}},
	{id: "attestation/removed", item: "3", rel: relPendOrWorse, concepts: []string{cAttestation},
		desc: "Control: without the attestation at all the policies that need a prescriber's word pend",
		apply: func(x *rec) error {
			if x.remove(func(r map[string]any) bool { return r["resourceType"] == "QuestionnaireResponse" }) == 0 {
				return errSkip
			}
			return nil
		}},
	{id: "attestation/two-same-day-disagree-prior-gene", item: "3", rel: relNotApprove, concepts: []string{cPriorGene},
		desc: "A second prescriber QR on the same day answering prior-gene-therapy = yes",
		apply: func(x *rec) error {
			q, err := x.qr()
			if err != nil {
				return err
			}
			q2 := clone(q)
			q2["id"] = x.id("qr")
			setAnswer(q2, "prior-gene-therapy", true)
			x.add(q2)
			return nil
		}},
	{id: "attestation/item-answered-twice-prior-gene", item: "3", rel: relNotApprove, concepts: []string{cPriorGene},
		desc: "The prior-gene-therapy item answered twice in one QR (no and yes)",
		apply: func(x *rec) error {
			q, err := x.qr()
			if err != nil {
				return err
			}
			setAnswer(q, "prior-gene-therapy", false)
			for _, it := range q["item"].([]any) {
				if im := it.(map[string]any); im["linkId"] == "prior-gene-therapy" {
					im["answer"] = append(im["answer"].([]any), map[string]any{"valueBoolean": true})
				}
			}
			return nil
		}},
	{id: "attestation/newer-qr-prior-gene-yes", item: "3", rel: relNotApprove, concepts: []string{cPriorGene},
		desc: "A newer prescriber QR (the day before the as-of date) answering prior-gene-therapy = yes",
		apply: func(x *rec) error {
			q, err := x.qr()
			if err != nil {
				return err
			}
			q2 := clone(q)
			q2["id"] = x.id("qr")
			q2["authored"] = x.asOf.AddDate(0, 0, -1).Format("2006-01-02") + "T10:00:00Z"
			setAnswer(q2, "prior-gene-therapy", true)
			x.add(q2)
			return nil
		}},

	// 4 — the newest result decides; unreadable newest results stop older ones.
	{id: "newest-result/platelets-other-loinc-low", item: "4", rel: relNotApprove, concepts: []string{cPlatelets},
		desc: "A newer platelet count under LOINC 26515-7 failing the threshold (5–45 × 10⁹/L)",
		apply: func(x *rec) error {
			return x.addObs("final", "laboratory", cc(sysLOINC, "26515-7", "Platelets [#/volume] in Blood"), x.recent(0), qty(x.val(1, 5, 45), "10*9/L", "10*9/L"))
		}},
	{id: "newest-result/platelets-estimate-loinc-low", item: "4", rel: relNotApprove, concepts: []string{cPlatelets},
		desc: "A newer platelet estimate under LOINC 49497-1 at 30 × 10³/µL",
		apply: func(x *rec) error {
			return x.addObs("final", "laboratory", cc(sysLOINC, "49497-1", "Platelets [#/volume] in Blood by Estimate"), x.recent(0), qty(30, "10*3/uL", "10*3/uL"))
		}},
	{id: "newest-result/platelets-per-microlitre-low", item: "4", rel: relNotApprove, concepts: []string{cPlatelets},
		desc: "A newer platelet count of 30,000 /µL (= 30 × 10⁹/L, converted not assumed)",
		apply: func(x *rec) error {
			return x.addObs("final", "laboratory", plateletLOINC, x.recent(0), qty(30000, "/uL", "/uL"))
		}},
	{id: "newest-result/platelets-unit-cells-per-hpf", item: "4", rel: relPendOrWorse, concepts: []string{cPlatelets},
		desc: "A newer platelet count of 180 in unit \"cells/hpf\" (not convertible)",
		apply: func(x *rec) error {
			return x.addObs("final", "laboratory", plateletLOINC, x.recent(0), qty(180, "cells/hpf", ""))
		}},
	{id: "newest-result/platelets-no-unit", item: "4", rel: relPendOrWorse, concepts: []string{cPlatelets},
		desc: "A newer platelet count of 180 with no unit at all",
		apply: func(x *rec) error {
			return x.addObs("final", "laboratory", plateletLOINC, x.recent(0), `"valueQuantity":{"value":180}`)
		}},
	{id: "newest-result/platelets-panel-component", item: "4", rel: relNotApprove, concepts: []string{cPlatelets},
		desc: "A newer CBC panel (58410-2) whose platelet component (777-3) is 30 × 10³/µL",
		apply: func(x *rec) error {
			return x.addObs("final", "laboratory", cbcPanel, x.recent(0),
				`"component":[{"code":`+plateletLOINC+`,`+qty(30, "10*3/uL", "10*3/uL")+`},{"code":`+cc(sysLOINC, "718-7", "Hemoglobin [Mass/volume] in Blood")+`,`+qty(13.2, "g/dL", "g/dL")+`}]`)
		}},
	{id: "newest-result/platelets-in-diagnosticreport-contained", item: "4", rel: relNotApprove, concepts: []string{cPlatelets},
		desc: "A newer DiagnosticReport whose result is a contained platelet Observation at 30 × 10³/µL",
		apply: func(x *rec) error {
			o := x.obs("final", "laboratory", plateletLOINC, x.recent(0), qty(30, "10*3/uL", "10*3/uL"))
			o["id"] = "plt"
			ob, _ := json.Marshal(o)
			x.add(x.parse(`{"resourceType":"DiagnosticReport","id":"{{ID}}","contained":[` + string(ob) + `],"status":"final",
			 "category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v2-0074","code":"HM","display":"Hematology"}]}],
			 "code":` + cbcPanel + `,"subject":{"reference":"{{PAT}}"},"effectiveDateTime":"` + x.recent(0) + `","issued":"` + issued(x.recent(0)) + `","result":[{"reference":"#plt"}]}`))
			return nil
		}},
	{id: "newest-result/platelets-in-nested-bundle", item: "4", rel: relNotApprove, concepts: []string{cPlatelets},
		desc: "A newer platelet count at 30 × 10³/µL inside an entry that is itself a Bundle (a forwarded lab message)",
		apply: func(x *rec) error {
			o := x.lowPlatelets(x.recent(0))
			x.add(map[string]any{"resourceType": "Bundle", "id": x.id("bundle"), "type": "collection",
				"entry": []any{map[string]any{"fullUrl": ehrBase + "Observation/" + o["id"].(string), "resource": o}}})
			return nil
		}},
	{id: "newest-result/platelets-hasmember-panel", item: "4", rel: relNotApprove, concepts: []string{cPlatelets},
		desc: "A newer CBC panel Observation with hasMember pointing at a platelet count of 30 × 10³/µL",
		apply: func(x *rec) error {
			m := x.add(x.lowPlatelets(x.recent(0)))
			return x.addObs("final", "laboratory", cbcPanel, x.recent(0), `"hasMember":[{"reference":"Observation/`+m["id"].(string)+`"}]`)
		}},
	{id: "newest-result/platelets-same-day-disagree", item: "4", rel: relNotApprove, concepts: []string{cPlatelets},
		desc: "A second platelet count at the same time as the sample's, failing (5–45 × 10⁹/L)",
		apply: func(x *rec) error {
			when, err := x.sameDayAs("777-3")
			if err != nil {
				return err
			}
			x.add(x.lowPlatelets(when))
			return nil
		}},
	{id: "newest-result/platelets-value-against-interpretation", item: "4", rel: relPendOrWorse, concepts: []string{cPlatelets},
		desc: "A newer platelet count of 212 × 10³/µL whose own interpretation is LL (critical low)",
		apply: func(x *rec) error {
			return x.addObs("final", "laboratory", plateletLOINC, x.recent(0), qty(212, "10*3/uL", "10*3/uL"), interp("LL", "Critical low"))
		}},
	{id: "newest-result/platelets-preliminary-low", item: "4", rel: relNotApprove, concepts: []string{cPlatelets},
		desc: "A newer preliminary platelet count failing the threshold (judgement: a preliminary result stops an older final one)",
		apply: func(x *rec) error {
			o := x.lowPlatelets(x.recent(0))
			o["status"] = "preliminary"
			x.add(o)
			return nil
		}},
	{id: "newest-result/platelets-amended-low", item: "4", rel: relNotApprove, concepts: []string{cPlatelets},
		desc: "A newer amended platelet count failing the threshold",
		apply: func(x *rec) error {
			o := x.lowPlatelets(x.recent(0))
			o["status"] = "amended"
			x.add(o)
			return nil
		}},
	{id: "newest-result/platelets-effective-period", item: "4", rel: relNotApprove, concepts: []string{cPlatelets},
		desc: "A newer failing platelet count dated by effectivePeriod instead of effectiveDateTime",
		apply: func(x *rec) error {
			o := x.lowPlatelets(x.recent(0))
			when := o["effectiveDateTime"].(string)
			delete(o, "effectiveDateTime")
			o["effectivePeriod"] = map[string]any{"start": when[:10] + "T07:00:00Z", "end": when}
			x.add(o)
			return nil
		}},
	{id: "newest-result/hbsag-interpretation-only-positive", item: "4", rel: relNotApprove, concepts: []string{cHepatitis},
		desc: "A newer HBsAg (5196-1) with no value and interpretation POS",
		apply: func(x *rec) error {
			return x.addObs("final", "laboratory", hbsagLOINC, x.recent(0), interp("POS", "Positive"))
		}},
	{id: "newest-result/hbsag-coded-positive", item: "4", rel: relNotApprove, concepts: []string{cHepatitis},
		desc:  "A newer HBsAg coded Positive (SNOMED 10828004)",
		apply: func(x *rec) error { return x.addObs("final", "laboratory", hbsagLOINC, x.recent(0), snomedPositive) }},
	{id: "newest-result/hbsag-text-reactive", item: "4", rel: relNotApprove, concepts: []string{cHepatitis},
		desc: "A newer HBsAg with valueString \"Reactive\"",
		apply: func(x *rec) error {
			return x.addObs("final", "laboratory", hbsagLOINC, x.recent(0), `"valueString":"Reactive"`)
		}},
	{id: "newest-result/hbsag-same-day-positive", item: "4", rel: relNotApprove, concepts: []string{cHepatitis},
		desc: "A second HBsAg at the same time as the sample's negative one, Positive",
		apply: func(x *rec) error {
			when, err := x.sameDayAs("5196-1")
			if err != nil {
				return err
			}
			return x.addObs("final", "laboratory", hbsagLOINC, when, snomedPositive)
		}},
	{id: "newest-result/hbv-dna-detected", item: "4", rel: relNotApprove, concepts: []string{cHepatitis},
		desc: "A newer HBV DNA viral load (42595-9) of 2,400 IU/mL",
		apply: func(x *rec) error {
			return x.addObs("final", "laboratory", cc(sysLOINC, "42595-9", "Hepatitis B virus DNA [Units/volume] (viral load) in Serum or Plasma by NAA with probe detection"), x.recent(0), qty(2400, "IU/mL", "[IU]/mL"))
		}},
	{id: "newest-result/hcv-rna-detected", item: "4", rel: relNotApprove, concepts: []string{cHepatitis},
		desc: "A newer HCV RNA viral load (11011-4) of 850,000 IU/mL",
		apply: func(x *rec) error {
			return x.addObs("final", "laboratory", cc(sysLOINC, "11011-4", "Hepatitis C virus RNA [Units/volume] (viral load) in Serum or Plasma by NAA with probe detection"), x.recent(0), qty(850000, "IU/mL", "[IU]/mL"))
		}},
	{id: "newest-result/chronic-hepatitis-b-condition", item: "4", rel: relNotApprove, concepts: []string{cHepatitis},
		desc: "An active Condition chronic hepatitis B (ICD-10-CM B18.1)",
		apply: func(x *rec) error {
			x.add(x.condition(cc(sysICD10, "B18.1", "Chronic viral hepatitis B without delta-agent"), "active", "confirmed", "2026-11-15"))
			return nil
		}},
	{id: "newest-result/cd4-low", item: "4", rel: relNotApprove, concepts: []string{cCD4},
		desc: "A newer CD4 count of 180 /µL (NY 8.b/9.b: ≤ 200 is uncontrolled HIV)",
		apply: func(x *rec) error {
			return x.addObs("final", "laboratory", cd4LOINC, x.recent(0), qty(180, "/uL", "/uL"))
		}},
	{id: "newest-result/cd4-low-si-units", item: "4", rel: relNotApprove, concepts: []string{cCD4},
		desc: "A newer CD4 count of 0.18 × 10⁹/L (= 180 /µL)",
		apply: func(x *rec) error {
			return x.addObs("final", "laboratory", cd4LOINC, x.recent(0), qty(0.18, "10*9/L", "10*9/L"))
		}},
	{id: "newest-result/aav5-titer-ratio-high", item: "4", rel: relNotApprove, concepts: []string{cAAV5Titer}, hemo: "B",
		desc: "A newer anti-AAV5 titer as a Ratio 1:1000 (≥ 1:678), under the sample's own AAV5 code",
		apply: func(x *rec) error {
			code, err := x.sampleCode("aav5-antibody")
			if err != nil {
				return err
			}
			return x.addObs("final", "laboratory", code, x.recent(0), `"valueRatio":{"numerator":{"value":1},"denominator":{"value":1000}}`)
		}},
	{id: "newest-result/aav5-titer-string-high", item: "4", rel: relNotApprove, concepts: []string{cAAV5Titer}, hemo: "B",
		desc: "A newer anti-AAV5 titer as text \"1:700\"",
		apply: func(x *rec) error {
			code, err := x.sampleCode("aav5-antibody")
			if err != nil {
				return err
			}
			return x.addObs("final", "laboratory", code, x.recent(0), `"valueString":"1:700"`)
		}},
	{id: "newest-result/aav5-detected", item: "4", rel: relNotApprove, concepts: []string{cAAV5Negative}, hemo: "A",
		desc: "A newer anti-AAV5 antibody result Detected (Roctavian needs no AAV5 antibodies)",
		apply: func(x *rec) error {
			code, err := x.sampleCode("aav5-antibody")
			if err != nil {
				return err
			}
			return x.addObs("final", "laboratory", code, x.recent(0), snomedDetected)
		}},
	{id: "newest-result/aav5-ratio-positive", item: "4", rel: relNotApprove, concepts: []string{cAAV5Negative}, hemo: "A",
		desc: "A newer anti-AAV5 titer Ratio 1:50 flagged POS",
		apply: func(x *rec) error {
			code, err := x.sampleCode("aav5-antibody")
			if err != nil {
				return err
			}
			return x.addObs("final", "laboratory", code, x.recent(0), `"valueRatio":{"numerator":{"value":1},"denominator":{"value":50}}`, interp("POS", "Positive"))
		}},
	{id: "newest-result/liver-stiffness-unit-KPA", item: "4", rel: relPendOrWorse, concepts: []string{cFibrosis},
		desc: "A newer liver stiffness of 5.4 in unit \"KPA\" (not a UCUM unit), under the sample's own code",
		apply: func(x *rec) error {
			code, err := x.sampleCode("liver-stiffness-kpa")
			if err != nil {
				return err
			}
			return x.addObs("final", "imaging", code, x.recent(0), qty(5.4, "KPA", ""))
		}},
	{id: "newest-result/liver-stiffness-advanced", item: "4", rel: relNotApprove, concepts: []string{cFibrosis},
		desc: "A newer liver stiffness of 9–30 kPa (NY 8.d/9.d: ≥ 9 kPa is advanced)",
		apply: func(x *rec) error {
			code, err := x.sampleCode("liver-stiffness-kpa")
			if err != nil {
				return err
			}
			return x.addObs("final", "imaging", code, x.recent(0), qty(x.val(1, 9, 30), "kPa", "kPa"))
		}},
	{id: "newest-result/liver-stiffness-at-threshold", item: "4", rel: relNotApprove, concepts: []string{cFibrosis},
		desc: "A newer liver stiffness of exactly 9.0 kPa",
		apply: func(x *rec) error {
			code, err := x.sampleCode("liver-stiffness-kpa")
			if err != nil {
				return err
			}
			return x.addObs("final", "imaging", code, x.recent(0), qty(9.0, "kPa", "kPa"))
		}},
	{id: "newest-result/fibroscan-local-code-text", item: "4", rel: relNotApprove, concepts: []string{cFibrosis},
		desc: "A newer FibroScan under an unknown local code with text \"FibroScan liver stiffness 12.1 kPa\" and value 12.1 kPa",
		apply: func(x *rec) error {
			return x.addObs("final", "imaging", cc(sysLocal, "FIBSCAN", "FibroScan liver stiffness 12.1 kPa"), x.recent(0), qty(12.1, "kPa", "kPa"))
		}},
	{id: "newest-result/metavir-f3-text", item: "4", rel: relNotApprove, concepts: []string{cFibrosis},
		desc: "A newer fibrosis staging under a local code, text \"METAVIR fibrosis stage\", valueString \"F3\"",
		apply: func(x *rec) error {
			return x.addObs("final", "imaging", cc(sysLocal, "METAVIR", "METAVIR fibrosis stage"), x.recent(0), `"valueString":"F3"`)
		}},
	{id: "newest-result/cirrhosis-condition-unknown-code", item: "4", rel: relNotApprove, concepts: []string{cFibrosis},
		desc: "An active Condition under an unknown local code with text \"Cirrhosis of liver\"",
		apply: func(x *rec) error {
			x.add(x.condition(cc("http://ehr.example.org/fhir/CodeSystem/problem-list", "PL-4471", "Cirrhosis of liver"), "active", "confirmed", "2026-11-15"))
			return nil
		}},
	{id: "newest-result/cirrhosis-condition-icd10", item: "4", rel: relNotApprove, concepts: []string{cFibrosis},
		desc: "An active Condition K74.60 unspecified cirrhosis of liver",
		apply: func(x *rec) error {
			x.add(x.condition(cc(sysICD10, "K74.60", "Unspecified cirrhosis of liver"), "active", "confirmed", "2026-11-15"))
			return nil
		}},

	// 5 — the record is about this patient.
	{id: "this-patient/other-patient-low-platelets", item: "5", rel: relSame,
		desc: "A second Patient in the bundle with a failing platelet count of their own (evaluated for our patient)",
		apply: func(x *rec) error {
			o := x.lowPlatelets(x.recent(0))
			x.add(about(o, "subject", ref(x.otherPatient())))
			return nil
		}},
	{id: "this-patient/other-patient-prior-gene-therapy", item: "5", rel: relSame,
		desc: "A second Patient's EOB for a gene therapy",
		apply: func(x *rec) error {
			x.add(about(x.eob(x.old(0), []string{x.gtCode()}), "patient", ref(x.otherPatient())))
			return nil
		}},
	{id: "this-patient/other-patient-inhibitor", item: "5", rel: relSame,
		desc: "A second Patient's positive Bethesda titer and inhibitor diagnosis",
		apply: func(x *rec) error {
			other := x.otherPatient()
			x.add(about(x.obs("final", "laboratory", x.inhibitorCode(), x.old(0)+"T08:00:00Z", qty(5.2, "BU/mL", "[beth'U]/mL")), "subject", ref(other)))
			x.add(about(x.condition(inhibitorDx, "active", "confirmed", x.old(0)), "subject", ref(other)))
			return nil
		}},
	{id: "this-patient/subject-outside-bundle", item: "5", rel: relSame,
		desc: "A failing platelet count whose subject is a Patient not in the bundle (Patient/pat-elsewhere)",
		apply: func(x *rec) error {
			x.add(about(x.lowPlatelets(x.recent(0)), "subject", ref("Patient/pat-elsewhere")))
			return nil
		}},
	{id: "this-patient/subject-identifier-of-another", item: "5", rel: relSame,
		desc: "A failing platelet count whose subject is another patient's MRN identifier",
		apply: func(x *rec) error {
			x.add(about(x.lowPlatelets(x.recent(0)), "subject", map[string]any{"identifier": map[string]any{"system": "http://ehr.example.org/mrn", "value": "MRN-OTHER-2"}}))
			return nil
		}},
	{id: "this-patient/unattributed-in-multi-patient-bundle", item: "5", rel: relNotApprove, concepts: []string{cPlatelets},
		desc: "A failing platelet count with no subject in a bundle with two Patients (cannot be attributed: reported, never approved over)",
		apply: func(x *rec) error {
			x.otherPatient()
			x.add(about(x.lowPlatelets(x.recent(0)), "subject", nil))
			return nil
		}},
	{id: "this-patient/no-subject-single-patient", item: "5", rel: relNotApprove, concepts: []string{cPlatelets},
		desc: "A failing platelet count with no subject in a single-patient bundle",
		apply: func(x *rec) error {
			x.add(about(x.lowPlatelets(x.recent(0)), "subject", nil))
			return nil
		}},
	{id: "this-patient/deceased-boolean", item: "5", rel: relNotApprove, group: "deceased",
		desc: "Patient.deceasedBoolean true: a deceased patient is never approved",
		apply: func(x *rec) error {
			p := x.patient()
			if p == nil {
				return errSkip
			}
			p["deceasedBoolean"] = true
			return nil
		}},
	{id: "this-patient/deceased-datetime", item: "5", rel: relNotApprove, group: "deceased",
		desc: "Patient.deceasedDateTime 2026-10-30",
		apply: func(x *rec) error {
			p := x.patient()
			if p == nil {
				return errSkip
			}
			p["deceasedDateTime"] = "2026-10-30"
			return nil
		}},

	// 6 — dates and numbers at their precision.
	{id: "precision/birthdate-year-straddles-18", item: "6", rel: relPendOrWorse, concepts: []string{cAge}, group: "birthdate",
		desc:  "birthDate \"2008\": 17 or 18 on 2026-11-24 (unknown)",
		apply: func(x *rec) error { return x.setBirthDate(func(string) string { return "2008" }) }},
	{id: "precision/birthdate-month-straddles-18", item: "6", rel: relPendOrWorse, concepts: []string{cAge}, group: "birthdate",
		desc:  "birthDate \"2008-11\": turns 18 some day in November 2026 (unknown on the 24th)",
		apply: func(x *rec) error { return x.setBirthDate(func(string) string { return "2008-11" }) }},
	{id: "precision/birthdate-under-18", item: "6", rel: relNotApprove, concepts: []string{cAge}, group: "birthdate",
		desc:  "birthDate \"2008-12\": 17 on 2026-11-24",
		apply: func(x *rec) error { return x.setBirthDate(func(string) string { return "2008-12" }) }},
	{id: "precision/birthdate-year-only-adult", item: "6", rel: relSame, group: "birthdate",
		desc:  "birthDate cut to its year (an adult either way) keeps the decision",
		apply: func(x *rec) error { return x.setBirthDate(func(s string) string { return s[:4] }) }},
	{id: "precision/weight-comparator", item: "6", rel: relPendOrWorse, concepts: []string{cDose},
		desc: "A newer body weight \">70 kg\" (a bound, not a weight to dose by)",
		apply: func(x *rec) error {
			return x.addObs("final", "vital-signs", weightLOINC, x.recent(0), `"valueQuantity":{"value":70,"comparator":">","unit":"kg","system":"`+sysUCUM+`","code":"kg"}`)
		}},
	{id: "precision/two-weights-same-day", item: "6", rel: relPendOrWorse, concepts: []string{cDose},
		desc: "Two different newer body weights on one day (72.4 kg and 81.0 kg)",
		apply: func(x *rec) error {
			when := x.recent(0)
			x.add(x.obs("final", "vital-signs", weightLOINC, when, qty(72.4, "kg", "kg")))
			x.add(x.obs("final", "vital-signs", weightLOINC, when[:11]+"15:30:00Z", qty(81.0, "kg", "kg")))
			return nil
		}},
	{id: "precision/weight-same-time-as-sample-differs", item: "6", rel: relPendOrWorse, concepts: []string{cDose},
		desc: "A second, different body weight (95.5 kg) at the same time as the sample's",
		apply: func(x *rec) error {
			when, err := x.sameDayAs("29463-7")
			if err != nil {
				return err
			}
			return x.addObs("final", "vital-signs", weightLOINC, when, qty(95.5, "kg", "kg"))
		}},
	{id: "precision/weight-unknown-unit", item: "6", rel: relPendOrWorse, concepts: []string{cDose},
		desc: "A newer body weight of 11.5 in unit \"st\" with no UCUM code (not assumed)",
		apply: func(x *rec) error {
			return x.addObs("final", "vital-signs", weightLOINC, x.recent(0), qty(11.5, "st", ""))
		}},
	{id: "precision/newer-weight-in-pounds", item: "6", rel: relSame,
		desc: "A newer body weight of 160 [lb_av] is converted (the decision stands)",
		apply: func(x *rec) error {
			return x.addObs("final", "vital-signs", weightLOINC, x.recent(0), qty(160, "lb", "[lb_av]"))
		}},
	{id: "precision/hiv-rna-log10", item: "6", rel: relNotApprove, concepts: []string{cHIVLoad},
		desc: "A newer HIV-1 RNA in log10 units (29541-0) of 2.4–2.7 (251–501 copies/mL ≥ 200; values keep one decimal)",
		apply: func(x *rec) error {
			return x.addObs("final", "laboratory", hivRNALog, x.recent(0), qty(x.val(1, 2.4, 2.7), "log10 copies/mL", "{log_copies}/mL"))
		}},
	{id: "precision/hiv-rna-log-under-linear-code", item: "6", rel: relPendOrWorse, concepts: []string{cHIVLoad},
		desc: "A newer HIV-1 RNA of 2.5 \"log10 copies/mL\" under the linear code 20447-9 (neither reading may be assumed)",
		apply: func(x *rec) error {
			return x.addObs("final", "laboratory", hivRNALOINC, x.recent(0), qty(2.5, "log10 copies/mL", ""))
		}},
	{id: "precision/hiv-rna-copies-detectable", item: "6", rel: relNotApprove, concepts: []string{cHIVLoad},
		desc: "A newer HIV-1 RNA (20447-9) of 316 copies/mL",
		apply: func(x *rec) error {
			return x.addObs("final", "laboratory", hivRNALOINC, x.recent(0), qty(316, "copies/mL", "{copies}/mL"))
		}},
	{id: "precision/alt-reference-range-by-sex", item: "6", rel: relNotApprove, concepts: []string{cLFT}, group: "alt-range",
		desc:  "The ALT's reference ranges split by sex: the patient's own sex's ULN makes it > 2 × ULN, the other sex's would not",
		apply: func(x *rec) error { return x.altRanges(true) }},
	{id: "precision/alt-reference-range-other-sex-only", item: "6", rel: relPendOrWorse, concepts: []string{cLFT}, group: "alt-range",
		desc:  "The ALT's only reference range applies to the other sex (no ULN for this patient)",
		apply: func(x *rec) error { return x.altRanges(false) }},

	// 7 — the JSON is read once, strictly.
	{id: "strict-json/duplicate-code-key", item: "7", rel: relRejected,
		desc: "An Observation with two \"code\" keys (heart rate, then Bethesda) — the peek and the decoder must not disagree",
		apply: func(x *rec) error {
			x.add(x.obs("final", "laboratory", `"__DUPCODE__"`, x.recent(0), qty(72, "beats/minute", "/min")))
			x.raw = append(x.raw, replaceOnce(`"code":"__DUPCODE__"`, `"code":`+cc(sysLOINC, "8867-4", "Heart rate")+`,"code":`+x.inhibitorCode()))
			return nil
		}},
	{id: "strict-json/duplicate-birthdate-key", item: "7", rel: relRejected, group: "birthdate",
		desc: "The Patient with two \"birthDate\" keys (the second makes the patient 16)",
		apply: func(x *rec) error {
			var bd string
			if err := x.setBirthDate(func(s string) string { bd = s; return "__DUPBD__" }); err != nil {
				return err
			}
			x.raw = append(x.raw, replaceOnce(`"birthDate":"__DUPBD__"`, `"birthDate":"`+bd+`","birthDate":"2010-05-05"`))
			return nil
		}},
	{id: "strict-json/duplicate-status-key", item: "7", rel: relRejected,
		desc: "A failing platelet count with \"status\" twice (entered-in-error, then final)",
		apply: func(x *rec) error {
			o := x.lowPlatelets(x.recent(0))
			o["status"] = "__DUPST__"
			x.add(o)
			x.raw = append(x.raw, replaceOnce(`"status":"__DUPST__"`, `"status":"entered-in-error","status":"final"`))
			return nil
		}},
	{id: "strict-json/invalid-utf8", item: "7", rel: relRejected,
		desc: "A resource text containing invalid UTF-8 bytes",
		apply: func(x *rec) error {
			x.add(x.obs("final", "laboratory", textCC("__BADUTF8__"), x.recent(0), qty(30, "10*3/uL", "10*3/uL")))
			x.raw = append(x.raw, replaceOnce("__BADUTF8__", "Platelets \xff\xfe count"))
			return nil
		}},
	{id: "strict-json/invalid-uri", item: "7", rel: relRejected,
		desc: "A coding system that is not a URI (\"http://loinc .org\", with a space)",
		apply: func(x *rec) error {
			return x.addObs("final", "laboratory", `{"coding":[{"system":"http://loinc .org","code":"777-3"}],"text":"Platelets"}`, x.recent(0), qty(30, "10*3/uL", "10*3/uL"))
		}},

	// 8 — terminology judgement re-examined (NY 8.b/9.b).
	{id: "terminology/hiv-screen-negative-without-cd4", item: "8", rel: relSame,
		desc: "No CD4 count on record, HIV screen negative within 3 months: no uncontrolled HIV (the decision stands)",
		apply: func(x *rec) error {
			if x.remove(func(r map[string]any) bool { return notOurs(r) && hasCode(r["code"], "24467-3") }) == 0 {
				return errSkip
			}
			return nil
		}},
	{id: "terminology/hiv-rna-not-detected-instead-of-screen", item: "8", rel: relSame,
		desc: "HIV-1 RNA (20447-9) Not detected in place of the HIV screen and the CD4 count (the decision stands)",
		apply: func(x *rec) error {
			when, err := x.sameDayAs("56888-1")
			if err != nil {
				return err
			}
			x.remove(func(r map[string]any) bool {
				return notOurs(r) && (hasCode(r["code"], "24467-3") || hasCode(r["code"], "56888-1"))
			})
			return x.addObs("final", "laboratory", hivRNALOINC, when, snomedNotDetected)
		}},

	// 9 — the record fetched is the record: results only a broad fetch brings must reach the safety net.
	{id: "broad-fetch/local-platelet-count", item: "9", rel: relNotApprove, concepts: []string{cPlatelets},
		desc: "A newer laboratory result under an unknown local code with text \"PLT (manual count)\" at 30 × 10⁹/L",
		apply: func(x *rec) error {
			return x.addObs("final", "laboratory", cc(sysLocal, "PLTM", "PLT (manual count)"), x.recent(0), qty(30, "10*9/L", "10*9/L"))
		}},
	{id: "broad-fetch/local-hbsag", item: "9", rel: relNotApprove, concepts: []string{cHepatitis},
		desc: "A newer laboratory result under an unknown local code with text \"HBsAg screen\", valueString \"Reactive\"",
		apply: func(x *rec) error {
			return x.addObs("final", "laboratory", cc(sysLocal, "HBSAG-S", "HBsAg screen"), x.recent(0), `"valueString":"Reactive"`)
		}},
	{id: "broad-fetch/local-bethesda-exam-category", item: "9", rel: relNotApprove, concepts: []string{cInhibitorHistory},
		desc: "An old result under category exam and a local code, text \"Bethesda inhibitor assay\", 1.9 BU/mL",
		apply: func(x *rec) error {
			return x.addObs("final", "exam", cc(sysLocal, "BETH", "Bethesda inhibitor assay"), x.old(0)+"T08:00:00Z", qty(1.9, "BU/mL", "[beth'U]/mL"))
		}},

	// 10 — the order is the drug decided.
	{id: "ordered-drug/roctavian", item: "10", rel: relNotApprove, orders: "roctavian", group: "order",
		desc: "The order changed to Roctavian (J1412), evaluated under a policy for another drug",
		apply: func(x *rec) error {
			return x.setOrder(cc(sysHCPCS, "J1412", "Roctavian (valoctocogene roxaparvovec-rvox) one-time IV infusion"))
		}},
	{id: "ordered-drug/roctavian-name-only", item: "10", rel: relNotApprove, orders: "roctavian", group: "order",
		desc:  "The order changed to \"Roctavian\" by name only",
		apply: func(x *rec) error { return x.setOrder(textCC("Roctavian one-time IV infusion")) }},
	{id: "ordered-drug/hemgenix", item: "10", rel: relNotApprove, orders: "hemgenix", group: "order",
		desc: "The order changed to Hemgenix (J1411), evaluated under a policy for another drug",
		apply: func(x *rec) error {
			return x.setOrder(cc(sysHCPCS, "J1411", "Hemgenix (etranacogene dezaparvovec-drlb) one-time IV infusion"))
		}},
	{id: "ordered-drug/beqvez", item: "10", rel: relNotApprove, orders: "beqvez", group: "order",
		desc: "The order changed to Beqvez (J1414), evaluated under a policy for another drug",
		apply: func(x *rec) error {
			return x.setOrder(cc(sysHCPCS, "J1414", "Beqvez (fidanacogene elaparvovec-dzkt) one-time IV infusion"))
		}},
	{id: "ordered-drug/second-order-roctavian", item: "10", rel: relNotApprove, orders: "roctavian",
		desc: "A second draft MedicationRequest for Roctavian beside the order (which drug is decided is ambiguous)",
		apply: func(x *rec) error {
			mrs := x.resources("MedicationRequest")
			if len(mrs) == 0 {
				return errSkip
			}
			m := clone(mrs[0])
			m["id"] = x.id("mr")
			m["medicationCodeableConcept"] = x.parse(cc(sysHCPCS, "J1412", "Roctavian (valoctocogene roxaparvovec-rvox) one-time IV infusion"))
			x.add(m)
			return nil
		}},
}

func replaceOnce(old, new string) func([]byte) []byte {
	return func(b []byte) []byte { return []byte(strings.Replace(string(b), old, new, 1)) }
}

// altRanges rewrites the sample's ALT reference ranges by sex (248153007 male,
// 248152002 female: the FHIR referencerange-appliesto examples). bothSexes:
// the patient's own range makes the value > 2 × ULN, the other one would not;
// otherwise only the other sex's range is given.
func (x *rec) altRanges(bothSexes bool) error {
	alts := x.byCode("Observation", "code", "1742-6")
	p := x.patient()
	if len(alts) == 0 || p == nil {
		return errSkip
	}
	alt := alts[0]
	vq, _ := alt["valueQuantity"].(map[string]any)
	v, _ := vq["value"].(float64)
	if v <= 0 {
		return errSkip
	}
	male := map[string]any{"coding": []any{map[string]any{"system": sysSNOMED, "code": "248153007", "display": "Male (finding)"}}, "text": "Male"}
	female := map[string]any{"coding": []any{map[string]any{"system": sysSNOMED, "code": "248152002", "display": "Female (finding)"}}, "text": "Female"}
	own, other := male, female
	if p["gender"] == "female" {
		own, other = female, male
	}
	rng := func(high float64, who map[string]any) map[string]any {
		return map[string]any{"high": map[string]any{"value": high, "unit": "U/L", "system": sysUCUM, "code": "U/L"}, "appliesTo": []any{who}}
	}
	ranges := []any{rng(float64(int(v*2)), other)}
	if bothSexes {
		ranges = append([]any{rng(float64(int(v/2.5)), own)}, ranges...)
	}
	alt["referenceRange"] = ranges
	return nil
}

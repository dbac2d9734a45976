package pipeline

// Helpers the metamorphic catalogue uses to edit a sample bundle as
// map[string]any and to build the FHIR R4 resources it adds. Every resource
// built here must decode with the validating (unfiltered) google/fhir decoder;
// TestMetamorphic checks that for every transformed bundle.

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// errSkip: the transformation does not apply to this sample (what it edits
// is not there).
var errSkip = errors.New("not applicable to this sample")

// Code systems (FHIR R4 canonical URIs; the HCPCS URI is the one the samples use).
const (
	sysLOINC  = "http://loinc.org"
	sysSNOMED = "http://snomed.info/sct"
	sysICD10  = "http://hl7.org/fhir/sid/icd-10-cm"
	sysHCPCS  = "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
	sysNDC    = "http://hl7.org/fhir/sid/ndc"
	sysRxNorm = "http://www.nlm.nih.gov/research/umls/rxnorm"
	sysUCUM   = "http://unitsofmeasure.org"
	sysInterp = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
	sysLocal  = "http://lab.example.org/fhir/CodeSystem/local-results"
	ehrBase   = "http://ehr.example.org/fhir/"
)

// rec is one sample bundle being transformed for one patient.
type rec struct {
	b    map[string]any
	pid  string // the patient the bundle is evaluated for
	hemo string // "A" (factor VIII) or "B" (factor IX), from the sample's diagnosis
	asOf time.Time
	u    [2]float64 // parameters in [0,1): the catalogue uses 0.5, the fuzzer its bytes
	seq  int
	raw  []func([]byte) []byte // byte-level edits after marshalling (item 7)
}

func newRec(data []byte, pid, hemo string, asOf time.Time) (*rec, error) {
	var b map[string]any
	if err := json.Unmarshal(data, &b); err != nil {
		return nil, err
	}
	return &rec{b: b, pid: pid, hemo: hemo, asOf: asOf, u: [2]float64{0.5, 0.5}}, nil
}

func (x *rec) bytes() ([]byte, error) {
	out, err := json.Marshal(x.b)
	if err != nil {
		return nil, err
	}
	for _, f := range x.raw {
		out = f(out)
	}
	return out, nil
}

func (x *rec) pat() string { return "Patient/" + x.pid }

func (x *rec) entries() []any { e, _ := x.b["entry"].([]any); return e }

func (x *rec) setEntries(e []any) { x.b["entry"] = e }

// resources lists the bundle's top-level resources of a type (all when rt is "").
func (x *rec) resources(rt string) []map[string]any {
	var out []map[string]any
	for _, e := range x.entries() {
		em, _ := e.(map[string]any)
		r, _ := em["resource"].(map[string]any)
		if r != nil && (rt == "" || r["resourceType"] == rt) {
			out = append(out, r)
		}
	}
	return out
}

// patient is the evaluated patient's resource.
func (x *rec) patient() map[string]any {
	for _, r := range x.resources("Patient") {
		if r["id"] == x.pid {
			return r
		}
	}
	return nil
}

// byCode finds the patient's resources of a type whose field carries a code.
func (x *rec) byCode(rt, field string, codes ...string) []map[string]any {
	var out []map[string]any
	for _, r := range x.resources(rt) {
		for _, c := range codes {
			if hasCode(r[field], c) {
				out = append(out, r)
				break
			}
		}
	}
	return out
}

func hasCode(cc any, code string) bool {
	m, _ := cc.(map[string]any)
	cs, _ := m["coding"].([]any)
	for _, c := range cs {
		if cm, _ := c.(map[string]any); cm["code"] == code {
			return true
		}
	}
	return false
}

func (x *rec) remove(pred func(map[string]any) bool) int {
	var keep []any
	n := 0
	for _, e := range x.entries() {
		em, _ := e.(map[string]any)
		if r, _ := em["resource"].(map[string]any); r != nil && pred(r) {
			n++
			continue
		}
		keep = append(keep, e)
	}
	x.setEntries(keep)
	return n
}

// id returns a fresh resource id.
func (x *rec) id(prefix string) string {
	x.seq++
	return fmt.Sprintf("mm-%s-%d", prefix, x.seq)
}

// add appends a resource as a new entry, with an id if it has none.
func (x *rec) add(r map[string]any) map[string]any {
	rt, _ := r["resourceType"].(string)
	if _, ok := r["id"]; !ok {
		r["id"] = x.id(strings.ToLower(rt))
	}
	x.setEntries(append(x.entries(), map[string]any{"fullUrl": ehrBase + rt + "/" + r["id"].(string), "resource": r}))
	return r
}

// parse builds a resource from a JSON template: {{PAT}} is the patient
// reference, {{ID}} a fresh id; further pairs replace their keys.
func (x *rec) parse(tmpl string, kv ...string) map[string]any {
	pairs := []string{"{{PAT}}", x.pat()}
	if strings.Contains(tmpl, "{{ID}}") {
		pairs = append(pairs, "{{ID}}", x.id("r"))
	}
	pairs = append(pairs, kv...)
	s := strings.NewReplacer(pairs...).Replace(tmpl)
	var r map[string]any
	if err := json.Unmarshal([]byte(s), &r); err != nil {
		panic(fmt.Sprintf("metamorphic template is not JSON: %v\n%s", err, s))
	}
	return r
}

// --- parameters ------------------------------------------------------------

// recent is a day after every sample result (they are dated up to
// 2026-11-12) and before the as-of date: 2026-11-14 … 2026-11-22.
func (x *rec) recent(k int) string {
	d := x.asOf.AddDate(0, 0, -(2 + int(x.u[k]*9)))
	return d.Format("2006-01-02") + "T09:00:00Z"
}

// old is a day in 2005 … 2024: a history, years before the request.
func (x *rec) old(k int) string {
	d := time.Date(2005, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, int(x.u[k]*20*365))
	return d.Format("2006-01-02")
}

// val is a number in [lo, hi], to one decimal.
func (x *rec) val(k int, lo, hi float64) float64 {
	return math.Round((lo+x.u[k]*(hi-lo))*10) / 10
}

func num(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// --- FHIR fragments ----------------------------------------------------------

func coding(system, code, display string) string {
	return fmt.Sprintf(`{"system":%q,"code":%q,"display":%q}`, system, code, display)
}

// cc is a CodeableConcept of one coding with the display as its text.
func cc(system, code, display string) string {
	return fmt.Sprintf(`{"coding":[%s],"text":%q}`, coding(system, code, display), display)
}

func textCC(text string) string { return fmt.Sprintf(`{"text":%q}`, text) }

// qty is a valueQuantity; ucum "" leaves system and code out (a unit only a person reads).
func qty(v float64, unit, ucum string) string {
	if ucum == "" {
		return fmt.Sprintf(`"valueQuantity":{"value":%s,"unit":%q}`, num(v), unit)
	}
	return fmt.Sprintf(`"valueQuantity":{"value":%s,"unit":%q,"system":%q,"code":%q}`, num(v), unit, sysUCUM, ucum)
}

func coded(system, code, display string) string {
	return `"valueCodeableConcept":` + cc(system, code, display)
}

func interp(code, display string) string {
	return fmt.Sprintf(`"interpretation":[{"coding":[%s]}]`, coding(sysInterp, code, display))
}

var (
	snomedPositive    = coded(sysSNOMED, "10828004", "Positive")
	snomedDetected    = coded(sysSNOMED, "260373001", "Detected")
	snomedNotDetected = coded(sysSNOMED, "260415000", "Not detected")
)

func category(c string) string {
	return fmt.Sprintf(`"category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":%q}]}]`, c)
}

// obs is an Observation about the patient; fields are JSON members
// ("valueQuantity":…, "interpretation":…) joined into the resource.
func (x *rec) obs(status, cat, code, when string, fields ...string) map[string]any {
	parts := []string{`"resourceType":"Observation"`, `"id":"{{ID}}"`, fmt.Sprintf(`"status":%q`, status), category(cat),
		`"code":` + code, `"subject":{"reference":"{{PAT}}"}`, fmt.Sprintf(`"effectiveDateTime":%q`, when), fmt.Sprintf(`"issued":%q`, issued(when))}
	parts = append(parts, fields...)
	return x.parse("{" + strings.Join(parts, ",") + "}")
}

// issued is the instant a result was released: its effective day, 18:00 UTC.
func issued(when string) string { return when[:10] + "T18:00:00Z" }

// --- the patient's disease -------------------------------------------------

// factor is "IX" for hemophilia B and "VIII" for hemophilia A.
func (x *rec) factor() string {
	if x.hemo == "A" {
		return "VIII"
	}
	return "IX"
}

// inhibitorCode is the LOINC Bethesda inhibitor assay for the patient's factor
// (3185-6 FIX, 3204-5 FVIII: /work/shared/reference/terminology.md, the samples).
func (x *rec) inhibitorCode() string {
	if x.hemo == "A" {
		return cc(sysLOINC, "3204-5", "Coagulation factor VIII inhibitor [Units/volume] in Platelet poor plasma by Coagulation assay")
	}
	return cc(sysLOINC, "3185-6", "Coagulation factor IX inhibitor [Units/volume] in Platelet poor plasma by Coagulation assay")
}

// geneTherapy is the patient's own disease's gene therapy product.
type product struct{ hcpcs, name string }

func (x *rec) geneTherapy() product {
	if x.hemo == "A" {
		// Roctavian J1412 (terminology.md; 003 snapshot).
		return product{"J1412", "Roctavian (valoctocogene roxaparvovec-rvox)"}
	}
	// Hemgenix J1411 (003 billing reference; 000 policy).
	return product{"J1411", "Hemgenix (etranacogene dezaparvovec-drlb)"}
}

// --- claims ----------------------------------------------------------------

// eob is an ExplanationOfBenefit from a prior plan: items are JSON item objects
// without sequence; diagnoses are CodeableConcepts.
func (x *rec) eob(date string, items []string, diagnoses ...string) map[string]any {
	var its, dx []string
	for i, it := range items {
		its = append(its, fmt.Sprintf(`{"sequence":%d,"productOrService":%s,"servicedDate":%q,"quantity":{"value":1}}`, i+1, it, date))
	}
	for i, d := range diagnoses {
		dx = append(dx, fmt.Sprintf(`{"sequence":%d,"diagnosisCodeableConcept":%s}`, i+1, d))
	}
	s := `{"resourceType":"ExplanationOfBenefit","id":"{{ID}}","status":"active",
	 "type":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/claim-type","code":"institutional"}]},
	 "use":"claim","patient":{"reference":"{{PAT}}"},"billablePeriod":{"start":"{{D}}","end":"{{D}}"},
	 "created":"{{D}}","insurer":{"display":"Prior commercial plan"},"provider":{"display":"University Hemophilia Treatment Center"},
	 "outcome":"complete","insurance":[{"focal":true,"coverage":{"display":"Prior commercial coverage"}}]`
	if len(dx) > 0 {
		s += `,"diagnosis":[` + strings.Join(dx, ",") + `]`
	}
	if len(its) > 0 {
		s += `,"item":[` + strings.Join(its, ",") + `]`
	}
	return x.parse(s+"}", "{{D}}", date)
}

// claim is a Claim (professional) with items and diagnoses like eob.
func (x *rec) claim(date string, items []string, diagnoses ...string) map[string]any {
	var its, dx []string
	for i, it := range items {
		its = append(its, fmt.Sprintf(`{"sequence":%d,"productOrService":%s,"servicedDate":%q}`, i+1, it, date))
	}
	for i, d := range diagnoses {
		dx = append(dx, fmt.Sprintf(`{"sequence":%d,"diagnosisCodeableConcept":%s}`, i+1, d))
	}
	s := `{"resourceType":"Claim","id":"{{ID}}","status":"active",
	 "type":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/claim-type","code":"professional"}]},
	 "use":"claim","patient":{"reference":"{{PAT}}"},"created":"{{D}}","provider":{"display":"University Hemophilia Treatment Center"},
	 "priority":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/processpriority","code":"normal"}]},
	 "insurance":[{"sequence":1,"focal":true,"coverage":{"display":"Prior commercial coverage"}}]`
	if len(dx) > 0 {
		s += `,"diagnosis":[` + strings.Join(dx, ",") + `]`
	}
	if len(its) > 0 {
		s += `,"item":[` + strings.Join(its, ",") + `]`
	}
	return x.parse(s+"}", "{{D}}", date)
}

// condition is a Condition about the patient with a clinical status
// ("active", "resolved", "inactive") and a verification status.
func (x *rec) condition(code, clinical, verification, onset string, extra ...string) map[string]any {
	s := fmt.Sprintf(`{"resourceType":"Condition","id":"{{ID}}",
	 "clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-clinical","code":%q}]},
	 "verificationStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-ver-status","code":%q}]},
	 "category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-category","code":"problem-list-item"}]}],
	 "code":%s,"subject":{"reference":"{{PAT}}"},"onsetDateTime":%q`, clinical, verification, code, onset)
	for _, e := range extra {
		s += "," + e
	}
	return x.parse(s + "}")
}

// qr is the sample's attestation QuestionnaireResponse (the first one).
func (x *rec) qr() (map[string]any, error) {
	qs := x.resources("QuestionnaireResponse")
	if len(qs) == 0 {
		return nil, errSkip
	}
	return qs[0], nil
}

// clone deep-copies a resource.
func clone(r map[string]any) map[string]any {
	b, _ := json.Marshal(r)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return out
}

// setAnswer sets a boolean answer of a QR item (adding the item if missing).
func setAnswer(q map[string]any, linkID string, v bool) {
	items, _ := q["item"].([]any)
	for _, it := range items {
		im, _ := it.(map[string]any)
		if im["linkId"] == linkID {
			im["answer"] = []any{map[string]any{"valueBoolean": v}}
			return
		}
	}
	q["item"] = append(items, map[string]any{"linkId": linkID, "answer": []any{map[string]any{"valueBoolean": v}}})
}

// sameDayAs finds the patient's newest Observation with one of the codes and
// returns its effectiveDateTime.
func (x *rec) sameDayAs(codes ...string) (string, error) {
	best := ""
	for _, r := range x.byCode("Observation", "code", codes...) {
		if s, _ := r["effectiveDateTime"].(string); s > best {
			best = s
		}
	}
	if best == "" {
		return "", errSkip
	}
	return best, nil
}

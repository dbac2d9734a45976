package mapping

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/fhir/go/fhirversion"
	"github.com/google/fhir/go/jsonformat"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	bcrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"
)

func TestFactsByText(t *testing.T) {
	m, err := New(testCat())
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		text string
		want []string // facts that must be listed
		not  []string // facts that must not be
	}{
		{"Platelet count", []string{"platelets"}, nil},
		{"Coagulation factor IX activity in Platelet poor plasma", []string{"fix_activity"}, []string{"platelets"}},
		{"Mean platelet volume", nil, []string{"platelets"}},
		{"Factor IX inhibitor (Bethesda)", []string{"fix_inhibitor"}, []string{"fix_activity"}},
		{"C1 esterase inhibitor functional", nil, []string{"fix_inhibitor"}},
		{"FEIBA (factor eight inhibitor bypassing activity) given", []string{"fix_inhibitor"}, nil},
		{"FibroScan", []string{"liver_stiffness"}, nil},
		{"Cystic fibrosis carrier screen", nil, []string{"liver_stiffness"}},
		{"HBsAg", []string{"hbsag"}, nil},
		{"Hepatitis B virus surface Ab [Units/volume]", nil, []string{"hbsag", "hepatitis_c"}},
		{"Hepatitis A virus IgG", nil, []string{"hbsag", "hcv_rna"}},
		{"Hepatitis panel", []string{"hbsag", "hcv_rna"}, nil},
		{"HIV 1 RNA", []string{"hiv_rna"}, nil},
		{"Cirrhosis", []string{"cirrhosis"}, nil},
		{"Etranacogene dezaparvovec infusion", []string{"prior_gene_therapy"}, nil},
		{"Alternative medicine", nil, []string{"alt"}},
		{"Fasting glucose, last value", nil, []string{"ast"}},
		{"AST", []string{"ast"}, nil},
		{"Birth weight", nil, []string{"weight"}},
		{"Body weight", []string{"weight"}, nil},
		{"Creatinine [Mass/volume] in Urine", nil, []string{"creatinine"}},
		{"Albumin/Creatinine [Mass Ratio] in Urine", nil, []string{"creatinine"}},
		{"Creatinine [Mass/volume] in Serum", []string{"creatinine"}, nil},
		{"Bilirubin.direct", nil, []string{"bilirubin_total"}},
		{"Bilirubin.total", []string{"bilirubin_total"}, nil},
	}
	for _, tc := range cases {
		got := m.factsByText(tc.text)
		for _, f := range tc.want {
			if !slices.Contains(got, f) {
				t.Errorf("%q: %v, want %s", tc.text, got, f)
			}
		}
		for _, f := range tc.not {
			if slices.Contains(got, f) {
				t.Errorf("%q: %v, must not list %s", tc.text, got, f)
			}
		}
	}
	if got := m.factsByUnit("kPa", "Oxygen [Partial pressure] in Arterial blood"); len(got) != 0 {
		t.Errorf("blood gas kPa: %v", got)
	}
	if got := m.factsByUnit("kPa", "LSM"); !slices.Contains(got, "liver_stiffness") {
		t.Errorf("kPa: %v", got)
	}
}

// TestWants: the decode filter lets through everything that could be
// relevant and nothing of the usual filler.
func TestWants(t *testing.T) {
	m, _ := New(testCat())
	cases := []struct {
		typ, json string
		want      bool
	}{
		{"Observation", obs("o", loinc, "777-3", qty("1", "10*3/uL")), true},
		{"Observation", obs("o", loinc, "8867-4", qty("70", "/min"), `"category":[{"text":"vital-signs"}]`), false},
		{"Observation", `{"resourceType":"Observation","code":{"coding":[{"system":"http://x","code":"1","display":"Platelet count"}]}}`, true},
		{"Observation", `{"resourceType":"Observation","code":{"text":"FibroScan"}}`, true},
		{"Observation", `{"resourceType":"Observation","code":{"text":"Panel"},"component":[{"code":{"coding":[{"system":"http://loinc.org","code":"3185-6"}]}}]}`, true},
		{"Observation", `{"resourceType":"Observation","code":{"text":"Panel"},"component":[{"code":{"text":"Heart rate"}}]}`, false},
		{"Observation", `{"resourceType":"Observation","code":{"text":"x"},"contained":[{"resourceType":"Observation"}]}`, true},
		{"Observation", `{"resourceType":"Observation","code":{"text":"x"},"valueQuantity":{"value":1,"unit":"BU"}}`, true},
		{"Observation", `{"resourceType":"Observation","code":{"text":"x"},"valueCodeableConcept":{"text":"HIV-1 detected"}}`, true},
		{"Observation", `{"resourceType":"Observation","code":{"text":"Fibrinogen in Platelet poor plasma"}}`, false},
		{"DiagnosticReport", `{}`, true},
		{"DocumentReference", `{}`, true},
		{"Bundle", `{}`, true},
		{"MedicationDispense", `{}`, true},
		{"Encounter", `{"reasonCode":[{"text":"Hemophilia B, HIV"}]}`, false},
		{"Immunization", `{"vaccineCode":{"text":"Hepatitis B vaccine"}}`, false},
	}
	for _, tc := range cases {
		if got := m.Wants(tc.typ, []byte(tc.json)); got != tc.want {
			t.Errorf("%s %s: %v, want %v", tc.typ, tc.json, got, tc.want)
		}
	}
}

// FuzzMapObservation: the Observation reader never panics, and an Observation
// with a recognised code is never silently dropped — it yields a readable or
// an unreadable value, unless it is entered-in-error/cancelled or has a
// dataAbsentReason.
func FuzzMapObservation(f *testing.F) {
	m, err := New(testCat())
	if err != nil {
		f.Fatal(err)
	}
	u, err := jsonformat.NewUnmarshaller("UTC", fhirversion.R4)
	if err != nil {
		f.Fatal(err)
	}
	pat, _ := u.UnmarshalR4([]byte(patient))
	for _, s := range []string{
		obs("o", loinc, "777-3", qty("212", "10*3/uL")),
		obs("o", loinc, "29541-0", `"valueQuantity":{"value":2.5,"unit":"log10 copies/mL"}`),
		obs("o", local(), "aav5-antibody", `"valueRatio":{"numerator":{"value":1},"denominator":{"value":50}}`),
		obs("o", loinc, "3185-6", interp("POS")),
		obs("o", loinc, "1742-6", qty("30", "U/L"), `"referenceRange":[{"high":{"value":41},"age":{"low":{"value":18,"unit":"a"}}}]`),
		`{"resourceType":"Observation","id":"o","status":"preliminary","code":{"text":"x"},"component":[{"code":{"coding":[{"system":"http://loinc.org","code":"3185-6"}]},"valueString":"<1:5"}]}`,
		withStatus(obs("o", loinc, "777-3", qty("1", "10*3/uL")), "entered-in-error"),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cr, err := u.UnmarshalR4(data)
		if err != nil || cr.GetObservation() == nil {
			return
		}
		o := cr.GetObservation()
		b := &bcrpb.Bundle{Entry: []*bcrpb.Bundle_Entry{{Resource: pat}, {FullUrl: &dtpb.Uri{Value: "Observation/fuzz"}, Resource: cr}}}
		c, err := m.Map(b)
		if err != nil {
			return
		}
		st := status(o.GetStatus().GetValue())
		recognised := false
		for _, cd := range o.GetCode().GetCoding() {
			if m.obsByCode[m.codeKey(cd.GetSystem().GetValue(), cd.GetCode().GetValue())] != nil {
				recognised = true
			}
		}
		if !recognised || ignoredObservation[st] || o.GetDataAbsentReason() != nil || len(o.GetHasMember()) > 0 || len(o.GetComponent()) > 0 {
			return
		}
		if s := refString(o.GetSubject()); s != "" && !strings.HasSuffix(s, "Patient/p1") {
			return
		}
		n := 0
		for _, vs := range c.Facts {
			for _, v := range vs {
				if strings.HasPrefix(v.Source, "Observation/") {
					n++
				}
			}
		}
		if n == 0 {
			t.Errorf("recognised Observation silently dropped: %s", data)
		}
	})
}

// BenchmarkWantsVitals: the decode filter on the commonest irrelevant resource.
func BenchmarkWantsVitals(b *testing.B) {
	m, _ := New(testCat())
	raw := []byte(`{"resourceType":"Observation","id":"filler-1","status":"final","category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"vital-signs"}]}],"code":{"coding":[{"system":"http://loinc.org","code":"8867-4","display":"Heart rate"}],"text":"Heart rate"},"subject":{"reference":"Patient/pat-b-approve"},"effectiveDateTime":"2025-01-01T10:00:00Z","valueQuantity":{"value":61,"unit":"/min","system":"http://unitsofmeasure.org","code":"/min"},"referenceRange":[{"low":{"value":1},"high":{"value":200}}]}`)
	b.ReportAllocs()
	for b.Loop() {
		if m.Wants("Observation", raw) {
			b.Fatal("wanted")
		}
	}
}

// TestGaps: a part of the record that could not be read makes every fact it
// could carry unreadable, named by its source — never an empty record.
func TestGaps(t *testing.T) {
	m, _ := New(testCat())
	c, err := m.Map(bundle(t, patient), WithGaps(Gap{ResourceType: "ExplanationOfBenefit", Source: "prefetch claims", Problem: "was not sent"}))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"prior_gene_therapy", "factor_inhibitor_condition", "hiv"} {
		vs := c.Facts[f]
		if len(vs) != 1 || vs[0].Readable() || vs[0].Source != "prefetch claims" {
			t.Errorf("%s: %+v, want one unreadable value from prefetch claims", f, vs)
		}
	}
	if vs := c.Facts["platelets"]; len(vs) != 0 {
		t.Errorf("platelets come from Observations, not claims: %+v", vs)
	}
	if got := m.FactsCarriedBy("Observation"); !slices.Contains(got, "platelets") || slices.Contains(got, "prior_gene_therapy") {
		t.Errorf("FactsCarriedBy(Observation) = %v", got)
	}
}

// TestResourcesOfOtherTypes: a type no reader reads is accounted for by its
// text — irrelevant types and texts are passed over, relevant words make the
// facts they name unreadable; identifiers and references are not text.
func TestResourcesOfOtherTypes(t *testing.T) {
	m, _ := New(testCat())
	cases := []struct {
		name, res string
		facts     []string
	}{
		{"adverse event naming Hemgenix", `{"resourceType":"AdverseEvent","id":"ae1","actuality":"actual","subject":{"reference":"Patient/p1"},"event":{"text":"Infusion reaction during Hemgenix infusion"}}`, []string{"prior_gene_therapy"}},
		{"flag HIV", `{"resourceType":"Flag","id":"f1","status":"active","code":{"text":"HIV positive"},"subject":{"reference":"Patient/p1"}}`, []string{"hiv_screen", "hiv_rna", "hiv"}},
		{"flag about falls", `{"resourceType":"Flag","id":"hiv-1","status":"active","code":{"text":"Fall risk"},"subject":{"reference":"Patient/p1"}}`, nil},
		{"immunization hepatitis B vaccine", `{"resourceType":"Immunization","id":"i1","status":"completed","vaccineCode":{"text":"Hepatitis B vaccine"},"patient":{"reference":"Patient/p1"},"occurrenceDateTime":"2020-01-01"}`, nil},
		{"family history of inhibitor", `{"resourceType":"FamilyMemberHistory","id":"fh1","status":"completed","patient":{"reference":"Patient/p1"},"relationship":{"text":"brother"},"condition":[{"code":{"text":"Hemophilia B with factor IX inhibitor"}}]}`, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			typ := strings.Split(strings.Split(tc.res, `"resourceType":"`)[1], `"`)[0]
			if got := m.Wants(typ, []byte(tc.res)); got != (tc.facts != nil) && typ != "Flag" {
				t.Errorf("the decode filter wants it: %v", got)
			}
			c := mapOne(t, m, tc.res)
			for _, f := range tc.facts {
				if vs := c.Facts[f]; len(vs) != 1 || vs[0].Readable() || !strings.Contains(vs[0].Problem, "hemopa does not read") {
					t.Errorf("%s: %+v, want one unreadable value", f, vs)
				}
			}
			if tc.facts == nil {
				for f, vs := range c.Facts {
					if f != "sex" && f != "birth_date" && len(vs) > 0 {
						t.Errorf("irrelevant resource gave %s: %+v", f, vs)
					}
				}
			}
		})
	}
}

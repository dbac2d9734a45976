package mapping

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/fhir/go/fhirversion"
	"github.com/google/fhir/go/jsonformat"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	bcrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"

	"hemopa/rules"
)

const patient = `{"resourceType":"Patient","id":"p1","gender":"male","birthDate":"1990-01-01"}`

// bundle builds a bundle proto from resource JSON, with fullUrls Type/id.
func bundle(t *testing.T, resources ...string) *bcrpb.Bundle {
	t.Helper()
	u, err := jsonformat.NewUnmarshaller("UTC", fhirversion.R4)
	if err != nil {
		t.Fatal(err)
	}
	b := &bcrpb.Bundle{}
	for _, r := range resources {
		cr, err := u.UnmarshalR4([]byte(r))
		if err != nil {
			t.Fatalf("%v\n%s", err, r)
		}
		var head struct{ ResourceType, ID string }
		_ = json.Unmarshal([]byte(r), &head)
		b.Entry = append(b.Entry, &bcrpb.Bundle_Entry{FullUrl: &dtpb.Uri{Value: "http://ehr/fhir/" + head.ResourceType + "/" + head.ID}, Resource: cr})
	}
	return b
}

func obs(id, system, code, value string, extra ...string) string {
	s := `{"resourceType":"Observation","id":"` + id + `","status":"final","code":{"coding":[{"system":"` + system + `","code":"` + code + `"}]},` +
		`"subject":{"reference":"Patient/p1"},"effectiveDateTime":"2026-11-10T08:00:00-05:00",` + value
	for _, e := range extra {
		s += "," + e
	}
	return s + "}"
}

func qty(v, unit string) string {
	return `"valueQuantity":{"value":` + v + `,"unit":"` + unit + `","system":"http://unitsofmeasure.org","code":"` + unit + `"}`
}

func mapOne(t *testing.T, m *Mapper, resources ...string) *Chart {
	t.Helper()
	c, err := m.Map(bundle(t, append([]string{patient}, resources...)...))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestObservationUnitsAndValues(t *testing.T) {
	m, err := New(testCat())
	if err != nil {
		t.Fatal(err)
	}
	const L, local = "http://loinc.org", "http://hemopa.org/fhir/CodeSystem/lab-local"
	cases := []struct {
		name, res, fact string
		num             float64
		comparator      string
		flag            rules.Flag
		problem         string
	}{
		{"platelets 10*3/uL = 10*9/L", obs("o", L, "777-3", qty("212", "10*3/uL")), "platelets", 212, "", 0, ""},
		{"platelets per µL", obs("o", L, "777-3", qty("38000", "/uL")), "platelets", 38, "", 0, ""},
		{"weight in pounds", obs("o", L, "29463-7", qty("159.6", "[lb_av]")), "weight", 72.3933, "", 0, ""},
		{"weight in grams", obs("o", L, "29463-7", qty("72400", "g")), "weight", 72.4, "", 0, ""},
		{"bilirubin µmol/L to mg/dL", obs("o", L, "14631-6", qty("17.1", "umol/L")), "bilirubin_total", 0.99984, "", 0, ""},
		{"creatinine µmol/L to mg/dL", obs("o", L, "14682-9", qty("88.4", "umol/L")), "creatinine", 1, "", 0, ""},
		{"creatinine mmol/L to mg/dL", obs("o", L, "2160-0", qty("0.0884", "mmol/L")), "creatinine", 1, "", 0, ""},
		{"FIX IU/mL to %", obs("o", L, "3187-2", qty("0.18", "[IU]/mL")), "fix_activity", 18, "", 0, ""},
		{"FIX IU/dL alias", obs("o", L, "3187-2", `"valueQuantity":{"value":1,"unit":"IU/dL"}`), "fix_activity", 1, "", 0, ""},
		{"CD4 10*9/L to /uL", obs("o", L, "24467-3", qty("0.65", "10*9/L")), "cd4", 650, "", 0, ""},
		{"comparator kept", obs("o", L, "3185-6", `"valueQuantity":{"value":0.3,"comparator":"<","unit":"BU/mL"}`), "fix_inhibitor", 0.3, "<", 0, ""},
		{"inhibitor filed under the activity code is rerouted", obs("o", L, "3187-2", qty("1.2", "[beth'U]/mL")), "fix_inhibitor", 1.2, "", 0, ""},
		{"unknown unit is a problem, not a number", obs("o", L, "2160-0", qty("9.2", "mg/mmol")), "creatinine", 0, "", 0, `unit "mg/mmol" not understood`},
		{"missing unit is a problem", obs("o", L, "777-3", `"valueQuantity":{"value":212}`), "platelets", 0, "", 0, "no unit"},
		{"implausible value is a problem", obs("o", L, "29463-7", qty("7240", "kg")), "weight", 0, "", 0, "not plausible"},
		{"eGFR unit is not creatinine clearance", obs("o", L, "2164-2", qty("90", "mL/min/{1.73_m2}")), "creatinine_clearance", 0, "", 0, "not understood"},
		{"titer string", obs("o", local, "aav5-antibody", `"valueString":"1:50"`), "aav5_antibody", 50, "", 0, ""},
		{"titer string below dilution", obs("o", local, "aav5-antibody", `"valueString":"<1:5"`), "aav5_antibody", 5, "<", 0, ""},
		{"titer ratio", obs("o", local, "aav5-antibody", `"valueRatio":{"numerator":{"value":1},"denominator":{"value":900}}`), "aav5_antibody", 900, "", 0, ""},
		{"titer quantity", obs("o", local, "aav5-antibody", qty("20", "{titer}")), "aav5_antibody", 20, "", 0, ""},
		{"coded not detected", obs("o", local, "aavrh74var-nab", `"valueCodeableConcept":{"coding":[{"system":"http://snomed.info/sct","code":"260415000"}]}`), "aavrh74var_nab", 0, "", rules.Negative, ""},
		{"string negative", obs("o", L, "5196-1", `"valueString":"Non-reactive"`), "hbsag", 0, "", rules.Negative, ""},
		{"interpretation flag", obs("o", L, "3185-6", qty("2.4", "[beth'U]/mL"), `"interpretation":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation","code":"H"}]}]`), "fix_inhibitor", 2.4, "", rules.Positive, ""},
		{"fibrosis stage text", obs("o", local, "fibrosis-stage", `"valueString":"METAVIR F3"`), "fibrosis_stage", 0, "", 0, ""},
		{"ULN from reference range", obs("o", L, "1742-6", qty("31", "U/L"), `"referenceRange":[{"high":{"value":41,"unit":"U/L","system":"http://unitsofmeasure.org","code":"U/L"}}]`), "alt", 31, "", 0, ""},
		// Log units, ratios, interpretation-only and unreadable shapes (issue 7).
		{"HIV RNA log10 copies", obs("o", loinc, "29541-0", `"valueQuantity":{"value":2.5,"unit":"log10 copies/mL"}`), "hiv_rna", 316.23, "", 0, ""},
		{"HIV RNA log under a linear code, unit says log", obs("o", loinc, "20447-9", `"valueQuantity":{"value":3,"unit":"{log_copies}/mL"}`), "hiv_rna", 1000, "", 0, ""},
		{"HIV RNA log code with a linear unit is refused", obs("o", loinc, "29541-0", qty("2.5", "{copies}/mL")), "hiv_rna", 0, "", 0, "is not a log10 unit"},
		{"log comparator kept", obs("o", loinc, "38180-6", `"valueQuantity":{"value":1.18,"comparator":"<","unit":"log IU/mL"}`), "hcv_rna", 15.14, "<", 0, ""},
		{"HBV DNA log10 IU", obs("o", loinc, "48398-2", `"valueQuantity":{"value":1,"unit":"[lg]IU/mL"}`), "hbv_dna", 10, "", 0, ""},
		{"unknown log unit is not understood", obs("o", loinc, "42595-9", `"valueQuantity":{"value":2,"unit":"ln IU/mL"}`), "hbv_dna", 0, "", 0, "not understood"},
		{"log code with an unknown log unit", obs("o", loinc, "45161-7", `"valueQuantity":{"value":2,"unit":"ln copies/mL"}`), "hbv_dna", 0, "", 0, "is not a log10 unit"},
		{"HCV log copies: no IU factor", obs("o", loinc, "47252-2", `"valueQuantity":{"value":2,"unit":"log10 copies/mL"}`), "hcv_rna", 0, "", 0, "not understood"},
		{"ratio 1:50", obs("o", local, "aav5-antibody", `"valueRatio":{"numerator":{"value":1},"denominator":{"value":50}}`), "aav5_antibody", 50, "", 0, ""},
		{"ratio 2:100 is a clean dilution", obs("o", local, "aav5-antibody", `"valueRatio":{"numerator":{"value":2},"denominator":{"value":100}}`), "aav5_antibody", 50, "", 0, ""},
		{"ratio 50:1 is not read the wrong way round", obs("o", local, "aav5-antibody", `"valueRatio":{"numerator":{"value":50},"denominator":{"value":1}}`), "aav5_antibody", 0, "", 0, "not a dilution"},
		{"ratio 3:50 is unreadable", obs("o", local, "aav5-antibody", `"valueRatio":{"numerator":{"value":3},"denominator":{"value":50}}`), "aav5_antibody", 0, "", 0, "not a dilution"},
		{"ratio comparator kept", obs("o", local, "aav5-antibody", `"valueRatio":{"numerator":{"value":1},"denominator":{"value":5,"comparator":"<"}}`), "aav5_antibody", 5, "<", 0, ""},
		{"value against its own interpretation keeps both", obs("o", loinc, "3185-6", qty("0.2", "[beth'U]/mL"), interp("POS")), "fix_inhibitor", 0.2, "", rules.Positive, ""},
		{"interpretation-only negative titer", obs("o", local, "aavrh74var-nab", interp("NEG")), "aavrh74var_nab", 0, "", rules.Negative, ""},
		{"range value unreadable", obs("o", loinc, "777-3", `"valueRange":{"low":{"value":100},"high":{"value":150}}`), "platelets", 0, "", 0, "range"},
		{"not a number string", obs("o", loinc, "5196-1", `"valueString":"see comment"`), "hbsag", 0, "", 0, `result "see comment" not understood`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := mapOne(t, m, tc.res)
			vs := c.Facts[tc.fact]
			if len(vs) != 1 {
				t.Fatalf("fact %s: %d values (facts: %v)", tc.fact, len(vs), c.Facts)
			}
			v := vs[0]
			if tc.problem != "" {
				if !strings.Contains(v.Problem, tc.problem) {
					t.Fatalf("problem %q, want %q", v.Problem, tc.problem)
				}
				return
			}
			if v.Problem != "" {
				t.Fatalf("unexpected problem %q", v.Problem)
			}
			if tc.num != 0 && (v.Num < tc.num*0.999 || v.Num > tc.num*1.001) {
				t.Errorf("value %g, want %g", v.Num, tc.num)
			}
			if v.Comparator != tc.comparator {
				t.Errorf("comparator %q, want %q", v.Comparator, tc.comparator)
			}
			if v.Flag != tc.flag {
				t.Errorf("flag %v, want %v", v.Flag, tc.flag)
			}
			if v.Source != "Observation/o" || v.Date.Format("2006-01-02") != "2026-11-10" {
				t.Errorf("source %q date %v", v.Source, v.Date)
			}
			if tc.fact == "alt" && v.ULN != 41 {
				t.Errorf("ULN %g, want 41", v.ULN)
			}
			if tc.fact == "fibrosis_stage" && v.Code != "F3" {
				t.Errorf("stage %q", v.Code)
			}
		})
	}
}

func TestStatusesAndSubjects(t *testing.T) {
	m, _ := New(testCat())
	const L = "http://loinc.org"
	withStatus := func(st string) string {
		return strings.Replace(obs("o-"+st, L, "777-3", qty("212", "10*3/uL")), `"status":"final"`, `"status":"`+st+`"`, 1)
	}
	c := mapOne(t, m, withStatus("entered-in-error"), withStatus("cancelled"), withStatus("preliminary"), withStatus("amended"),
		strings.Replace(obs("other", L, "777-3", qty("99", "10*3/uL")), "Patient/p1", "Patient/p2", 1),
		obs("unrelated", L, "2345-7", qty("99", "mg/dL")))
	// The preliminary result is unreadable (issue 7): it stops older results.
	if vs := c.Facts["platelets"]; len(vs) != 2 || vs[0].Source != "Observation/o-amended" || vs[1].Source != "Observation/o-preliminary" || vs[1].Readable() {
		t.Errorf("platelets %+v: want the amended result and the unreadable preliminary one", vs)
	}
	cond := func(id, code, clinical, verification string) string {
		return `{"resourceType":"Condition","id":"` + id + `","clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-clinical","code":"` + clinical +
			`"}]},"verificationStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-ver-status","code":"` + verification +
			`"}]},"code":{"coding":[{"system":"http://hl7.org/fhir/sid/icd-10-cm","code":"` + code + `"}]},"subject":{"reference":"Patient/p1"}}`
	}
	c = mapOne(t, m, cond("c1", "D67", "active", "confirmed"), cond("c2", "B18.1", "resolved", "confirmed"),
		cond("c3", "B18.2", "active", "refuted"), cond("c4", "B20", "active", "entered-in-error"), cond("c5", "D68.311", "active", "confirmed"))
	check := func(fact string, want rules.Flag) {
		t.Helper()
		vs := c.Facts[fact]
		if want == 0 {
			if len(vs) != 0 {
				t.Errorf("%s: %+v, want none", fact, vs)
			}
			return
		}
		if len(vs) != 1 || vs[0].Flag != want {
			t.Errorf("%s: %+v, want one %v", fact, vs, want)
		}
	}
	check("hemophilia_b", rules.Positive)
	check("hepatitis_b", rules.Negative)
	check("hepatitis_c", 0)
	check("hiv", 0)
	check("factor_inhibitor_condition", rules.Positive)
}

func TestSexPrecedence(t *testing.T) {
	m, _ := New(testCat())
	cases := []struct{ patient, want string }{
		{`{"resourceType":"Patient","id":"p1","gender":"male"}`, "male"},
		{`{"resourceType":"Patient","id":"p1","gender":"male","extension":[{"url":"http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex","valueCode":"F"}]}`, "female"},
		{`{"resourceType":"Patient","id":"p1","gender":"female","extension":[{"url":"http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex","valueCode":"M"}]}`, "male"},
		{`{"resourceType":"Patient","id":"p1","gender":"female","extension":[{"url":"http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex","valueCode":"UNK"},{"url":"http://hl7.org/fhir/StructureDefinition/patient-sexParameterForClinicalUse","extension":[{"url":"value","valueCodeableConcept":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/sex-parameter-for-clinical-use","code":"male-typical"}]}}]}]}`, "male"},
		{`{"resourceType":"Patient","id":"p1"}`, ""},
	}
	for _, tc := range cases {
		c, err := m.Map(bundle(t, tc.patient))
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		if vs := c.Facts["sex"]; len(vs) > 0 {
			got = vs[0].Code
		}
		if got != tc.want {
			t.Errorf("%s: sex %q, want %q", tc.patient, got, tc.want)
		}
	}
}

func TestAttestations(t *testing.T) {
	m, _ := New(testCat())
	qr := func(id, status string, items string) string {
		return `{"resourceType":"QuestionnaireResponse","id":"` + id + `","status":"` + status + `","subject":{"reference":"Patient/p1"},"author":{"reference":"Practitioner/dr"},"authored":"2026-11-18","item":[` + items + `]}`
	}
	c := mapOne(t, m,
		qr("q1", "completed", `{"linkId":"prior-gene-therapy","answer":[{"valueBoolean":false}]},{"linkId":"group","item":[{"linkId":"factor-exposure-days-150","answer":[{"valueBoolean":true}]}]},{"linkId":"not-ours","answer":[{"valueBoolean":true}]}`),
		qr("q2", "in-progress", `{"linkId":"hiv-uncontrolled","answer":[{"valueBoolean":true}]}`),
		qr("q3", "completed", `{"linkId":"requested-for-convenience","answer":[{"valueCoding":{"system":"http://loinc.org","code":"LA32-8"}}]}`))
	want := map[string]rules.Flag{"prior-gene-therapy": rules.Negative, "factor-exposure-days-150": rules.Positive, "requested-for-convenience": rules.Negative}
	for link, flag := range want {
		vs := c.Facts[rules.AttestationFact(link)]
		if len(vs) != 1 || vs[0].Flag != flag {
			t.Errorf("%s: %+v, want %v", link, vs, flag)
		}
	}
	if vs := c.Facts[rules.AttestationFact("hiv-uncontrolled")]; len(vs) != 0 {
		t.Errorf("in-progress response read: %+v", vs)
	}
}

func TestMedicationsClaimsAndPrescriber(t *testing.T) {
	m, _ := New(testCat())
	const hcpcs = "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
	med := func(typ, id, status, concept string, extra string) string {
		s := `{"resourceType":"` + typ + `","id":"` + id + `","status":"` + status + `","medicationCodeableConcept":` + concept + `,"subject":{"reference":"Patient/p1"}`
		if typ == "MedicationRequest" {
			s += `,"intent":"order"`
		}
		if typ == "MedicationAdministration" {
			s += `,"effectiveDateTime":"2024-08-02"`
		}
		return s + extra + "}"
	}
	c := mapOne(t, m,
		med("MedicationRequest", "order", "draft", `{"coding":[{"system":"`+hcpcs+`","code":"J1411"}]}`, `,"requester":{"reference":"Practitioner/dr"}`),
		`{"resourceType":"Practitioner","id":"dr"}`,
		`{"resourceType":"PractitionerRole","id":"role-other","practitioner":{"reference":"Practitioner/someone-else"},"specialty":[{"coding":[{"system":"http://nucc.org/provider-taxonomy","code":"207Q00000X"}]}]}`,
		`{"resourceType":"PractitionerRole","id":"role-dr","practitioner":{"reference":"Practitioner/dr"},"specialty":[{"coding":[{"system":"http://nucc.org/provider-taxonomy","code":"207RH0000X"}]}]}`,
		med("MedicationStatement", "fix", "active", `{"text":"Alprolix 50 IU/kg weekly"}`, ""),
		med("MedicationStatement", "hiv", "active", `{"text":"Biktarvy (bictegravir/emtricitabine/tenofovir alafenamide)"}`, ""),
		med("MedicationStatement", "hbv", "active", `{"text":"entecavir 0.5 mg daily"}`, ""),
		med("MedicationAdministration", "given", "completed", `{"coding":[{"system":"`+hcpcs+`","code":"J1412"}]}`, ""),
		`{"resourceType":"ExplanationOfBenefit","id":"eob","status":"active","type":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/claim-type","code":"institutional"}]},"use":"claim","patient":{"reference":"Patient/p1"},"created":"2024-05-20","insurer":{"display":"x"},"provider":{"display":"y"},"outcome":"complete","insurance":[{"focal":true,"coverage":{"display":"z"}}],"item":[{"sequence":1,"productOrService":{"coding":[{"system":"`+hcpcs+`","code":"J1414"}]},"servicedDate":"2024-05-14"}]}`,
		`{"resourceType":"Claim","id":"pa","status":"active","type":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/claim-type","code":"institutional"}]},"use":"preauthorization","patient":{"reference":"Patient/p1"},"created":"2026-11-20","provider":{"display":"y"},"priority":{"coding":[{"code":"normal"}]},"insurance":[{"sequence":1,"focal":true,"coverage":{"display":"z"}}],"item":[{"sequence":1,"productOrService":{"coding":[{"system":"`+hcpcs+`","code":"J1411"}]}}]}`,
	)
	sources := func(fact string) []string {
		var out []string
		for _, v := range c.Facts[fact] {
			out = append(out, v.Source)
		}
		return out
	}
	eq := func(fact string, want ...string) {
		t.Helper()
		got := strings.Join(sources(fact), ",")
		if got != strings.Join(want, ",") {
			t.Errorf("%s from %q, want %q", fact, got, strings.Join(want, ","))
		}
	}
	eq("prior_gene_therapy", "MedicationAdministration/given", "ExplanationOfBenefit/eob") // newest first; not the draft order, not the PA claim
	eq("factor_prophylaxis", "MedicationStatement/fix")
	eq("antiviral_therapy", "MedicationStatement/hbv") // an HIV regimen's tenofovir is not hepatitis therapy
	eq("requested_drug", "Claim/pa", "MedicationRequest/order")
	eq("prescriber_specialty", "PractitionerRole/role-dr")
}

func TestCodeMap(t *testing.T) {
	m, err := New(testCat(), WithCodeMap("site.yaml", []byte("observations:\n  - {system: http://lab.example.org, code: FIX1, fact: fix_activity}\n")))
	if err != nil {
		t.Fatal(err)
	}
	c := mapOne(t, m, obs("o", "http://lab.example.org", "FIX1", qty("0.5", "%")))
	if vs := c.Facts["fix_activity"]; len(vs) != 1 || vs[0].Num != 0.5 {
		t.Errorf("site code not mapped: %+v", c.Facts)
	}
	for _, bad := range []string{"observations:\n  - {system: s, code: c, fact: nonsense}\n", "observations:\n  - {code: c, fact: alt}\n", "nope: 1\n"} {
		if _, err := New(testCat(), WithCodeMap("site.yaml", []byte(bad))); err == nil || !strings.Contains(err.Error(), "site.yaml") {
			t.Errorf("%q: error %v, want one naming the file", bad, err)
		}
	}
}

func TestPatientSelection(t *testing.T) {
	m, _ := New(testCat())
	two := bundle(t, patient, `{"resourceType":"Patient","id":"p2"}`)
	if _, err := m.Map(two); err == nil || !strings.Contains(err.Error(), "--patient") {
		t.Errorf("two patients: %v", err)
	}
	if c, err := m.Map(two, ForPatient("p2")); err != nil || c.Patient != "Patient/p2" {
		t.Errorf("ForPatient: %v %v", c, err)
	}
	if _, err := m.Map(bundle(t, obs("o", "http://loinc.org", "777-3", qty("1", "10*3/uL")))); err == nil {
		t.Error("no patient: want an error")
	}
}

func TestTablesUseKnownFacts(t *testing.T) {
	m, err := New(testCat())
	if err != nil {
		t.Fatal(err)
	}
	for _, lc := range m.LabCodes() {
		if m.facts[lc.Fact] == nil {
			t.Errorf("code %s|%s routes to unknown fact %s", lc.System, lc.Code, lc.Fact)
		}
	}
}

func TestBillingCode(t *testing.T) {
	m, _ := New(testCat())
	for drug, want := range map[string]string{"Hemgenix": "J1411", "Roctavian": "J1412", "Beqvez": "J1414", "aspirin": ""} {
		if got := m.BillingCode(drug); got != want {
			t.Errorf("BillingCode(%s) = %q, want %q", drug, got, want)
		}
	}
}

package mapping

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"hemopa/fhir"
	"hemopa/rules"
)

// The tests of this file build small bundles as JSON, decode them with the
// product's decoder (fhir.NewDecoder) and map them, as the CLI does.

const (
	hcpcsSys  = "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
	ndcSys    = "http://hl7.org/fhir/sid/ndc"
	rxSys     = "http://www.nlm.nih.gov/research/umls/rxnorm"
	icdSys    = "http://hl7.org/fhir/sid/icd-10-cm"
	namedPat  = `{"resourceType":"Patient","id":"p1","gender":"male","birthDate":"1990-01-01","name":[{"given":["John","Q"],"family":"Smith"}],"identifier":[{"system":"urn:mrn","value":"MRN-1"}]}`
	otherPat  = `{"resourceType":"Patient","id":"p2","gender":"male","name":[{"given":["Ann"],"family":"Other"}]}`
	clinSys   = "http://terminology.hl7.org/CodeSystem/condition-clinical"
	verSys    = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
	gtFact    = "prior_gene_therapy"
	inhibitor = "factor_inhibitor_condition"
)

// decoded maps resources (JSON) with the product decoder; the patient comes
// first unless the caller gives its own.
func decoded(t *testing.T, m *Mapper, opts []MapOption, resources ...string) *Chart {
	t.Helper()
	var entries []string
	for _, r := range resources {
		var head struct{ ResourceType, ID string }
		if err := json.Unmarshal([]byte(r), &head); err != nil {
			t.Fatalf("%v\n%s", err, r)
		}
		entries = append(entries, `{"fullUrl":"http://ehr/fhir/`+head.ResourceType+"/"+head.ID+`","resource":`+r+`}`)
	}
	d, err := fhir.NewDecoder()
	if err != nil {
		t.Fatal(err)
	}
	b, err := d.DecodeBundle([]byte(`{"resourceType":"Bundle","type":"collection","entry":[` + strings.Join(entries, ",") + `]}`))
	if err != nil {
		t.Fatal(err)
	}
	c, err := m.Map(b, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newMapper(t *testing.T) *Mapper {
	t.Helper()
	m, err := New(testCat())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func condition(id, system, code, text, clinical, verification, extra string) string {
	s := `{"resourceType":"Condition","id":"` + id + `","subject":{"reference":"Patient/p1"},"recordedDate":"2019-03-04"`
	if clinical != "" {
		s += `,"clinicalStatus":{"coding":[{"system":"` + clinSys + `","code":"` + clinical + `"}]}`
	}
	if verification != "" {
		s += `,"verificationStatus":{"coding":[{"system":"` + verSys + `","code":"` + verification + `"}]}`
	}
	cc := `"code":{`
	if code != "" {
		cc += `"coding":[{"system":"` + system + `","code":"` + code + `"}]`
		if text != "" {
			cc += ","
		}
	}
	if text != "" {
		cc += `"text":"` + text + `"`
	}
	return s + "," + cc + "}" + extra + "}"
}

// want describes the values one fact must hold.
type want struct {
	fact    string
	flag    rules.Flag // for a readable value
	problem string     // substring of Problem; "" = readable
	none    bool       // the fact must have no value
}

func checkFact(t *testing.T, c *Chart, w want) {
	t.Helper()
	vs := c.Facts[w.fact]
	if w.none {
		if len(vs) != 0 {
			t.Errorf("%s: %+v, want none", w.fact, vs)
		}
		return
	}
	if len(vs) != 1 {
		t.Fatalf("%s: %d values %+v, want one (all facts %+v)", w.fact, len(vs), vs, c.Facts)
	}
	v := vs[0]
	if w.problem != "" {
		if !strings.Contains(v.Problem, w.problem) {
			t.Errorf("%s: problem %q, want %q", w.fact, v.Problem, w.problem)
		}
		return
	}
	if v.Problem != "" {
		t.Errorf("%s: unexpected problem %q", w.fact, v.Problem)
	}
	if w.flag != rules.NoFlag && v.Flag != w.flag {
		t.Errorf("%s: flag %v, want %v", w.fact, v.Flag, w.flag)
	}
}

func TestConditionHistoriesAndSafetyNet(t *testing.T) {
	m := newMapper(t)
	cases := []struct {
		name  string
		res   string
		wants []want
	}{
		{"active inhibitor", condition("c", icdSys, "D68.311", "", "active", "confirmed", ""), []want{{fact: inhibitor, flag: rules.Positive}}},
		{"resolved inhibitor is recorded", condition("c", icdSys, "D68.311", "", "resolved", "confirmed", ""), []want{{fact: inhibitor, flag: rules.Negative}}},
		{"inactive inhibitor is recorded", condition("c", icdSys, "D68.311", "", "inactive", "", ""), []want{{fact: inhibitor, flag: rules.Negative}}},
		{"inhibitor in remission is recorded", condition("c", icdSys, "D68.311", "", "remission", "", ""), []want{{fact: inhibitor, flag: rules.Negative}}},
		{"no clinical status reads as active", condition("c", icdSys, "D68.318", "", "", "", ""), []want{{fact: inhibitor, flag: rules.Positive}}},
		{"D68.312 is antiphospholipid, not an inhibitor", condition("c", icdSys, "D68.312", "", "active", "", ""),
			[]want{{fact: inhibitor, none: true}, {fact: "other_coagulation_disorder", flag: rules.Positive}}},
		{"bare D68.31 header reads as an inhibitor", condition("c", icdSys, "D68.31", "", "active", "", ""), []want{{fact: inhibitor, flag: rules.Positive}}},
		{"von Willebrand subcode", condition("c", icdSys, "D68.021", "", "active", "", ""), []want{{fact: "other_coagulation_disorder", flag: rules.Positive}}},
		{"advanced fibrosis K74.02", condition("c", icdSys, "K74.02", "", "active", "", ""), []want{{fact: "cirrhosis", flag: rules.Positive}}},
		{"alcoholic cirrhosis K70.31", condition("c", icdSys, "K70.31", "", "active", "", ""), []want{{fact: "cirrhosis", flag: rules.Positive}}},
		{"acute hepatitis C B17.10", condition("c", icdSys, "B17.10", "", "active", "", ""), []want{{fact: "hepatitis_c", flag: rules.Positive}}},
		{"acute hepatitis B B16.9", condition("c", icdSys, "B16.9", "", "active", "", ""), []want{{fact: "hepatitis_b", flag: rules.Positive}}},
		{"asymptomatic HIV Z21", condition("c", icdSys, "Z21", "", "active", "", ""), []want{{fact: "hiv", flag: rules.Positive}}},
		{"provisional disqualifier is unreadable", condition("c", icdSys, "D68.311", "", "active", "provisional", ""), []want{{fact: inhibitor, problem: `verification status "provisional"`}}},
		{"unconfirmed disqualifier is unreadable", condition("c", icdSys, "B18.2", "", "active", "unconfirmed", ""), []want{{fact: "hepatitis_c", problem: "neither confirmed nor refuted"}}},
		{"differential disqualifier is unreadable", condition("c", icdSys, "B20", "", "active", "differential", ""), []want{{fact: "hiv", problem: "confirm or refute"}}},
		{"refuted is ignored", condition("c", icdSys, "D68.311", "", "active", "refuted", ""), []want{{fact: inhibitor, none: true}}},
		{"entered in error is ignored", condition("c", icdSys, "D68.311", "", "active", "entered-in-error", ""), []want{{fact: inhibitor, none: true}}},
		{"unknown code with inhibitor text is unreadable", condition("c", "http://ehr.example/dx", "X-77", "Factor IX inhibitor, high responder", "active", "", ""),
			[]want{{fact: inhibitor, problem: "code the tables do not know"}, {fact: "fix_inhibitor", problem: "do not know"}}},
		{"text only, no code", condition("c", "", "", "Chronic hepatitis C", "active", "", ""), []want{{fact: "hepatitis_c", problem: "has no diagnosis code"}}},
		{"unknown code refuted stays ignored", condition("c", "http://ehr.example/dx", "X-77", "Factor IX inhibitor", "active", "refuted", ""), []want{{fact: inhibitor, none: true}}},
		{"unknown code, unrelated text", condition("c", "http://ehr.example/dx", "X-1", "Essential hypertension", "active", "", ""), []want{{fact: inhibitor, none: true}, {fact: "hiv", none: true}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := decoded(t, m, nil, namedPat, tc.res)
			for _, w := range tc.wants {
				checkFact(t, c, w)
			}
		})
	}
	// The unreadable value names the resource and what the record calls it.
	c := decoded(t, m, nil, namedPat, condition("c", "http://ehr.example/dx", "X-77", "Factor IX inhibitor", "active", "", ""))
	if v := c.Facts[inhibitor][0]; v.Source != "Condition/c" || v.Text != "Factor IX inhibitor" || v.Date.Format("2006-01-02") != "2019-03-04" {
		t.Errorf("unreadable value %+v", v)
	}
}

func eob(id, status, use string, items, diagnoses string) string {
	s := `{"resourceType":"ExplanationOfBenefit","id":"` + id + `","status":"` + status + `","use":"` + use + `",` +
		`"type":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/claim-type","code":"institutional"}]},` +
		`"patient":{"reference":"Patient/p1"},"created":"2024-05-20","insurer":{"display":"x"},"provider":{"display":"y"},"outcome":"complete",` +
		`"insurance":[{"focal":true,"coverage":{"display":"z"}}]`
	if items != "" {
		s += `,"item":[` + items + `]`
	}
	if diagnoses != "" {
		s += `,"diagnosis":[` + diagnoses + `]`
	}
	return s + "}"
}

func eobLine(seq, concept string) string {
	return `{"sequence":` + seq + `,"productOrService":` + concept + `,"servicedDate":"2024-05-14"}`
}

func dxICD(seq, code string) string {
	return `{"sequence":` + seq + `,"diagnosisCodeableConcept":{"coding":[{"system":"` + icdSys + `","code":"` + code + `"}]}}`
}

func TestClaimDiagnoses(t *testing.T) {
	m := newMapper(t)
	c := decoded(t, m, nil, namedPat,
		eob("e1", "active", "claim", eobLine("1", `{"coding":[{"system":"`+hcpcsSys+`","code":"J7195"}]}`),
			dxICD("1", "D67")+","+dxICD("2", "D68.311")+","+dxICD("3", "B18.2")+","+dxICD("4", "K74.60")),
		`{"resourceType":"Claim","id":"pa","status":"active","use":"preauthorization","type":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/claim-type","code":"institutional"}]},`+
			`"patient":{"reference":"Patient/p1"},"created":"2026-11-20","provider":{"display":"y"},"priority":{"coding":[{"code":"normal"}]},`+
			`"insurance":[{"sequence":1,"focal":true,"coverage":{"display":"z"}}],"diagnosis":[`+dxICD("1", "D68.318")+`]}`,
		eob("cancelled", "cancelled", "claim", "", dxICD("1", "B20")))
	day := func(s string) time.Time { d, _ := time.Parse("2006-01-02", s); return d }
	cases := []struct {
		fact, source string
		flag         rules.Flag
		date         time.Time
	}{
		{"hemophilia_b", "ExplanationOfBenefit/e1", rules.Positive, day("2024-05-14")},
		{inhibitor, "Claim/pa", rules.Positive, day("2026-11-20")}, // newest first
		{inhibitor, "ExplanationOfBenefit/e1", rules.Positive, day("2024-05-14")},
		{"hepatitis_c", "ExplanationOfBenefit/e1", rules.Negative, day("2024-05-14")}, // a history: the labs say whether it is active
		{"cirrhosis", "ExplanationOfBenefit/e1", rules.Positive, day("2024-05-14")},
	}
	seen := map[string]int{}
	for _, tc := range cases {
		i := seen[tc.fact]
		seen[tc.fact]++
		vs := c.Facts[tc.fact]
		if i >= len(vs) {
			t.Errorf("%s: %d values, want a value from %s", tc.fact, len(vs), tc.source)
			continue
		}
		v := vs[i]
		if v.Source != tc.source || v.Flag != tc.flag || !v.Date.Equal(tc.date) || v.Problem != "" {
			t.Errorf("%s[%d] = %+v, want %s %v %s", tc.fact, i, v, tc.source, tc.flag, tc.date.Format("2006-01-02"))
		}
	}
	if len(c.Facts[inhibitor]) != 2 {
		t.Errorf("inhibitor values %+v, want two", c.Facts[inhibitor])
	}
	if vs := c.Facts["hiv"]; len(vs) != 0 {
		t.Errorf("a cancelled EOB's diagnosis was read: %+v", vs)
	}
}

func TestClaimCodesCarryTheirRule(t *testing.T) {
	m := newMapper(t)
	for _, r := range m.codes.Conditions {
		if r.Claims != "positive" && r.Claims != "history" {
			t.Errorf("codes.yaml condition %s: claims %q, want positive or history", r.Fact, r.Claims)
		}
	}
}

func med(typ, id, status, medication, extra string) string {
	s := `{"resourceType":"` + typ + `","id":"` + id + `","status":"` + status + `",` + medication + `,"subject":{"reference":"Patient/p1"}`
	switch typ {
	case "MedicationRequest":
		s += `,"intent":"order","authoredOn":"2024-08-01"`
	case "MedicationAdministration", "MedicationStatement":
		s += `,"effectiveDateTime":"2024-08-02"`
	case "MedicationDispense":
		s += `,"whenHandedOver":"2024-08-01"`
	}
	return s + extra + "}"
}

func coded(system, code string) string {
	return `"medicationCodeableConcept":{"coding":[{"system":"` + system + `","code":"` + code + `"}]}`
}

func named(text string) string { return `"medicationCodeableConcept":{"text":"` + text + `"}` }

func procedure(id, status, code, extra string) string {
	return `{"resourceType":"Procedure","id":"` + id + `","status":"` + status + `","subject":{"reference":"Patient/p1"},"performedDateTime":"2024-08-02","code":` + code + extra + `}`
}

func TestPriorGeneTherapyWhereverRecorded(t *testing.T) {
	m := newMapper(t)
	j1411 := coded(hcpcsSys, "J1411")
	cases := []struct {
		name string
		res  string
		want want
		code string // product named by a readable value
	}{
		{"administration completed", med("MedicationAdministration", "x", "completed", j1411, ""), want{fact: gtFact, flag: rules.Positive}, "Hemgenix"},
		{"administration stopped (partial infusion)", med("MedicationAdministration", "x", "stopped", j1411, ""), want{fact: gtFact, flag: rules.Positive}, "Hemgenix"},
		{"administration on-hold", med("MedicationAdministration", "x", "on-hold", coded(hcpcsSys, "J1412"), ""), want{fact: gtFact, flag: rules.Positive}, "Roctavian"},
		{"administration in progress", med("MedicationAdministration", "x", "in-progress", j1411, ""), want{fact: gtFact, flag: rules.Positive}, "Hemgenix"},
		{"administration not done", med("MedicationAdministration", "x", "not-done", j1411, ""), want{fact: gtFact, none: true}, ""},
		{"administration unknown status", med("MedicationAdministration", "x", "unknown", j1411, ""), want{fact: gtFact, problem: `status "unknown"`}, ""},
		{"dispense completed, 11-digit NDC", med("MedicationDispense", "x", "completed", coded(ndcSys, "00053030030"), ""), want{fact: gtFact, flag: rules.Positive}, "Hemgenix"},
		{"dispense in progress, 4-4-2 NDC", med("MedicationDispense", "x", "in-progress", coded(ndcSys, "0053-0140-14"), ""), want{fact: gtFact, flag: rules.Positive}, "Hemgenix"},
		{"dispense stopped", med("MedicationDispense", "x", "stopped", j1411, ""), want{fact: gtFact, problem: "cannot tell whether Hemgenix was given"}, ""},
		{"dispense cancelled", med("MedicationDispense", "x", "cancelled", j1411, ""), want{fact: gtFact, none: true}, ""},
		{"statement stopped", med("MedicationStatement", "x", "stopped", named("Beqvez infusion"), ""), want{fact: gtFact, flag: rules.Positive}, "Beqvez"},
		{"statement on-hold", med("MedicationStatement", "x", "on-hold", named("etranacogene dezaparvovec"), ""), want{fact: gtFact, flag: rules.Positive}, "Hemgenix"},
		{"statement not taken", med("MedicationStatement", "x", "not-taken", j1411, ""), want{fact: gtFact, none: true}, ""},
		{"statement intended", med("MedicationStatement", "x", "intended", j1411, ""), want{fact: gtFact, none: true}, ""},
		{"statement unknown", med("MedicationStatement", "x", "unknown", j1411, ""), want{fact: gtFact, problem: "correct the status"}, ""},
		{"request completed", med("MedicationRequest", "x", "completed", coded(rxSys, "2626772"), ""), want{fact: gtFact, flag: rules.Positive}, "Hemgenix"},
		{"request active is the order", med("MedicationRequest", "x", "active", j1411, ""), want{fact: gtFact, none: true}, ""},
		{"request draft is the order", med("MedicationRequest", "x", "draft", j1411, ""), want{fact: gtFact, none: true}, ""},
		{"contained Medication", med("MedicationAdministration", "x", "completed", `"medicationReference":{"reference":"#m1"}`,
			`,"contained":[{"resourceType":"Medication","id":"m1","code":{"coding":[{"system":"`+rxSys+`","code":"2626772"}]}}]`), want{fact: gtFact, flag: rules.Positive}, "Hemgenix"},
		{"Medication entry in the bundle", med("MedicationAdministration", "x", "completed", `"medicationReference":{"reference":"Medication/m2"}`, ""), want{fact: gtFact, flag: rules.Positive}, "Roctavian"},
		{"investigational gene therapy by INN", med("MedicationStatement", "x", "completed", named("giroctocogene fitelparvovec (AFFINE trial)"), ""), want{fact: gtFact, flag: rules.Positive}, "investigational hemophilia gene therapy"},
		{"hemophilia gene therapy without a product", med("MedicationStatement", "x", "completed", named("Hemophilia B gene therapy (trial)"), ""), want{fact: gtFact, flag: rules.Positive}, "investigational hemophilia gene therapy"},
		{"gene therapy with no product is unreadable", med("MedicationAdministration", "x", "completed", named("AAV gene therapy infusion"), ""), want{fact: gtFact, problem: "matches no known product"}, ""},
		{"unnamed gene therapy not given", med("MedicationAdministration", "x", "not-done", named("AAV gene therapy infusion"), ""), want{fact: gtFact, none: true}, ""},
		{"procedure by text", procedure("x", "completed", `{"coding":[{"system":"http://www.ama-assn.org/go/cpt","code":"96365"}],"text":"Hemgenix infusion"}`, ""), want{fact: gtFact, flag: rules.Positive}, "Hemgenix"},
		{"procedure by usedCode", procedure("x", "stopped", `{"text":"IV infusion"}`, `,"usedCode":[{"coding":[{"system":"`+hcpcsSys+`","code":"J1412"}]}]`), want{fact: gtFact, flag: rules.Positive}, "Roctavian"},
		{"procedure not done", procedure("x", "not-done", `{"text":"Hemgenix infusion"}`, ""), want{fact: gtFact, none: true}, ""},
		{"procedure unknown", procedure("x", "unknown", `{"text":"Hemgenix infusion"}`, ""), want{fact: gtFact, problem: `status "unknown"`}, ""},
		{"procedure gene therapy unnamed", procedure("x", "completed", `{"text":"Gene therapy administration"}`, ""), want{fact: gtFact, problem: "matches no known product"}, ""},
		{"claim line HCPCS", eob("x", "active", "claim", eobLine("1", `{"coding":[{"system":"`+hcpcsSys+`","code":"J1414"}]}`), ""), want{fact: gtFact, flag: rules.Positive}, "Beqvez"},
		{"claim line NDC 11 digits with dashes", eob("x", "active", "claim", eobLine("1", `{"coding":[{"system":"`+ndcSys+`","code":"00053-0300-30"}]}`), ""), want{fact: gtFact, flag: rules.Positive}, "Hemgenix"},
		{"claim line unclassified code with a product name", eob("x", "active", "claim", eobLine("1", `{"coding":[{"system":"`+hcpcsSys+`","code":"J3590"}],"text":"Unclassified biologic - Hemgenix kit"}`), ""), want{fact: gtFact, flag: rules.Positive}, "Hemgenix"},
		{"claim line unclassified code alone", eob("x", "active", "claim", eobLine("1", `{"coding":[{"system":"`+hcpcsSys+`","code":"J3590"}]}`), ""), want{fact: gtFact, none: true}, ""},
		{"claim line unclassified code saying gene therapy", eob("x", "active", "claim", eobLine("1", `{"coding":[{"system":"`+hcpcsSys+`","code":"C9399"}],"text":"gene therapy, unclassified"}`), ""), want{fact: gtFact, problem: "matches no known product"}, ""},
		{"predetermination lines are not given", eob("x", "active", "predetermination", eobLine("1", `{"coding":[{"system":"`+hcpcsSys+`","code":"J1411"}]}`), ""), want{fact: gtFact, none: true}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := decoded(t, m, nil, namedPat, tc.res,
				`{"resourceType":"Medication","id":"m2","code":{"coding":[{"system":"`+hcpcsSys+`","code":"J1412"}]}}`)
			checkFact(t, c, tc.want)
			if tc.code != "" {
				if v := c.Facts[gtFact][0]; v.Code != tc.code || v.Date.IsZero() {
					t.Errorf("value %+v, want product %q and a date", v, tc.code)
				}
			}
		})
	}
	// The current order is the drug decided, not a prior therapy.
	c := decoded(t, m, nil, namedPat, med("MedicationRequest", "order", "active", j1411, ""))
	if vs := c.Facts["requested_drug"]; len(vs) != 1 || vs[0].Code != "Hemgenix" {
		t.Errorf("requested_drug %+v", vs)
	}
}

// Every NDC of every product matches in every spelling a record may use.
func TestEveryNDCFormatMatches(t *testing.T) {
	m := newMapper(t)
	spellings := func(l, p, k string) []string {
		// l, p, k: an 11-digit NDC's 5-4-2 parts.
		out := []string{l + "-" + p + "-" + k, l + p + k}
		switch {
		case l[0] == '0':
			out = append(out, l[1:]+"-"+p+"-"+k, l[1:]+p+k) // 4-4-2
		case p[0] == '0':
			out = append(out, l+"-"+p[1:]+"-"+k, l+p[1:]+k) // 5-3-2
		case k[0] == '0':
			out = append(out, l+"-"+p+"-"+k[1:], l+p+k[1:]) // 5-4-1
		}
		return out
	}
	n := 0
	for _, prod := range m.products {
		for _, pre := range prod.NDCPrefixes {
			norm := ndcProduct(pre)
			switch len(norm) {
			case 11:
			case 9:
				norm += "01" // a package of the product
			default:
				t.Fatalf("%s: NDC %q is not a dashed labeler-product or package code", prod.Name, pre)
			}
			for _, s := range spellings(norm[:5], norm[5:9], norm[9:]) {
				n++
				if got := m.productByNDC(s); got != prod {
					t.Errorf("%s NDC %q spelled %q: matched %v", prod.Name, pre, s, got)
				}
			}
		}
	}
	if n == 0 {
		t.Fatal("no NDC checked")
	}
	// Table 1's kits (rules/kits.yaml) are all Hemgenix.
	for _, row := range testCat().Kits["hemgenix-table1"].Rows {
		if p := m.productByNDC(row.NDC); p == nil || p.Name != "Hemgenix" {
			t.Errorf("kit NDC %s: %v", row.NDC, p)
		}
	}
	for _, bad := range []string{"0053-0301-30", "00053030130", "12345-6789-01", "", "0053-0300", "abc"} {
		if p := m.productByNDC(bad); p != nil {
			t.Errorf("%q matched %s", bad, p.Name)
		}
	}
	// A 10-digit NDC without dashes is read all three ways.
	if got := ndcReadings("6383387601"); len(got) != 3 || got[1] != "63833087601" {
		t.Errorf("readings %v", got)
	}
}

func qr(id, status, author, items string) string {
	s := `{"resourceType":"QuestionnaireResponse","id":"` + id + `","status":"` + status + `","subject":{"reference":"Patient/p1"},"authored":"2026-11-18"`
	if author != "" {
		s += `,"author":` + author
	}
	return s + `,"item":[` + items + `]}`
}

const priorNo = `{"linkId":"prior-gene-therapy","answer":[{"valueBoolean":false}]}`

func TestAttestationAuthors(t *testing.T) {
	m := newMapper(t)
	fact := rules.AttestationFact("prior-gene-therapy")
	order := med("MedicationRequest", "order", "draft", coded(hcpcsSys, "J1411"), `,"requester":{"reference":"PractitionerRole/role-1"}`)
	roles := []string{
		`{"resourceType":"PractitionerRole","id":"role-1","practitioner":{"reference":"Practitioner/dr"},"organization":{"reference":"Organization/htc"}}`,
		`{"resourceType":"PractitionerRole","id":"role-2","practitioner":{"reference":"Practitioner/dr2"},"organization":{"reference":"Organization/htc"}}`,
		`{"resourceType":"PractitionerRole","id":"role-elsewhere","practitioner":{"reference":"Practitioner/dr3"},"organization":{"reference":"Organization/other"}}`,
		`{"resourceType":"Practitioner","id":"dr"}`,
		`{"resourceType":"RelatedPerson","id":"mum","patient":{"reference":"Patient/p1"}}`,
	}
	cases := []struct {
		name, status, author string
		counts               bool
	}{
		{"the prescriber's role", "completed", `{"reference":"PractitionerRole/role-1"}`, true},
		{"a clinician of the requesting organisation", "amended", `{"reference":"PractitionerRole/role-2"}`, true},
		{"a Practitioner in the bundle", "completed", `{"reference":"Practitioner/dr"}`, true},
		{"a Practitioner outside the bundle", "completed", `{"reference":"https://other.example/fhir/Practitioner/x9"}`, true},
		{"a Practitioner by type only", "completed", `{"type":"Practitioner","identifier":{"system":"http://hl7.org/fhir/sid/us-npi","value":"1234567893"}}`, true},
		{"a clinician of another organisation", "completed", `{"reference":"PractitionerRole/role-elsewhere"}`, false},
		{"the patient", "completed", `{"reference":"Patient/p1"}`, false},
		{"a related person", "completed", `{"reference":"RelatedPerson/mum"}`, false},
		{"a device", "completed", `{"reference":"Device/tablet"}`, false},
		{"an organisation", "completed", `{"reference":"Organization/htc"}`, false},
		{"no author", "completed", "", false},
		{"in progress", "in-progress", `{"reference":"Practitioner/dr"}`, false},
		{"stopped", "stopped", `{"reference":"Practitioner/dr"}`, false},
		{"entered in error", "entered-in-error", `{"reference":"Practitioner/dr"}`, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := append([]string{namedPat, order}, roles...)
			c := decoded(t, m, nil, append(res, qr("q", tc.status, tc.author, priorNo))...)
			got := len(c.Facts[fact]) == 1 && c.Facts[fact][0].Flag == rules.Negative
			if got != tc.counts || !tc.counts && len(c.Facts[fact]) != 0 {
				t.Errorf("answers %+v, want counted=%v", c.Facts[fact], tc.counts)
			}
		})
	}
	// One item answered twice, and a second response of the same day: every
	// answer reaches the facts, all of one date, so rules can see they disagree.
	dr := `{"reference":"Practitioner/dr"}`
	c := decoded(t, m, nil, namedPat, `{"resourceType":"Practitioner","id":"dr"}`,
		qr("q1", "completed", dr, priorNo+`,{"linkId":"prior-gene-therapy","answer":[{"valueBoolean":true}]}`),
		qr("q2", "completed", dr, `{"linkId":"prior-gene-therapy","answer":[{"valueBoolean":true},{"valueBoolean":false}]}`))
	vs := c.Facts[fact]
	if len(vs) != 4 {
		t.Fatalf("answers %+v, want 4", vs)
	}
	flags := map[rules.Flag]int{}
	for _, v := range vs {
		flags[v.Flag]++
		if !v.Date.Equal(vs[0].Date) || v.Date.IsZero() {
			t.Errorf("answer dates differ: %+v", vs)
		}
	}
	if flags[rules.Positive] != 2 || flags[rules.Negative] != 2 {
		t.Errorf("flags %v", flags)
	}
}

func TestAttribution(t *testing.T) {
	m := newMapper(t)
	withSubject := func(subject string) string {
		s := condition("c", icdSys, "D68.311", "", "active", "", "")
		return strings.Replace(s, `"subject":{"reference":"Patient/p1"}`, subject, 1)
	}
	cases := []struct {
		name     string
		opts     []MapOption
		extra    []string // other resources (another patient …)
		res      string
		want     want
		excluded string // expected Chart.Excluded line ("" = none)
	}{
		{"reference to the patient", nil, nil, withSubject(`"subject":{"reference":"Patient/p1"}`), want{fact: inhibitor, flag: rules.Positive}, ""},
		{"absolute reference to the patient", nil, nil, withSubject(`"subject":{"reference":"http://ehr/fhir/Patient/p1"}`), want{fact: inhibitor, flag: rules.Positive}, ""},
		{"reference to another patient", nil, nil, withSubject(`"subject":{"reference":"Patient/p2"}`), want{fact: inhibitor, none: true}, "Condition/c: subject is Patient/p2"},
		{"reference to another patient in the bundle", []MapOption{ForPatient("p1")}, []string{otherPat}, withSubject(`"subject":{"reference":"Patient/p2"}`), want{fact: inhibitor, none: true}, "Condition/c: subject is Patient/p2"},
		{"reference to a group", nil, nil, withSubject(`"subject":{"reference":"Group/g1"}`), want{fact: inhibitor, none: true}, "Condition/c: subject is Group/g1"},
		{"the patient's identifier", nil, nil, withSubject(`"subject":{"identifier":{"system":"urn:mrn","value":"MRN-1"}}`), want{fact: inhibitor, flag: rules.Positive}, ""},
		{"another identifier", nil, nil, withSubject(`"subject":{"identifier":{"system":"urn:mrn","value":"MRN-2"}}`), want{fact: inhibitor, none: true}, "Condition/c: subject identifier is not one of this patient's identifiers"},
		{"the patient's name", nil, nil, withSubject(`"subject":{"display":"Smith, John Q"}`), want{fact: inhibitor, flag: rules.Positive}, ""},
		{"another name", nil, nil, withSubject(`"subject":{"display":"Ann Other"}`), want{fact: inhibitor, none: true}, "Condition/c: subject display is not this patient's name"},
		{"reference and a contradicting display", nil, nil, withSubject(`"subject":{"reference":"Patient/p1","display":"Ann Other"}`), want{fact: inhibitor, problem: "cannot be attributed to this patient"}, ""},
		{"reference and an abbreviated display", nil, nil, withSubject(`"subject":{"reference":"Patient/p1","display":"J. Smith (MRN 12)"}`), want{fact: inhibitor, flag: rules.Positive}, ""},
		{"display only, close to the name", nil, nil, withSubject(`"subject":{"display":"J Smith"}`), want{fact: inhibitor, problem: "cannot be attributed to this patient"}, ""},
		{"no subject, one patient", nil, nil, withSubject(`"subject":{}`), want{fact: inhibitor, flag: rules.Positive}, ""},
		{"no subject, two patients, relevant", []MapOption{ForPatient("p1")}, []string{otherPat}, withSubject(`"subject":{}`),
			want{fact: inhibitor, problem: "cannot be attributed to this patient (no subject in a bundle of 2 patients)"}, ""},
		{"no subject at all, two patients, relevant", []MapOption{ForPatient("p1")}, []string{otherPat},
			strings.Replace(med("MedicationDispense", "x", "completed", coded(hcpcsSys, "J1411"), ""), `,"subject":{"reference":"Patient/p1"}`, "", 1),
			want{fact: gtFact, problem: "cannot be attributed to this patient"}, ""},
		{"no subject at all, one patient", nil, nil,
			strings.Replace(med("MedicationDispense", "x", "completed", coded(hcpcsSys, "J1411"), ""), `,"subject":{"reference":"Patient/p1"}`, "", 1),
			want{fact: gtFact, flag: rules.Positive}, ""},
		{"no subject, two patients, irrelevant", []MapOption{ForPatient("p1")}, []string{otherPat},
			strings.Replace(med("MedicationDispense", "x", "completed", named("amoxicillin 500 mg"), ""), `,"subject":{"reference":"Patient/p1"}`, "", 1),
			want{fact: gtFact, none: true}, "MedicationDispense/x: no subject in a bundle of 2 patients"},
		{"claim for another patient", nil, nil,
			strings.Replace(eob("x", "active", "claim", eobLine("1", `{"coding":[{"system":"`+hcpcsSys+`","code":"J1411"}]}`), ""), "Patient/p1", "Patient/p9", 1),
			want{fact: gtFact, none: true}, "ExplanationOfBenefit/x: subject is Patient/p9"},
		{"administration for another patient", nil, nil,
			strings.Replace(med("MedicationAdministration", "x", "completed", coded(hcpcsSys, "J1411"), ""), "Patient/p1", "Patient/p9", 1),
			want{fact: gtFact, none: true}, "MedicationAdministration/x: subject is Patient/p9"},
		{"coverage for someone else", nil, nil,
			`{"resourceType":"Coverage","id":"cov","status":"active","beneficiary":{"reference":"Patient/p9"},"payor":[{"display":"x"}]}`,
			want{fact: inhibitor, none: true}, "Coverage/cov: subject is Patient/p9"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := append([]string{namedPat}, tc.extra...)
			c := decoded(t, m, tc.opts, append(res, tc.res)...)
			checkFact(t, c, tc.want)
			got := strings.Join(c.Excluded, "\n")
			if got != tc.excluded {
				t.Errorf("excluded %q, want %q", got, tc.excluded)
			}
		})
	}
}

func TestBirthDatePrecisionAndDeceased(t *testing.T) {
	m := newMapper(t)
	cases := []struct {
		patient, date, until string
		deceased             bool
		deceasedOn           string
	}{
		{`{"resourceType":"Patient","id":"p1","birthDate":"1990"}`, "1990-01-01", "1990-12-31", false, ""},
		{`{"resourceType":"Patient","id":"p1","birthDate":"1992-02"}`, "1992-02-01", "1992-02-29", false, ""},
		{`{"resourceType":"Patient","id":"p1","birthDate":"1990-05-17"}`, "1990-05-17", "", false, ""},
		{`{"resourceType":"Patient","id":"p1","birthDate":"1990-05-17","deceasedBoolean":true}`, "1990-05-17", "", true, ""},
		{`{"resourceType":"Patient","id":"p1","birthDate":"1990-05-17","deceasedDateTime":"2026-01-02"}`, "1990-05-17", "", true, "2026-01-02"},
		{`{"resourceType":"Patient","id":"p1","birthDate":"1990-05-17","deceasedBoolean":false}`, "1990-05-17", "", false, ""},
	}
	fmtDay := func(d time.Time) string {
		if d.IsZero() {
			return ""
		}
		return d.Format("2006-01-02")
	}
	for _, tc := range cases {
		c := decoded(t, m, nil, tc.patient)
		bd := c.Facts["birth_date"]
		if len(bd) != 1 || fmtDay(bd[0].Date) != tc.date || fmtDay(bd[0].Until) != tc.until {
			t.Errorf("%s: birth_date %+v, want %s..%s", tc.patient, bd, tc.date, tc.until)
		}
		d := c.Facts["deceased"]
		if !tc.deceased {
			if len(d) != 0 {
				t.Errorf("%s: deceased %+v", tc.patient, d)
			}
			continue
		}
		if len(d) != 1 || d[0].Flag != rules.Positive || d[0].Source != "Patient/p1" || fmtDay(d[0].Date) != tc.deceasedOn {
			t.Errorf("%s: deceased %+v", tc.patient, d)
		}
	}
}

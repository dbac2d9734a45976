package mapping

import (
	"strings"
	"testing"

	"hemopa/rules"
)

const loinc = "http://loinc.org"

func interp(code string) string {
	return `"interpretation":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation","code":"` + code + `"}]}]`
}

func withStatus(res, st string) string {
	return strings.Replace(res, `"status":"final"`, `"status":"`+st+`"`, 1)
}

// TestObservationAccounting: every Observation is mapped, irrelevant, or
// unreadable for each fact it could affect.
func TestObservationAccounting(t *testing.T) {
	m, err := New(testCat())
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		fact    string
		problem string // "" readable; "-" no value recorded
	}
	cases := []struct {
		name string
		res  string
		want []want
		none []string // facts that must have no value
	}{
		{"recognised and readable", obs("o", loinc, "777-3", qty("212", "10*3/uL")), []want{{"platelets", ""}}, nil},
		{"unknown code with safety-net words", `{"resourceType":"Observation","id":"o","status":"final","code":{"coding":[{"system":"http://x.org","code":"123","display":"Platelet count (manual)"}]},"subject":{"reference":"Patient/p1"},"effectiveDateTime":"2026-11-10","valueQuantity":{"value":90,"unit":"K/uL"}}`,
			[]want{{"platelets", "code not recognised (http://x.org|123) — map it (--codemap)"}}, nil},
		{"unknown code, no words: irrelevant", obs("o", loinc, "8867-4", qty("70", "/min")), nil, []string{"platelets", "weight"}},
		{"look-alike words are not relevant", `{"resourceType":"Observation","id":"o","status":"final","code":{"text":"Fibrinogen [Mass/volume] in Platelet poor plasma"},"subject":{"reference":"Patient/p1"},"valueQuantity":{"value":3,"unit":"g/L"}}`,
			nil, []string{"platelets"}},
		{"C1 esterase inhibitor is not a factor inhibitor", `{"resourceType":"Observation","id":"o","status":"final","code":{"text":"C1 esterase inhibitor [Mass/volume]"},"subject":{"reference":"Patient/p1"},"valueQuantity":{"value":30,"unit":"mg/dL"}}`,
			nil, []string{"fix_inhibitor", "fviii_inhibitor"}},
		{"irrelevant list: eGFR", `{"resourceType":"Observation","id":"o","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"98979-8","display":"Glomerular filtration rate/1.73 sq M.predicted by Creatinine-based formula (CKD-EPI 2021)"}]},"subject":{"reference":"Patient/p1"},"valueQuantity":{"value":95,"unit":"mL/min/{1.73_m2}"}}`,
			nil, []string{"creatinine", "creatinine_clearance"}},
		{"irrelevant list: FIX antigen", obs("o", loinc, "3189-8", qty("80", "%"), `"code":{"text":"Factor IX antigen"}`), nil, []string{"fix_activity"}},
		{"Bethesda units make an unknown code relevant", obs("o", "http://lab.example", "INH", qty("1.4", "BU")), []want{{"fix_inhibitor", "code not recognised"}, {"fviii_inhibitor", "code not recognised"}}, nil},
		{"kPa makes an unknown code relevant", obs("o", "http://lab.example", "LSM", qty("11", "kPa")), []want{{"liver_stiffness", "code not recognised"}}, nil},
		{"recognised code, unit not understood", obs("o", local(), "liver-stiffness-kpa", qty("11", "KPA")), []want{{"liver_stiffness", `unit "KPA" not understood — correct or map it (--codemap)`}}, nil},
		{"recognised code, no value", obs("o", loinc, "777-3", `"note":[{"text":"see report"}]`), []want{{"platelets", "has no value"}}, nil},
		{"dataAbsentReason: no result", obs("o", loinc, "777-3", `"dataAbsentReason":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/data-absent-reason","code":"not-performed"}]}`), nil, []string{"platelets"}},
		{"preliminary is unreadable", withStatus(obs("o", loinc, "777-3", qty("212", "10*3/uL")), "preliminary"), []want{{"platelets", `status "preliminary": a final result is needed`}}, nil},
		{"registered is unreadable", withStatus(obs("o", loinc, "3185-6", qty("0.2", "BU")), "registered"), []want{{"fix_inhibitor", `status "registered"`}}, nil},
		{"unknown status is unreadable", withStatus(obs("o", loinc, "3185-6", qty("0.2", "BU")), "unknown"), []want{{"fix_inhibitor", `status "unknown"`}}, nil},
		{"corrected is read", withStatus(obs("o", loinc, "777-3", qty("212", "10*3/uL")), "corrected"), []want{{"platelets", ""}}, nil},
		{"entered-in-error ignored", withStatus(obs("o", loinc, "777-3", qty("212", "10*3/uL")), "entered-in-error"), nil, []string{"platelets"}},
		{"cancelled ignored", withStatus(obs("o", loinc, "777-3", qty("212", "10*3/uL")), "cancelled"), nil, []string{"platelets"}},
		{"preliminary irrelevant test ignored", withStatus(obs("o", loinc, "8867-4", qty("70", "/min")), "preliminary"), nil, []string{"platelets"}},
		{"interpretation-only positive gives a flag", obs("o", loinc, "3185-6", interp("POS")), []want{{"fix_inhibitor", ""}}, nil},
		{"interpretation-only on a count is unreadable", obs("o", loinc, "777-3", interp("L")), []want{{"platelets", "has no value"}}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := mapOne(t, m, tc.res)
			for _, w := range tc.want {
				vs := c.Facts[w.fact]
				if len(vs) != 1 {
					t.Fatalf("%s: %d values %+v, want 1", w.fact, len(vs), vs)
				}
				v := vs[0]
				if w.problem == "" && !v.Readable() {
					t.Errorf("%s: unexpected problem %q", w.fact, v.Problem)
				}
				if w.problem != "" && !strings.Contains(v.Problem, w.problem) {
					t.Errorf("%s: problem %q, want %q", w.fact, v.Problem, w.problem)
				}
				if !v.Readable() && (v.Text == "" || v.Source != "Observation/o") {
					t.Errorf("%s: unreadable value must name its source and text: %+v", w.fact, v)
				}
			}
			for _, f := range tc.none {
				if vs := c.Facts[f]; len(vs) != 0 {
					t.Errorf("%s: %+v, want none", f, vs)
				}
			}
		})
	}
}

func local() string { return "http://hemopa.org/fhir/CodeSystem/lab-local" }

// TestValueAgainstInterpretationIsAmbiguous: the engine reads a value that
// disagrees with its own interpretation as unknown, not as the number.
func TestValueAgainstInterpretationIsAmbiguous(t *testing.T) {
	m, _ := New(testCat())
	c := mapOne(t, m, obs("o", loinc, "3185-6", qty("0.2", "[beth'U]/mL"), interp("POS")))
	v := c.Facts["fix_inhibitor"][0]
	if !v.HasNum || v.Flag != rules.Positive {
		t.Fatalf("value %+v must carry both the number and the lab's reading", v)
	}
}

// TestComponentsPanelsContained: other representations of a result.
func TestComponentsPanelsContained(t *testing.T) {
	m, _ := New(testCat())
	comp := `{"resourceType":"Observation","id":"panel","status":"final","code":{"text":"Inhibitor panel"},"subject":{"reference":"Patient/p1"},"effectiveDateTime":"2026-11-12",` +
		`"component":[{"code":{"coding":[{"system":"http://loinc.org","code":"3185-6"}]},"valueQuantity":{"value":1.1,"unit":"BU/mL"}},` +
		`{"code":{"coding":[{"system":"http://loinc.org","code":"3187-2"}]},"valueQuantity":{"value":2,"unit":"%"}}]}`
	c := mapOne(t, m, comp)
	if vs := c.Facts["fix_inhibitor"]; len(vs) != 1 || vs[0].Num != 1.1 || vs[0].Source != "Observation/panel" {
		t.Errorf("component inhibitor: %+v", vs)
	}
	if vs := c.Facts["fix_activity"]; len(vs) != 1 || vs[0].Num != 2 {
		t.Errorf("component activity: %+v", vs)
	}

	// A relevant panel whose member is not in the record.
	panel := `{"resourceType":"Observation","id":"p","status":"final","code":{"text":"Factor IX inhibitor panel"},"subject":{"reference":"Patient/p1"},"effectiveDateTime":"2026-11-12","hasMember":[{"reference":"Observation/missing"}]}`
	c = mapOne(t, m, panel)
	if vs := c.Facts["fix_inhibitor"]; len(vs) != 1 || !strings.Contains(vs[0].Problem, "member Observation/missing is not in the record") {
		t.Errorf("missing member: %+v", vs)
	}
	// Present members are read on their own; the panel adds nothing.
	c = mapOne(t, m, strings.Replace(panel, "Observation/missing", "Observation/m1", 1), obs("m1", loinc, "3185-6", qty("0.2", "BU")))
	if vs := c.Facts["fix_inhibitor"]; len(vs) != 1 || !vs[0].Readable() {
		t.Errorf("present member: %+v", vs)
	}

	// Contained Observations are read; their source names the container.
	contained := `{"resourceType":"DiagnosticReport","id":"r","status":"final","code":{"text":"Coagulation report"},"subject":{"reference":"Patient/p1"},"effectiveDateTime":"2026-11-12",` +
		`"contained":[` + strings.Replace(obs("c1", loinc, "3185-6", qty("0.9", "BU")), `"subject":{"reference":"Patient/p1"},`, "", 1) + `],"result":[{"reference":"#c1"}]}`
	c = mapOne(t, m, contained)
	if vs := c.Facts["fix_inhibitor"]; len(vs) != 1 || vs[0].Num != 0.9 || vs[0].Source != "DiagnosticReport/r#c1" {
		t.Errorf("contained: %+v", vs)
	}
}

// TestNestedBundle: a Bundle inside an entry is read like the outer one.
func TestNestedBundle(t *testing.T) {
	m, _ := New(testCat())
	inner := `{"resourceType":"Bundle","type":"collection","entry":[{"fullUrl":"http://ehr/fhir/Observation/n1","resource":` + obs("n1", loinc, "777-3", qty("99", "10*3/uL")) + `},` +
		`{"fullUrl":"http://ehr/fhir/Patient/p1","resource":` + patient + `}]}`
	c := mapOne(t, m, strings.Replace(inner, `"type":"collection"`, `"id":"nested","type":"collection"`, 1))
	if vs := c.Facts["platelets"]; len(vs) != 1 || vs[0].Num != 99 {
		t.Errorf("nested bundle entry: %+v", c.Facts)
	}
}

// TestReportsAndDocuments: DiagnosticReport and DocumentReference through the safety net.
func TestReportsAndDocuments(t *testing.T) {
	m, _ := New(testCat())
	report := func(st, extra string) string {
		return `{"resourceType":"DiagnosticReport","id":"r","status":"` + st + `","code":{"text":"FibroScan report"},"subject":{"reference":"Patient/p1"},"effectiveDateTime":"2026-11-12"` + extra + `}`
	}
	cases := []struct {
		name, res, fact, problem string
		extra                    []string
	}{
		{"relevant report with no results", report("final", `,"conclusion":"Liver stiffness 12.1 kPa"`), "liver_stiffness", "has no result hemopa can read", nil},
		{"result not in the record", report("final", `,"result":[{"reference":"Observation/gone"}]`), "liver_stiffness", "result Observation/gone is not in the record", nil},
		{"preliminary report", report("preliminary", ""), "liver_stiffness", `status "preliminary"`, nil},
		{"conclusion words", `{"resourceType":"DiagnosticReport","id":"r","status":"final","code":{"text":"Coagulation studies"},"subject":{"reference":"Patient/p1"},"conclusion":"Bethesda assay positive"}`, "fix_inhibitor", "has no result", nil},
		{"document", `{"resourceType":"DocumentReference","id":"d","status":"current","type":{"text":"Outside lab report"},"description":"HIV-1 RNA viral load","subject":{"reference":"Patient/p1"},"date":"2026-11-01T00:00:00Z","content":[{"attachment":{"contentType":"application/pdf","title":"scan.pdf"}}]}`, "hiv_rna", "is a document hemopa cannot read", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := mapOne(t, m, append([]string{tc.res}, tc.extra...)...)
			vs := c.Facts[tc.fact]
			if len(vs) != 1 || !strings.Contains(vs[0].Problem, tc.problem) || vs[0].Text == "" {
				t.Errorf("%s: %+v, want one unreadable value with %q", tc.fact, vs, tc.problem)
			}
		})
	}
	// A report whose result was read adds nothing; irrelevant, superseded
	// and entered-in-error ones are ignored.
	c := mapOne(t, m, report("final", `,"result":[{"reference":"Observation/ls"}]`), obs("ls", local(), "liver-stiffness-kpa", qty("5.1", "kPa")))
	if vs := c.Facts["liver_stiffness"]; len(vs) != 1 || !vs[0].Readable() {
		t.Errorf("report with a read result: %+v", vs)
	}
	for _, res := range []string{
		report("entered-in-error", ""),
		`{"resourceType":"DiagnosticReport","id":"r","status":"final","code":{"text":"Lipid panel"},"subject":{"reference":"Patient/p1"}}`,
		`{"resourceType":"DocumentReference","id":"d","status":"superseded","description":"FibroScan","subject":{"reference":"Patient/p1"},"content":[{"attachment":{"title":"x"}}]}`,
	} {
		if c := mapOne(t, m, res); c.Unreadable != 0 {
			t.Errorf("%s: %+v, want ignored", res, c.Facts)
		}
	}
}

// TestReferenceRanges: the ULN is the high of the ranges that apply to the
// patient (male, born 1990); ranges that disagree make it unknown.
func TestReferenceRanges(t *testing.T) {
	m, _ := New(testCat())
	rr := func(ranges string) string {
		return obs("o", loinc, "1742-6", qty("30", "U/L"), `"referenceRange":[`+ranges+`]`)
	}
	sex := func(code string) string {
		return `"appliesTo":[{"coding":[{"system":"http://snomed.info/sct","code":"` + code + `"}]}]`
	}
	cases := []struct {
		name, res string
		uln       float64
	}{
		{"one range", rr(`{"high":{"value":41,"unit":"U/L"}}`), 41},
		{"male range chosen", rr(`{"high":{"value":33,"unit":"U/L"},` + sex("248152002") + `},{"high":{"value":45,"unit":"U/L"},` + sex("248153007") + `}`), 45},
		{"v3 gender codes", rr(`{"high":{"value":33},"appliesTo":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-AdministrativeGender","code":"F"}]}]},{"high":{"value":44}}`), 44},
		{"age range chosen", rr(`{"high":{"value":60},"age":{"low":{"value":0,"unit":"a"},"high":{"value":17,"unit":"a"}}},{"high":{"value":40},"age":{"low":{"value":18,"unit":"a"}}}`), 40},
		{"therapeutic range skipped", rr(`{"high":{"value":41},"type":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/referencerange-meaning","code":"normal"}]}},{"high":{"value":80},"type":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/referencerange-meaning","code":"therapeutic"}]}}`), 41},
		{"disagreeing ranges: unknown", rr(`{"high":{"value":41}},{"high":{"value":55}}`), 0},
		{"range in another unit converted", rr(`{"high":{"value":0.5,"unit":"ukat/L"}}`), 30},
		{"range in an unknown unit: unknown", rr(`{"high":{"value":41,"unit":"mg"}}`), 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := mapOne(t, m, tc.res)
			if vs := c.Facts["alt"]; len(vs) != 1 || vs[0].ULN != tc.uln {
				t.Errorf("ULN %+v, want %g", vs, tc.uln)
			}
		})
	}
}

// TestNumberAgainstOwnFlag: a count whose own low/high/normal flag
// contradicts it (judged by its reference range, else the usual interval) is
// not a result to decide on; one that agrees is read as usual.
func TestNumberAgainstOwnFlag(t *testing.T) {
	m, _ := New(testCat())
	plt := func(value, flag, ranges string) string {
		extra := []string{interp(flag)}
		if ranges != "" {
			extra = append(extra, `"referenceRange":[`+ranges+`]`)
		}
		return obs("o", loinc, "777-3", qty(value, "10*3/uL"), extra...)
	}
	cases := []struct {
		name, res  string
		unreadable bool
	}{
		{"critical low at 212, no range (usual 150–450)", plt("212", "LL", ""), true},
		{"low at 120, no range", plt("120", "L", ""), false},
		{"low at 160 against its range 150–400", plt("160", "L", `{"low":{"value":150},"high":{"value":400}}`), true},
		{"low at 140 against its range 150–400", plt("140", "L", `{"low":{"value":150},"high":{"value":400}}`), false},
		{"high at 300 against its range 150–400", plt("300", "H", `{"low":{"value":150},"high":{"value":400}}`), true},
		{"normal at 40 against its range 150–400", plt("40", "N", `{"low":{"value":150},"high":{"value":400}}`), true},
		{"normal at 212 against its range", plt("212", "N", `{"low":{"value":150},"high":{"value":400}}`), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			vs := mapOne(t, m, tc.res).Facts["platelets"]
			if len(vs) != 1 {
				t.Fatalf("values %+v", vs)
			}
			if got := !vs[0].Readable(); got != tc.unreadable || got && !strings.Contains(vs[0].Problem, "disagrees with its own interpretation") {
				t.Errorf("problem %q, want unreadable=%v", vs[0].Problem, tc.unreadable)
			}
		})
	}
}

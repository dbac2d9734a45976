package pipeline

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"hemopa/cmd/hemopa/internal/testenv"
)

func casePipeline(t *testing.T) *Pipeline {
	t.Helper()
	p, err := New(WithCatalog(testenv.Catalog(t)))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestPolicyCases runs every case beside the built-in policies
// (rules/policies/testdata/<policy>/<case>.yaml, read from the checkout:
// rules.Builtin() does not embed them).
func TestPolicyCases(t *testing.T) {
	dir := filepath.Join(testenv.RepoRoot(t), "rules")
	results, err := RunCases(casePipeline(t), os.DirFS(dir), CasesOnDisk(dir))
	if err != nil {
		t.Error(err) // the cases that could be read still run
	}
	perPolicy := map[string]int{}
	for _, r := range results {
		perPolicy[r.Policy]++
		t.Run(r.Policy+"/"+r.Name, func(t *testing.T) {
			switch r.Status {
			case CasePass:
			case CaseKnownIssue:
				t.Skipf("known issue: %s\n%s", r.KnownIssue, strings.Join(r.Mismatches, "\n"))
			default:
				t.Errorf("%s: %s\n%s", r.File, r.Description, strings.Join(r.Mismatches, "\n"))
			}
		})
	}
	for _, p := range testenv.Catalog(t).Policies {
		if perPolicy[p.ID] == 0 {
			t.Errorf("policy %s has no cases under rules/policies/testdata/%s", p.ID, p.ID)
		}
	}
}

// platelets38 is a small UCare case: platelets below the floor of 1.K.
const platelets38 = `description: platelets below 50 (000 § 1.K)
as_of: 2026-11-24
facts:
  sex: [{code: male}]
  platelets: [{num: 38, date: 2026-11-10}]
`

// TestRunCasesCanFail checks that a wrong expectation fails, with expected
// and got for what differs, and that known issues are told apart.
func TestRunCasesCanFail(t *testing.T) {
	cases := []struct {
		name   string
		expect string
		want   CaseStatus
		says   []string // substrings of the mismatches
	}{
		{"right", "expect: {decision: deny, criteria: {1.K: not-met, 1.A: met}}\n", CasePass, nil},
		{"wrong decision", "expect: {decision: approve}\n", CaseFail, []string{"decision: want approve, got deny", "1.K not-met: Platelet count 38"}},
		{"wrong criterion", "expect: {decision: deny, criteria: {1.K: met}}\n", CaseFail, []string{"1.K: want met, got not-met (Platelet count 38 × 10⁹/L on 2026-11-10 is not ≥ 50 × 10⁹/L)"}},
		{"missing not asked for", "expect: {decision: deny, missing: [Platelet count]}\n", CaseFail, []string{`missing: want an item containing "Platelet count"`}},
		{"nothing missing", "expect: {decision: deny, missing: []}\n", CaseFail, []string{"missing: want none"}},
		{"no kit", "expect: {decision: deny, kit: {vials: 15}}\n", CaseFail, []string{"kit: want 15 vials, got none"}},
		{"known issue", "expect: {decision: approve}\nknown_issue: the engine denies\n", CaseKnownIssue, []string{"decision: want approve, got deny"}},
		{"known issue that passes", "expect: {decision: deny}\nknown_issue: stale mark\n", CaseFail, []string{"marked known_issue but passes"}},
	}
	p := casePipeline(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fsys := fstest.MapFS{"testdata/ucare-hemgenix/c.yaml": {Data: []byte(platelets38 + c.expect)}}
			res, err := RunCases(p, fsys)
			if err != nil {
				t.Fatal(err)
			}
			if len(res) != 1 || res[0].Status != c.want {
				t.Fatalf("got %+v, want one result %s", res, c.want)
			}
			got := strings.Join(res[0].Mismatches, "\n")
			for _, s := range c.says {
				if !strings.Contains(got, s) {
					t.Errorf("mismatches lack %q:\n%s", s, got)
				}
			}
		})
	}
}

// TestRunCasesMalformed checks that a case that cannot be read is an error
// naming the file and line.
func TestRunCasesMalformed(t *testing.T) {
	const file = "testdata/ucare-hemgenix/c.yaml"
	cases := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"no cases", map[string]string{"ucare.yaml": "x"}, "no test cases"},
		{"unknown policy", map[string]string{"testdata/acme/c.yaml": platelets38 + "expect: {decision: deny}\n"}, `testdata/acme/c.yaml:1: cases for policy "acme", which the catalog lacks`},
		{"unknown key", map[string]string{file: platelets38 + "colour: red\nexpect: {decision: deny}\n"}, file + ":6: field colour is not a case key"},
		{"unknown expect key", map[string]string{file: platelets38 + "expect: {decision: deny, reasons: []}\n"}, file + ":6: field reasons is not an expect key"},
		{"syntax", map[string]string{file: platelets38 + "expect: {decision: deny\n"}, file + ":5: did not find expected"},
		{"unknown fact", map[string]string{file: platelets38 + "  platelet_count: [{num: 1}]\nexpect: {decision: deny}\n"}, file + `:6: unknown fact "platelet_count"`},
		{"age", map[string]string{file: platelets38 + "  age: [{num: 40}]\nexpect: {decision: deny}\n"}, file + ":6: age is derived from birth_date"},
		{"unknown value key", map[string]string{file: platelets38 + "  alt: [{num: 1, colour: red}]\nexpect: {decision: deny}\n"}, file + `:6: alt[0]: unknown value key "colour"`},
		{"bad flag", map[string]string{file: platelets38 + "  hbsag: [{flag: yes}]\nexpect: {decision: deny}\n"}, file + `:6: hbsag[0]: flag "yes": want positive or negative`},
		{"bad unit", map[string]string{file: platelets38 + "  alt: [{num: 1, unit: mg/dL}]\nexpect: {decision: deny}\n"}, file + `:6: alt[0]: unit "mg/dL": alt values are in "U/L"`},
		{"bad date", map[string]string{file: platelets38 + "  alt: [{num: 1, date: 10/11/2026}]\nexpect: {decision: deny}\n"}, file + `:6: alt[0]: date "10/11/2026" is not a date`},
		{"bad number", map[string]string{file: platelets38 + "  alt: [{num: \"<<1\"}]\nexpect: {decision: deny}\n"}, file + `:6: alt[0]: num "<<1": comparator must be`},
		{"bad decision", map[string]string{file: platelets38 + "expect: {decision: denied}\n"}, file + `:6: expect.decision "denied"`},
		{"unknown criterion", map[string]string{file: platelets38 + "expect:\n  decision: deny\n  criteria: {1.Z: met}\n"}, file + `:8: policy ucare-hemgenix has no criterion "1.Z"`},
		{"empty kit", map[string]string{file: platelets38 + "expect: {decision: deny, kit: {}}\n"}, file + ":1: expect.kit: give vials, ndc or both"},
		{"unknown kit key", map[string]string{file: platelets38 + "expect: {decision: deny, kit: {size: 3}}\n"}, file + ":6: field size is not a kit key"},
		{"bad result", map[string]string{file: platelets38 + "expect:\n  decision: deny\n  criteria: {1.K: failed}\n"}, file + `:8: criterion 1.K: want met, not-met or unknown`},
		{"facts and bundle", map[string]string{file: platelets38 + "bundle: b.json\nexpect: {decision: deny}\n"}, file + ":6: a case has either facts"},
		{"bundle leaves the directory", map[string]string{file: "description: d\nas_of: 2026-11-24\nbundle: ../../../b.json\nexpect: {decision: deny}\n"}, file + ":3: bundle ../../../b.json leaves the policy directory"},
		{"bad as_of", map[string]string{file: strings.Replace(platelets38, "2026-11-24", "24/11/2026", 1) + "expect: {decision: deny}\n"}, file + `:2: as_of "24/11/2026" is not a date`},
		{"base of another kind", map[string]string{
			file:                             "description: d\nas_of: 2026-11-24\nbase: d.yaml\nexpect: {decision: deny}\n",
			"testdata/ucare-hemgenix/d.yaml": "description: d\nas_of: 2026-11-24\nbundle: b.json\nexpect: {decision: deny}\n",
			"testdata/ucare-hemgenix/b.json": `{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Patient","id":"p"}}]}`,
		}, file + ":3: base d.yaml is a bundle case"},
		{"no description", map[string]string{file: "as_of: 2026-11-24\nfacts: {}\nexpect: {decision: deny}\n"}, file + ":1: description is required"},
		{"no patient", map[string]string{file: "description: d\nas_of: 2026-11-24\nexpect: {decision: deny}\n"}, file + ":1: a case needs facts: or bundle:"},
		{"base cycle", map[string]string{
			file:                             "description: d\nas_of: 2026-11-24\nbase: d.yaml\nexpect: {decision: deny}\n",
			"testdata/ucare-hemgenix/d.yaml": "description: d\nas_of: 2026-11-24\nbase: c.yaml\nexpect: {decision: deny}\n",
		}, "base cycle"},
	}
	p := casePipeline(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for n, s := range c.files {
				fsys[n] = &fstest.MapFile{Data: []byte(s)}
			}
			_, err := RunCases(p, fsys)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
}

// TestRunCasesBase checks that a case inherits its base's facts, replacing
// the facts it lists and dropping those it empties.
func TestRunCasesBase(t *testing.T) {
	fsys := fstest.MapFS{
		"testdata/ucare-hemgenix/a.yaml": {Data: []byte(platelets38 + "expect: {decision: deny, criteria: {1.K: not-met}}\n")},
		"testdata/ucare-hemgenix/b.yaml": {Data: []byte("description: platelets back to 212\nas_of: 2026-11-24\nbase: a.yaml\nfacts:\n  platelets: [{num: 212, date: 2026-11-10}]\n  sex: []\nexpect: {decision: pend, criteria: {1.K: met, 1.A: unknown}}\n")},
	}
	res, err := RunCases(casePipeline(t), fsys)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Status != CasePass {
			t.Errorf("%s: %s\n%s", r.Name, r.Status, strings.Join(r.Mismatches, "\n"))
		}
	}
}

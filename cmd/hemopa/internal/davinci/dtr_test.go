package davinci_test

import (
	"encoding/json"
	"hemopa/cmd/hemopa/internal/testenv"
	"os"
	"slices"
	"testing"
	"time"

	"hemopa/cmd/hemopa/internal/davinci"
	"hemopa/cmd/hemopa/internal/pipeline"
	"hemopa/rules"
)

func decideSample(t *testing.T, patient, policy string) (*rules.Policy, *rules.Determination, rules.Facts) {
	t.Helper()
	p, err := pipeline.New()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile("../../../../testdata/patients/" + patient + ".json")
	if err != nil {
		t.Fatal(err)
	}
	pol := testenv.Policy(t, policy)
	dets, chart, err := p.DecideJSON(data, []*rules.Policy{pol}, time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC), "")
	if err != nil {
		t.Fatal(err)
	}
	return pol, dets[0], chart.Facts
}

func TestPrefill(t *testing.T) {
	for _, tc := range []struct {
		patient  string
		answered map[string]davinci.Answer
		missing  []string
	}{
		{"b-pend-stale", map[string]davinci.Answer{"advanced-liver-disease": {Value: false, How: "ruled-out"}},
			[]string{"prior-gene-therapy", "factor-exposure-days-150", "life-threatening-hemorrhage", "on-demand-factor-for-hemorrhage",
				"repeated-spontaneous-bleeds", "on-demand-factor-for-spontaneous-bleeds", "hiv-uncontrolled", "antiviral-therapy-hbv-hcv"}},
		{"b-prior-gene", map[string]davinci.Answer{"prior-gene-therapy": {Value: true, How: "evidence"}}, nil},
		{"b-approve", map[string]davinci.Answer{"prior-gene-therapy": {Value: false, How: "attested"}, "factor-exposure-days-150": {Value: true, How: "attested"}}, nil},
	} {
		pol, det, facts := decideSample(t, tc.patient, "ucare-hemgenix")
		answered, missing := davinci.Prefill(testenv.Catalog(t), pol, det, facts)
		got := map[string]davinci.Answer{}
		for _, a := range answered {
			got[a.LinkID] = a
		}
		for l, want := range tc.answered {
			if a := got[l]; a.Value != want.Value || a.How != want.How {
				t.Errorf("%s: %s = %+v, want %+v", tc.patient, l, a, want)
			}
		}
		if !slices.Equal(missing, tc.missing) {
			t.Errorf("%s: missing %v, want %v", tc.patient, missing, tc.missing)
		}
		for _, l := range missing {
			if _, ok := got[l]; ok {
				t.Errorf("%s: %s both answered and missing", tc.patient, l)
			}
		}
	}
}

func TestQuestionnairePackageShape(t *testing.T) {
	cat := testenv.Catalog(t)
	pol, det, facts := decideSample(t, "b-pend-stale", "ucare-hemgenix")
	answered, missing := davinci.Prefill(testenv.Catalog(t), pol, det, facts)
	qr := davinci.QuestionnaireResponse(cat, answered, missing, davinci.PackageInput{
		Patient: "Patient/pat-b-pend-stale", Coverage: "Coverage/c1", Orders: []string{"MedicationRequest/mr-1"}})
	pkg := davinci.QuestionnairePackage(davinci.Questionnaire(cat), qr, []string{"Questionnaire x does not exist here"})
	b, err := davinci.JSON(pkg, false)
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		ResourceType string
		Parameter    []struct {
			Name     string
			Resource struct {
				ResourceType, Type string
				Entry              []struct {
					Resource struct {
						ResourceType, Status string
						Item                 []struct {
							LinkID string `json:"linkId"`
							Answer []any
						}
					}
				}
			}
		}
	}
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if out.ResourceType != "Parameters" || len(out.Parameter) != 2 || out.Parameter[0].Name != "packagebundle" || out.Parameter[1].Name != "outcome" {
		t.Fatalf("%s", b)
	}
	entries := out.Parameter[0].Resource.Entry
	if out.Parameter[0].Resource.Type != "collection" || len(entries) != 2 || entries[0].Resource.ResourceType != "Questionnaire" ||
		entries[1].Resource.ResourceType != "QuestionnaireResponse" || entries[1].Resource.Status != "in-progress" {
		t.Fatalf("package bundle: %s", b)
	}
	if n := len(entries[1].Resource.Item); n != len(answered)+len(missing) {
		t.Errorf("%d items, want %d answered + %d missing", n, len(answered), len(missing))
	}
}

// TestPrefillSplitAnswers: two answers of the newest day that disagree are
// not prefilled (first-wins would pick one); the question is asked again.
func TestPrefillSplitAnswers(t *testing.T) {
	pol, _, facts := decideSample(t, "b-approve", "ucare-hemgenix")
	key := rules.AttestationFact("prior-gene-therapy")
	day := facts[key][0].Date
	facts[key] = append(facts[key], rules.Value{Flag: rules.Positive, Date: day, Source: "QuestionnaireResponse/other"})
	det := rules.Evaluate(pol, facts, rules.AsOf(time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)))
	answered, missing := davinci.Prefill(testenv.Catalog(t), pol, det, facts)
	for _, a := range answered {
		if a.LinkID == "prior-gene-therapy" {
			t.Fatalf("prefilled %+v from answers that disagree", a)
		}
	}
	if !slices.Contains(missing, "prior-gene-therapy") {
		t.Errorf("missing %v, want prior-gene-therapy asked again", missing)
	}
}

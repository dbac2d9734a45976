package davinci_test

import (
	"encoding/json"
	"hemopa/cmd/hemopa/internal/testenv"
	"strings"
	"testing"

	"hemopa/cmd/hemopa/internal/davinci"
	"hemopa/rules"
)

func TestCoverageInfoInvariants(t *testing.T) {
	base := func() davinci.CoverageInfo {
		return davinci.CoverageInfo{Coverage: "Coverage/c", Covered: "covered", PANeeded: "auth-needed", Date: "2026-11-24", AssertionID: "a1"}
	}
	for _, tc := range []struct {
		name string
		edit func(*davinci.CoverageInfo)
		want string // "" valid, else a part of the error
	}{
		{"covered, auth needed", func(*davinci.CoverageInfo) {}, ""},
		{"not-covered without pa-needed", func(c *davinci.CoverageInfo) { c.Covered, c.PANeeded = "not-covered", "" }, ""},
		{"not-covered with pa-needed", func(c *davinci.CoverageInfo) { c.Covered = "not-covered" }, "not-covered forbids pa-needed"},
		{"covered without pa-needed", func(c *davinci.CoverageInfo) { c.PANeeded = "" }, "requires pa-needed"},
		{"conditional without info-needed", func(c *davinci.CoverageInfo) { c.Covered = "conditional" }, "conditional requires info-needed"},
		{"info-needed without conditional", func(c *davinci.CoverageInfo) { c.InfoNeeded = []string{"OTH"} }, "info-needed requires"},
		{"satisfied without id", func(c *davinci.CoverageInfo) { c.PANeeded = "satisfied" }, "satisfied-pa-id"},
		{"id without satisfied", func(c *davinci.CoverageInfo) { c.SatisfiedPAID = "PA-1" }, "satisfied-pa-id"},
		{"satisfied with id", func(c *davinci.CoverageInfo) { c.PANeeded, c.SatisfiedPAID = "satisfied", "PA-1" }, ""},
		{"indeterminate without reason", func(c *davinci.CoverageInfo) { c.Covered = "indeterminate" }, "indeterminate requires a reason"},
		{"indeterminate with reason", func(c *davinci.CoverageInfo) { c.Covered, c.Reasons = "indeterminate", []string{"payer down"} }, ""},
		{"questionnaire without doc-needed", func(c *davinci.CoverageInfo) { c.Questionnaires = []string{"q"} }, "questionnaire requires doc-needed"},
		{"no assertion id", func(c *davinci.CoverageInfo) { c.AssertionID = "" }, "coverage-assertion-id"},
		{"no coverage", func(c *davinci.CoverageInfo) { c.Coverage = "" }, "coverage is required"},
		{"bad covered", func(c *davinci.CoverageInfo) { c.Covered = "maybe" }, "is not covered"},
		{"OTH without detail", func(c *davinci.CoverageInfo) { c.Covered, c.InfoNeeded = "conditional", []string{"OTH"} }, "OTH requires a detail"},
		{"OTH with detail", func(c *davinci.CoverageInfo) {
			c.Covered, c.InfoNeeded, c.Details, c.Reasons = "conditional", []string{"OTH"}, []davinci.Detail{{Code: "Documentation needed", Value: "FIX inhibitor titer"}}, []string{"r"}
		}, ""},
		{"OTH without reason", func(c *davinci.CoverageInfo) {
			c.Covered, c.InfoNeeded, c.Details = "conditional", []string{"OTH"}, []davinci.Detail{{Code: "c", Value: "v"}}
		}, "crd-ci-q6"},
		{"doc-purpose without reason", func(c *davinci.CoverageInfo) { c.DocNeeded, c.DocPurpose = "clinical", []string{"withpa"} }, "crd-ci-q8"},
		{"detail without value", func(c *davinci.CoverageInfo) { c.Details = []davinci.Detail{{Code: "x"}} }, "code and a value"},
	} {
		c := base()
		tc.edit(&c)
		err := c.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want an error about %q", tc.name, err, tc.want)
		}
	}
}

func determination(d rules.Decision) *rules.Determination {
	out := &rules.Determination{Policy: "ucare-hemgenix", PolicyVersion: "2026-02-25", Drug: "Hemgenix", AsOf: "2026-11-24", Decision: d, Missing: []string{}}
	switch d {
	case rules.Pend:
		out.Missing = []string{"1.N: Body weight", "1.K: Platelet count"}
	case rules.Deny, rules.NotCovered:
		out.Criteria = []rules.CriterionResult{{ID: "1", Result: rules.NotMet, Children: []rules.CriterionResult{
			{ID: "1.I.i", Text: "ALT ≤ 2 × ULN", Result: rules.NotMet, Reason: "ALT 120 U/L"}}}}
	}
	return out
}

func TestCoverageInfoFor(t *testing.T) {
	for _, tc := range []struct {
		decision rules.Decision
		primary  bool
		want     map[string]string // sub-extension → value; "-" absent
	}{
		{rules.Approve, true, map[string]string{"covered": "covered", "pa-needed": "auth-needed", "doc-needed": "-", "questionnaire": "-", "info-needed": "-", "billingCode": "(complex)"}},
		{rules.Pend, true, map[string]string{"covered": "conditional", "pa-needed": "auth-needed", "doc-needed": "clinical", "doc-purpose": "withpa",
			"info-needed": "OTH", "questionnaire": davinci.QuestionnaireCanonical}},
		{rules.Pend, false, map[string]string{"covered": "conditional", "pa-needed": "auth-needed", "doc-needed": "-", "questionnaire": "-", "info-needed": "OTH"}},
		{rules.Deny, true, map[string]string{"covered": "conditional", "pa-needed": "auth-needed", "doc-needed": "-", "questionnaire": "-", "info-needed": "OTH"}},
		{rules.NotCovered, true, map[string]string{"covered": "not-covered", "pa-needed": "-", "doc-needed": "-", "questionnaire": "-", "billingCode": "-"}},
	} {
		ci := davinci.CoverageInfoFor(determination(tc.decision), davinci.AssertionInput{Coverage: "Coverage/c1", AssertionID: "k1", AskDocumentation: tc.primary, BillingCode: "J1411"})
		if tc.decision != rules.NotCovered && (len(ci.BillingCodes) != 1 || ci.BillingCodes[0] != "J1411") {
			t.Errorf("%s: billing codes %v, want J1411", tc.decision, ci.BillingCodes)
		}
		if err := ci.Validate(); err != nil {
			t.Errorf("%s: %v", tc.decision, err)
		}
		b, _ := davinci.JSON(ci.Extension(), false)
		var ext struct {
			URL       string
			Extension []map[string]any
		}
		if err := json.Unmarshal(b, &ext); err != nil || ext.URL != davinci.CoverageInfoURL {
			t.Fatalf("%s: %s", tc.decision, b)
		}
		got := map[string]string{}
		for _, e := range ext.Extension {
			for k, v := range e {
				if k != "url" {
					if s, ok := v.(string); ok {
						got[e["url"].(string)] = s
					} else {
						got[e["url"].(string)] = "(complex)"
					}
				}
			}
		}
		for k, v := range tc.want {
			if v == "-" {
				if _, ok := got[k]; ok {
					t.Errorf("%s primary=%v: %s present", tc.decision, tc.primary, k)
				}
			} else if got[k] != v {
				t.Errorf("%s primary=%v: %s = %q, want %q", tc.decision, tc.primary, k, got[k], v)
			}
		}
		if got["date"] != "2026-11-24" || got["coverage-assertion-id"] != "k1" || got["coverage"] != "(complex)" {
			t.Errorf("%s: date/id/coverage %v", tc.decision, got)
		}
		if tc.decision != rules.Approve && got["reason"] == "" {
			t.Errorf("%s: no reason", tc.decision)
		}
	}
}

func TestQuestionnaireVersion(t *testing.T) {
	cat := testenv.Catalog(t)
	q := davinci.Questionnaire(cat)
	if q.Get("version") != davinci.QuestionnaireVersion || q.Get("url") != davinci.QuestionnaireURL {
		t.Errorf("Questionnaire %v|%v, canonical used by CRD and DTR is %s", q.Get("url"), q.Get("version"), davinci.QuestionnaireCanonical)
	}
}

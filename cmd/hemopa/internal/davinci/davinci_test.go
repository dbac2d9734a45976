package davinci

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"hemopa/rules"
)

func determination(d rules.Decision) *rules.Determination {
	days := 90
	return &rules.Determination{
		Policy: "ucare-hemgenix", PolicyVersion: "2026-02-25", Drug: "Hemgenix", AsOf: "2026-11-24", Decision: d,
		ApprovalDays: &days,
		Criteria: []rules.CriterionResult{{ID: "1", Text: "all", Result: rules.NotMet, Children: []rules.CriterionResult{
			{ID: "1.K", Text: "Platelets ≥ 50", Result: rules.NotMet, Reason: "Platelet count 38", Evidence: []string{"Observation/plt"}},
			{ID: "1.A", Text: "Male", Result: rules.Met, Reason: "male"},
		}}},
		Missing: []string{"1.F.i: Factor IX inhibitor titer"},
	}
}

func render(t *testing.T, o *Object) map[string]any {
	t.Helper()
	b, err := JSON(o, false)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(b), `{"resourceType":`) {
		t.Errorf("resourceType is not first: %.40s", b)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestClaimResponseReviewActions(t *testing.T) {
	cases := []struct {
		d             rules.Decision
		code, outcome string
		preAuthPeriod bool
	}{
		{rules.Approve, "A1", "complete", true},
		{rules.Deny, "A3", "complete", false},
		{rules.NotCovered, "A3", "complete", false},
		{rules.Pend, "A4", "partial", false},
	}
	for _, tc := range cases {
		det := determination(tc.d)
		key := Key("Patient/p1", det, rules.Facts{})
		m := render(t, ClaimResponse(det, Subject{Patient: "Patient/p1", Items: []int{3}, Created: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)}, key))
		raw, _ := json.Marshal(m)
		s := string(raw)
		if m["use"] != "preauthorization" || m["outcome"] != tc.outcome {
			t.Errorf("%s: use %v outcome %v", tc.d, m["use"], m["outcome"])
		}
		if !strings.Contains(s, `"code":"`+tc.code+`"`) || !strings.Contains(s, `"itemSequence":3`) {
			t.Errorf("%s: review action %s / item sequence missing: %s", tc.d, tc.code, s)
		}
		_, hasPeriod := m["preAuthPeriod"]
		if hasPeriod != tc.preAuthPeriod {
			t.Errorf("%s: preAuthPeriod present %v", tc.d, hasPeriod)
		}
		if tc.d == rules.Approve && !strings.Contains(s, `"end":"2027-02-22"`) {
			t.Errorf("approval period should end 90 days after 2026-11-24: %s", s)
		}
		if tc.d == rules.Deny && !strings.Contains(s, "1.K not met") {
			t.Errorf("deny reasons missing from processNote: %s", s)
		}
		if strings.Contains(s, "queued") {
			t.Errorf("outcome must never be queued")
		}
	}
}

func TestKeyIsStableAndInputSensitive(t *testing.T) {
	det := determination(rules.Pend)
	f := rules.Facts{"platelets": {{Num: 38, HasNum: true}}}
	a, b := Key("Patient/p1", det, f), Key("Patient/p1", det, f)
	if a != b || len(a) != 32 {
		t.Fatalf("keys %q %q", a, b)
	}
	if Key("Patient/p2", det, f) == a || Key("Patient/p1", det, rules.Facts{"platelets": {{Num: 39, HasNum: true}}}) == a {
		t.Error("key ignores the patient or the inputs")
	}
	det2 := determination(rules.Pend)
	det2.PolicyVersion = "2027-01-01"
	if Key("Patient/p1", det2, f) == a {
		t.Error("key ignores the policy version")
	}
}

func TestTaskOnlyWhenPended(t *testing.T) {
	if DocumentationTask(determination(rules.Approve), Subject{Patient: "Patient/p1"}, "k") != nil {
		t.Error("a Task for an approval")
	}
	m := render(t, DocumentationTask(determination(rules.Pend), Subject{Patient: "Patient/p1"}, "k"))
	raw, _ := json.Marshal(m)
	if !strings.Contains(string(raw), "1.F.i: Factor IX inhibitor titer") || m["status"] != "requested" {
		t.Errorf("task: %s", raw)
	}
}

func TestCriteriaResponseCarriesEveryCriterion(t *testing.T) {
	m := render(t, CriteriaResponse(determination(rules.Deny), Subject{Patient: "Patient/p1"}, "k"))
	raw, _ := json.Marshal(m)
	for _, want := range []string{`"linkId":"1.K"`, `"code":"not-met"`, `"linkId":"1.A"`, `"reference":"Observation/plt"`, `"status":"completed"`} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("lacks %s", want)
		}
	}
}

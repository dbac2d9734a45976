package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBadInput: each bad input gets one line on stderr naming what and where,
// exit code 2, and nothing on stdout.
func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := "../../testdata/patients/b-approve.json"
	cases := []struct {
		name string
		args []string
		want []string // substrings of the error line
	}{
		{"invalid JSON", []string{"--bundle", write("bad.json", `{"resourceType":"Bundle","entry":[`), "--policy", "ucare-hemgenix"}, []string{"bad.json", "invalid JSON"}},
		{"not a bundle", []string{"--bundle", write("pat.json", `{"resourceType":"Patient","id":"x"}`), "--policy", "ucare-hemgenix"}, []string{"pat.json", "not a Bundle", "Patient"}},
		{"invalid resource", []string{"--bundle", write("inv.json", `{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Patient","id":"p","gender":"boy"}}]}`), "--policy", "ucare-hemgenix"},
			[]string{"inv.json", "Bundle.entry[0].resource (Patient/p)", "gender"}},
		{"invalid observation", []string{"--bundle", write("obs.json", `{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Patient","id":"p"}},{"resource":{"resourceType":"Observation","id":"o","status":"done","code":{"coding":[{"system":"http://loinc.org","code":"777-3"}]}}}]}`), "--policy", "ucare-hemgenix"},
			[]string{"obs.json", "Bundle.entry[1].resource (Observation/o)"}},
		{"no patient", []string{"--bundle", write("nop.json", `{"resourceType":"Bundle","type":"collection","entry":[]}`), "--policy", "ucare-hemgenix"}, []string{"nop.json", "no Patient"}},
		{"unknown policy", []string{"--bundle", good, "--policy", "acme-hemgenix"}, []string{`unknown policy "acme-hemgenix"`, "ucare-hemgenix"}},
		{"unreadable file", []string{"--bundle", filepath.Join(dir, "missing.json"), "--policy", "ucare-hemgenix"}, []string{"missing.json", "no such file"}},
		{"bad date", []string{"--bundle", good, "--policy", "ucare-hemgenix", "--as-of", "24/11/2026"}, []string{"--as-of"}},
		{"bad format", []string{"--bundle", good, "--policy", "ucare-hemgenix", "--format", "xml"}, []string{"--format"}},
		{"bad codemap", []string{"--bundle", good, "--policy", "ucare-hemgenix", "--codemap", write("cm.yaml", "observations:\n  - {system: s, code: c, fact: nope}\n")}, []string{"cm.yaml", "nope"}},
		{"neither bundle nor server", []string{"--policy", "ucare-hemgenix"}, []string{"--bundle"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, errs, code := runCLI(t, "", append([]string{"evaluate"}, tc.args...)...)
			if code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			if out != "" {
				t.Errorf("stdout not empty: %q", out)
			}
			if strings.Count(strings.TrimRight(errs, "\n"), "\n") != 0 {
				t.Errorf("stderr is not one line: %q", errs)
			}
			for _, w := range tc.want {
				if !strings.Contains(errs, w) {
					t.Errorf("stderr %q lacks %q", errs, w)
				}
			}
			if strings.Contains(errs, "goroutine") || strings.Contains(errs, "panic") {
				t.Errorf("stack trace on stderr: %q", errs)
			}
		})
	}
}

func TestEvaluateStdinAndFormats(t *testing.T) {
	data, err := os.ReadFile("../../testdata/patients/b-approve.json")
	if err != nil {
		t.Fatal(err)
	}
	out, errs, code := runCLI(t, string(data), "evaluate", "--bundle", "-", "--policy", "ucare-hemgenix", "--as-of", sampleAsOf)
	if code != 0 || !strings.Contains(out, "DECISION: APPROVE") || !strings.Contains(out, "NDC 0053-0150-15") {
		t.Fatalf("text output (exit %d, %s):\n%s", code, errs, out)
	}
	out, _, code = runCLI(t, string(data), "evaluate", "--bundle", "-", "--policy", "ucare-hemgenix,ny-pharmacy-109-hemgenix", "--as-of", sampleAsOf, "--format", "json")
	if code != 0 || !strings.HasPrefix(out, "[") || strings.Count(out, `"policy":`) != 2 {
		t.Fatalf("two policies should give a JSON array:\n%.300s", out)
	}
	for _, key := range []string{`"policy"`, `"drug"`, `"decision"`, `"review"`, `"approval_days"`, `"criteria"`, `"missing"`, `"dose"`, `"weight_kg"`, `"vector_genomes"`, `"volume_ml"`, `"kit"`, `"ndc"`, `"vials"`, `"id": "1.F.ii"`, `"citation"`, `"evidence"`, `"children"`, `"result"`, `"reason"`} {
		if !strings.Contains(out, key) {
			t.Errorf("JSON lacks %s", key)
		}
	}
}

func TestPoliciesCommands(t *testing.T) {
	out, _, code := runCLI(t, "", "policies", "list")
	if code != 0 || strings.Count(out, "\n") != 7 {
		t.Errorf("policies list (exit %d):\n%s", code, out)
	}
	out, _, code = runCLI(t, "", "policies", "show", "ny-pharmacy-109-hemgenix")
	if code != 0 || !strings.Contains(out, "8.c") || !strings.Contains(out, "001_99765683d6b56991.txt") {
		t.Errorf("policies show:\n%s", out)
	}
	if _, errs, code := runCLI(t, "", "policies", "show", "nope"); code != 2 || !strings.Contains(errs, "unknown policy") {
		t.Errorf("show unknown: exit %d %s", code, errs)
	}
	out, _, code = runCLI(t, "", "policies", "lint")
	if code != 0 || !strings.Contains(out, "6 policies: ok") {
		t.Errorf("lint: exit %d %s", code, out)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte(`id: bad
title: t
payer: p
drugs: [Hemgenix]
source: s
effective: 2026-01-01
revised: 2026-01-01
criteria:
  - id: a
    text: t
    citation: c
    check: {fact: no_such_fact, is: present}
  - id: a
    text: t
    citation: c
    check: {fact: platelets, window: 30x, op: ">=", value: 50}
`), 0o644)
	_, errs, code := runCLI(t, "", "policies", "lint", bad)
	if code == 0 {
		t.Fatal("lint passed a broken policy")
	}
	for _, want := range []string{bad + ":12:", `unknown fact "no_such_fact"`, bad + ":13:", `duplicate criterion id "a"`, `bad window "30x"`} {
		if !strings.Contains(errs, want) {
			t.Errorf("lint output lacks %q:\n%s", want, errs)
		}
	}
}

func TestQuestionnaire(t *testing.T) {
	out, _, code := runCLI(t, "", "questionnaire")
	if code != 0 || !strings.Contains(out, `"resourceType": "Questionnaire"`) {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	for _, link := range []string{"prior-gene-therapy", "factor-exposure-days-150", "life-threatening-hemorrhage", "on-demand-factor-for-hemorrhage",
		"repeated-spontaneous-bleeds", "on-demand-factor-for-spontaneous-bleeds", "continuous-prophylaxis", "current-factor-prophylaxis",
		"hiv-uncontrolled", "antiviral-therapy-hbv-hcv", "advanced-liver-disease", "other-coagulation-disorder",
		"prescriber-hemophilia-specialist", "prescriber-htc-hematologist", "requested-for-convenience"} {
		if !strings.Contains(out, `"linkId": "`+link+`"`) {
			t.Errorf("questionnaire lacks %s", link)
		}
	}
}

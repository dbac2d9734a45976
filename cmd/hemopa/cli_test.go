package main

import (
	"bytes"
	"context"
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

// TestBadArguments: bad arguments to evaluate and table — an empty or
// blank policy list, unknown or repeated ids, an empty or malformed
// --patient, a bad --as-of, missing files, directories, a malformed bundle
// (duplicate key, invalid UTF-8, invalid URI) — each exit 2 with one line on
// stderr naming the problem, never a panic, and nothing on stdout (tables are
// not half-written when a later file fails).
func TestBadArguments(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := "../../testdata/patients/b-approve.json"
	pol := "ucare-hemgenix"
	dup := write("dup.json", `{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Patient","id":"p"}},{"resource":{"resourceType":"Observation","id":"o","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"777-3","system":"http://acme.example"}]}}}]}`)
	utf := write("utf.json", "{\"resourceType\":\"Bundle\",\"type\":\"collection\",\"entry\":[{\"resource\":{\"resourceType\":\"Patient\",\"id\":\"p\",\"name\":[{\"family\":\"Sm\xffith\"}]}}]}")
	uri := write("uri.json", `{"resourceType":"Bundle","type":"collection","entry":[{},{"fullUrl":"urn:uuid:a b","resource":{"resourceType":"Patient","id":"p"}}]}`)
	cases := []struct {
		name string
		args []string
		want []string // substrings of the one error line
		not  []string // must not appear (values from the record)
	}{
		{"policy comma", []string{"evaluate", "--bundle", good, "--policy", ","}, []string{"--policy", "no policy id"}, nil},
		{"policy blank", []string{"evaluate", "--bundle", good, "--policy", " "}, []string{"--policy", "is required"}, nil},
		{"policy commas and blanks", []string{"evaluate", "--bundle", good, "--policy", " , ,", "--format", "json"}, []string{"--policy", "no policy id"}, nil},
		{"policy empty", []string{"evaluate", "--bundle", good, "--policy", ""}, []string{"--policy is required"}, nil},
		{"policy unknown in a list", []string{"evaluate", "--bundle", good, "--policy", pol + ",nope"}, []string{`unknown policy "nope"`, pol}, nil},
		{"policy repeated", []string{"evaluate", "--bundle", good, "--policy", pol + ", " + pol}, []string{"--policy", pol, "more than once"}, nil},
		{"policy all in a list", []string{"evaluate", "--bundle", good, "--policy", "all," + pol}, []string{"--policy", `"all"`}, nil},
		{"patient empty", []string{"evaluate", "--bundle", good, "--policy", pol, "--patient", ""}, []string{"--patient", "empty"}, nil},
		{"patient blank", []string{"evaluate", "--bundle", good, "--policy", pol, "--patient", "  "}, []string{"--patient", "empty"}, nil},
		{"patient not an id", []string{"evaluate", "--bundle", good, "--policy", pol, "--patient", "Patient/x"}, []string{"--patient", "not a FHIR id"}, nil},
		{"patient not in bundle", []string{"evaluate", "--bundle", good, "--policy", pol, "--patient", "someone-else"}, []string{"b-approve.json"}, nil},
		{"as-of not a day", []string{"evaluate", "--bundle", good, "--policy", pol, "--as-of", "2026-02-30"}, []string{"--as-of", "2026-02-30"}, nil},
		{"as-of with time", []string{"evaluate", "--bundle", good, "--policy", pol, "--as-of", "2026-11-24T00:00:00Z"}, []string{"--as-of"}, nil},
		{"missing file", []string{"evaluate", "--bundle", filepath.Join(dir, "nope.json"), "--policy", pol}, []string{"nope.json", "no such file"}, nil},
		{"directory", []string{"evaluate", "--bundle", dir, "--policy", pol}, []string{dir, "is a directory"}, nil},
		{"empty file", []string{"evaluate", "--bundle", write("empty.json", ""), "--policy", pol}, []string{"empty.json", "unexpected end of input"}, nil},
		{"duplicate key", []string{"evaluate", "--bundle", dup, "--policy", pol}, []string{"dup.json", `Bundle.entry[1].resource.code.coding[0]: duplicate key "system"`}, []string{"acme"}},
		{"invalid UTF-8", []string{"evaluate", "--bundle", utf, "--policy", pol}, []string{"utf.json", "Bundle.entry[0].resource.name[0].family: invalid UTF-8"}, []string{"Sm"}},
		{"invalid URI", []string{"evaluate", "--bundle", uri, "--policy", pol}, []string{"uri.json", "Bundle.entry[1].fullUrl: invalid URI (contains a space)"}, []string{"uuid"}},
		{"invalid bundle on stdin", []string{"evaluate", "--bundle", "-", "--policy", pol}, []string{"stdin", "unexpected end of input"}, nil},
		{"stray argument", []string{"evaluate", "--bundle", good, "--policy", pol, "extra"}, []string{`unexpected argument "extra"`}, nil},
		{"unknown flag", []string{"evaluate", "--bundle", good, "--policy", pol, "--nope"}, []string{"-nope", "evaluate -h"}, nil},
		{"table unknown flag", []string{"table", "--nope", good}, []string{"-nope", "table -h"}, nil},
		{"table policy comma", []string{"table", "--policy", ",", good}, []string{"--policy", "no policy id"}, nil},
		{"table policy blank", []string{"table", "--policy", " ", good}, []string{"--policy", "is required"}, nil},
		{"table unknown policy", []string{"table", "--policy", "nope", good}, []string{`unknown policy "nope"`}, nil},
		{"table bad as-of", []string{"table", "--as-of", "tomorrow", good}, []string{"--as-of"}, nil},
		{"table no files", []string{"table"}, []string{"bundle files"}, nil},
		{"table later file missing", []string{"table", good, filepath.Join(dir, "gone.json")}, []string{"gone.json", "no such file"}, nil},
		{"table later file invalid", []string{"table", good, dup}, []string{"dup.json", "duplicate key"}, nil},
		{"table directory", []string{"table", dir}, []string{dir, "is a directory"}, nil},
		{"table flag after files", []string{"table", good, "--policy", pol}, []string{"--policy", "before the files"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, errs, code := runCLI(t, "", tc.args...)
			if code != 2 {
				t.Errorf("exit %d, want 2 (stderr %q)", code, errs)
			}
			if out != "" {
				t.Errorf("stdout not empty: %.200q", out)
			}
			if errs == "" || strings.Count(strings.TrimRight(errs, "\n"), "\n") != 0 {
				t.Errorf("stderr is not one line: %q", errs)
			}
			for _, w := range tc.want {
				if !strings.Contains(errs, w) {
					t.Errorf("stderr %q lacks %q", errs, w)
				}
			}
			for _, w := range append(tc.not, "goroutine", "panic") {
				if strings.Contains(errs, w) {
					t.Errorf("stderr %q contains %q", errs, w)
				}
			}
		})
	}
}

// TestGoodArgumentVariants: the lenient spellings still work — spaces around
// ids, a trailing comma, an explicit --patient that is in the bundle.
func TestGoodArgumentVariants(t *testing.T) {
	good := "../../testdata/patients/b-approve.json"
	for _, args := range [][]string{
		{"evaluate", "--bundle", good, "--policy", " ucare-hemgenix , ", "--as-of", sampleAsOf},
		{"evaluate", "--bundle", good, "--policy", " all ", "--as-of", sampleAsOf},
		{"evaluate", "--bundle", good, "--policy", "ucare-hemgenix", "--as-of", sampleAsOf, "--patient", "pat-b-approve"},
		{"table", "--policy", "ucare-hemgenix,", "--as-of", sampleAsOf, good},
	} {
		out, errs, code := runCLI(t, "", args...)
		if code != 0 || out == "" {
			t.Errorf("%v: exit %d, stderr %q", args, code, errs)
		}
	}
}

// TestPanicIsOneLine: a bug that panics inside a command still ends as one
// line on stderr and exit 1, without a stack trace.
func TestPanicIsOneLine(t *testing.T) {
	register("test-panic", "", func(context.Context, []string, *Env) error {
		var xs []int
		_ = xs[len(xs)] // index out of range
		return nil
	})
	defer delete(commands, "test-panic")
	out, errs, code := runCLI(t, "", "test-panic")
	if code != 1 || out != "" || strings.Count(errs, "\n") != 1 || !strings.Contains(errs, "internal error (runtime error: index out of range") || strings.Contains(errs, "goroutine") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errs)
	}
}

// TestHelpFlag: -h lists the flags on stdout and exits 0.
func TestHelpFlag(t *testing.T) {
	for _, cmd := range []string{"evaluate", "table"} {
		out, errs, code := runCLI(t, "", cmd, "-h")
		if code != 0 || !strings.Contains(out, "-policy") || errs != "" {
			t.Errorf("%s -h: exit %d, stdout %.80q, stderr %q", cmd, code, out, errs)
		}
	}
}

// sitePolicies writes a site policy directory: the built-in UCare policy with
// its platelet floor raised from 50 to 250 × 10⁹/L.
func sitePolicies(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../rules/policies/ucare-hemgenix.yaml")
	if err != nil {
		t.Fatal(err)
	}
	src := strings.Replace(string(b), `check: {fact: platelets, window: 30d, op: ">=", value: 50}`, `check: {fact: platelets, window: 30d, op: ">=", value: 250}`, 1)
	if src == string(b) {
		t.Fatal("the UCare platelet criterion changed; update the test")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ucare-hemgenix.yaml"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestSitePolicyDirectory: --policies DIR changes a decision on evaluate,
// table and pas; lint and list read the same directory; a broken directory is
// refused with the file and line and nothing on stdout.
func TestSitePolicyDirectory(t *testing.T) {
	dir := sitePolicies(t)
	bundle := "../../testdata/patients/b-approve.json" // platelets 212 × 10⁹/L
	out, errs, code := runCLI(t, "", "evaluate", "--bundle", bundle, "--policy", "ucare-hemgenix", "--as-of", "2026-11-24")
	if code != 0 || !strings.Contains(out, "DECISION: APPROVE") {
		t.Fatalf("built-in: exit %d %s%s", code, out, errs)
	}
	out, errs, code = runCLI(t, "", "evaluate", "--policies", dir, "--bundle", bundle, "--policy", "ucare-hemgenix", "--as-of", "2026-11-24")
	if code != 0 || !strings.Contains(out, "DECISION: DENY") || !strings.Contains(out, "is not ≥ 250") {
		t.Errorf("site directory: exit %d %s%s", code, out, errs)
	}
	out, _, code = runCLI(t, "", "table", "--policies", dir, "--as-of", "2026-11-24", bundle)
	if code != 0 || !strings.Contains(out, "deny") || strings.Contains(out, "label-aligned") {
		t.Errorf("table with the site directory (only its policy):\n%s", out)
	}
	store := filepath.Join(t.TempDir(), "pas.db")
	out, errs, code = runCLI(t, "", "pas", "submit", "--policies", dir, "--policy", "ucare-hemgenix", "--store", store, "--as-of", "2026-11-24", "--bundle", "../../testdata/pas/b-approve.json")
	if code != 0 || !strings.Contains(out, `"A3"`) {
		t.Errorf("pas submit with the site directory: want the denial (A3), exit %d\n%s%s", code, out, errs)
	}
	if out, _, code := runCLI(t, "", "policies", "list", "--policies", dir); code != 0 || strings.Count(out, "\n") != 2 {
		t.Errorf("policies list --policies: exit %d\n%s", code, out)
	}
	if out, errs, code := runCLI(t, "", "policies", "lint", dir); code != 0 || !strings.Contains(out, "1 policies: ok") {
		t.Errorf("policies lint DIR: exit %d %s%s", code, out, errs)
	}

	broken := t.TempDir()
	os.WriteFile(filepath.Join(broken, "x.yaml"), []byte("id: x\ntitle: t\npayer: p\ndrugs: [Hemgenix]\nsource: s\neffective: 2026-01-01\nrevised: 2026-01-01\ncriteria:\n  - id: a\n    text: t\n    citation: c\n    check: {fact: nope, is: present}\n"), 0o644)
	for _, args := range [][]string{
		{"evaluate", "--policies", broken, "--bundle", bundle, "--policy", "x"},
		{"policies", "list", "--policies", broken},
		{"policies", "lint", broken},
	} {
		out, errs, code := runCLI(t, "", args...)
		if code == 0 || out != "" || !strings.Contains(errs, filepath.Join(broken, "x.yaml")+":12:") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q (want the file and line, nothing on stdout)", args, code, out, errs)
		}
	}
	if _, errs, code := runCLI(t, "", "evaluate", "--policies", filepath.Join(dir, "none"), "--bundle", bundle, "--policy", "x"); code != 2 || !strings.Contains(errs, "--policies") {
		t.Errorf("missing directory: exit %d %s", code, errs)
	}
}

// TestPoliciesFromEnvironment: HEMOPA_POLICIES is --policies for every
// command that takes it.
func TestPoliciesFromEnvironment(t *testing.T) {
	dir := sitePolicies(t)
	for _, args := range [][]string{
		{"table", "--as-of", "2026-11-24", "../../testdata/patients/b-approve.json"},
		{"policies", "list"},
	} {
		var out, errb bytes.Buffer
		env := &Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(k string) string {
			if k == "HEMOPA_POLICIES" {
				return dir
			}
			return ""
		}}
		if code := run(context.Background(), args, env); code != 0 || strings.Contains(out.String(), "label-aligned") || !strings.Contains(out.String(), "ucare-hemgenix") {
			t.Errorf("%v with HEMOPA_POLICIES: exit %d\n%s%s", args, code, out.String(), errb.String())
		}
	}
}

package integration

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"hemopa/integration/harness"
)

// TestHAPIValidatesEmittedResources sends every FHIR resource the product
// emits to a real HAPI FHIR R4 server's POST [base]/[type]/$validate and
// requires an OperationOutcome without error or fatal issues.
//
// The documents are the ones cmd/hemopa's TestEmittedFHIRIsValid produces
// and checks with fhirtest (PAS $submit/$inquire responses and rejections,
// CRD order-sign/select/dispatch responses, the DTR $questionnaire-package,
// the CLI's write-back transactions, hemopa questionnaire): that test is run
// with HEMOPA_EMIT_DIR so both check exactly the same output. Each top-level
// resource is validated whole (HAPI walks into Bundle entries and Parameters
// resources), and each resource inside one again on its own endpoint, so
// every resource type is validated as itself.
//
// The validation is against the R4 base profiles: the server has no IG
// packages (Da Vinci PAS/CRD/DTR, US Core), and HAPI reports a declared
// profile it cannot find as an error, so meta.profile is left out of what
// is sent (the profiles dropped are logged). Unknown extensions and code
// systems are information and warnings, which pass.
func TestHAPIValidatesEmittedResources(t *testing.T) {
	hapi := harness.RequireHAPI(t)
	docs := emitDocuments(t)

	type target struct{ name, path, typ, raw string }
	var targets []target
	for _, name := range slices.Sorted(maps.Keys(docs)) {
		for _, r := range topResources(gjson.ParseBytes(docs[name]), "") {
			targets = append(targets, target{name, cmp.Or(r.path, r.typ), r.typ, r.raw})
			for _, n := range nestedResources(gjson.Parse(r.raw), cmp.Or(r.path, r.typ)) {
				targets = append(targets, target{name, n.path, n.typ, n.raw})
			}
		}
	}

	client := &http.Client{Timeout: 2 * time.Minute}
	types := map[string]int{}
	profiles := map[string]bool{}
	start := time.Now()
	for _, tg := range targets {
		body, dropped := withoutProfiles([]byte(tg.raw))
		for _, p := range dropped {
			profiles[p] = true
		}
		issues, err := validateOnHAPI(t, client, hapi.BaseURL(), tg.typ, body)
		if err != nil {
			t.Errorf("%s: %s (%s): %v", tg.name, tg.path, tg.typ, err)
			continue
		}
		types[tg.typ]++
		var bad []string
		for _, is := range issues {
			if is.Severity == "error" || is.Severity == "fatal" {
				bad = append(bad, is.String())
			}
		}
		if len(bad) > 0 {
			all := make([]string, len(issues))
			for i, is := range issues {
				all[i] = "  " + is.String()
			}
			t.Errorf("%s: %s (%s): %d error/fatal issue(s) from %s/%s/$validate; all issues:\n%s",
				tg.name, tg.path, tg.typ, len(bad), hapi.BaseURL(), tg.typ, strings.Join(all, "\n"))
		}
	}
	t.Logf("%d resources validated in %s, by type: %v", len(targets), time.Since(start).Round(time.Millisecond), types)
	t.Logf("meta.profile left out (no IG packages on the server): %v", slices.Sorted(maps.Keys(profiles)))
	for _, typ := range []string{"Bundle", "ClaimResponse", "OperationOutcome", "Parameters", "Questionnaire", "QuestionnaireResponse", "Task", "MedicationRequest"} {
		if types[typ] == 0 {
			t.Errorf("no %s was validated", typ)
		}
	}
}

// emitDocuments runs cmd/hemopa's TestEmittedFHIRIsValid with HEMOPA_EMIT_DIR
// and reads what it wrote, by name.
func emitDocuments(t *testing.T) map[string][]byte {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "test", "-count=1", "-run", "^TestEmittedFHIRIsValid$", "hemopa/cmd/hemopa")
	cmd.Env = append(os.Environ(), "HEMOPA_EMIT_DIR="+dir)
	out, err := cmd.CombinedOutput()
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		// fhirtest found a problem: report it, and still let HAPI judge
		// what was emitted.
		t.Errorf("go test -run TestEmittedFHIRIsValid hemopa/cmd/hemopa: %v\n%s", err, out)
	}
	if len(files) < 20 {
		t.Fatalf("only %d documents emitted", len(files))
	}
	docs := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		docs[strings.TrimSuffix(filepath.Base(f), ".json")] = b
	}
	return docs
}

type found struct{ path, typ, raw string }

// topResources are the outermost resources of a document: the document
// itself, or those a CDS Hooks response carries.
func topResources(v gjson.Result, path string) []found {
	if v.IsObject() && v.Get("resourceType").Type == gjson.String {
		return []found{{path, v.Get("resourceType").String(), v.Raw}}
	}
	var out []found
	if v.IsObject() {
		v.ForEach(func(k, e gjson.Result) bool {
			p := k.String()
			if path != "" {
				p = path + "." + p
			}
			out = append(out, topResources(e, p)...)
			return true
		})
	} else if v.IsArray() {
		i := 0
		v.ForEach(func(_, e gjson.Result) bool {
			out = append(out, topResources(e, fmt.Sprintf("%s[%d]", path, i))...)
			i++
			return true
		})
	}
	return out
}

// nestedResources are the resources inside a resource's Bundle entries
// (resource, response.outcome) and Parameters (resource, at any part depth),
// at every depth.
func nestedResources(res gjson.Result, path string) []found {
	var out []found
	add := func(r gjson.Result, p string) {
		if r.IsObject() && r.Get("resourceType").Type == gjson.String {
			out = append(out, found{p, r.Get("resourceType").String(), r.Raw})
			out = append(out, nestedResources(r, p)...)
		}
	}
	switch res.Get("resourceType").String() {
	case "Bundle":
		for i, e := range res.Get("entry").Array() {
			add(e.Get("resource"), fmt.Sprintf("%s.entry[%d].resource", path, i))
			add(e.Get("response.outcome"), fmt.Sprintf("%s.entry[%d].response.outcome", path, i))
		}
	case "Parameters":
		var parts func(list []gjson.Result, p string)
		parts = func(list []gjson.Result, p string) {
			for i, e := range list {
				pp := fmt.Sprintf("%s[%d]", p, i)
				add(e.Get("resource"), pp+".resource")
				parts(e.Get("part").Array(), pp+".part")
			}
		}
		parts(res.Get("parameter").Array(), path+".parameter")
	}
	return out
}

// withoutProfiles drops meta.profile at every depth (and meta when nothing
// else is left in it), returning the JSON and the profiles dropped.
func withoutProfiles(raw []byte) ([]byte, []string) {
	var v any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if d.Decode(&v) != nil {
		return raw, nil
	}
	var dropped []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if meta, ok := x["meta"].(map[string]any); ok {
				if ps, ok := meta["profile"].([]any); ok {
					for _, p := range ps {
						dropped = append(dropped, fmt.Sprint(p))
					}
					delete(meta, "profile")
					if len(meta) == 0 {
						delete(x, "meta")
					}
				}
			}
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	out, err := json.Marshal(v)
	if err != nil {
		return raw, nil
	}
	return out, dropped
}

type issue struct {
	Severity    string   `json:"severity"`
	Code        string   `json:"code"`
	Diagnostics string   `json:"diagnostics"`
	Expression  []string `json:"expression"`
	Location    []string `json:"location"`
}

func (is issue) String() string {
	where := strings.Join(is.Expression, ", ")
	if where == "" {
		where = strings.Join(is.Location, ", ")
	}
	return fmt.Sprintf("%s [%s] %s: %s", is.Severity, is.Code, where, is.Diagnostics)
}

// validateOnHAPI posts the resource to [base]/[type]/$validate, in a
// Parameters "resource" (so a Parameters is validated, not read as the
// operation's input), and returns the OperationOutcome's issues. HAPI
// answers 200 with the issues, errors included, and 400 when it cannot parse
// the resource; a status other than 200 (or 412) is one more error issue,
// and anything but an OperationOutcome is an error.
func validateOnHAPI(t *testing.T, client *http.Client, base, typ string, resource []byte) ([]issue, error) {
	t.Helper()
	body, err := json.Marshal(map[string]any{"resourceType": "Parameters", "parameter": []any{
		map[string]any{"name": "resource", "resource": json.RawMessage(resource)}}})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequest(http.MethodPost, base+"/"+typ+"/$validate", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/fhir+json")
	req.Header.Set("Accept", "application/fhir+json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	var oo struct {
		ResourceType string  `json:"resourceType"`
		Issue        []issue `json:"issue"`
	}
	if err := json.Unmarshal(b, &oo); err != nil || oo.ResourceType != "OperationOutcome" {
		return nil, fmt.Errorf("status %d, not an OperationOutcome: %.300s", resp.StatusCode, b)
	}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusPreconditionFailed {
		// e.g. 400 when HAPI cannot even parse it: the issues say why.
		is := issue{Severity: "error", Code: "http", Diagnostics: fmt.Sprintf("$validate answered status %d", resp.StatusCode)}
		return append([]issue{is}, oo.Issue...), nil
	}
	return oo.Issue, nil
}

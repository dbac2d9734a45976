package pipeline

// Policy test cases: testdata/<policy-id>/<case>.yaml beside a policy
// directory's policies (or policies/testdata/… for the built-in layout),
// each a patient (facts or a FHIR bundle), a day and the expected
// determination. A site runs its cases with RunCases or
// `hemopa policies test DIR`. The format is in rules/policies/testdata/README.md.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"hemopa/rules"
)

// caseDirs are where a policy directory keeps its cases: beside top-level
// policy files, or beside policies/*.yaml.
var caseDirs = []string{"testdata", "policies/testdata"}

// CaseStatus is the outcome of one case.
type CaseStatus string

// Case outcomes. A known issue is a case whose expectation (the document's)
// the engine does not meet, marked so with known_issue; one that passes
// nevertheless fails, so that the mark is removed.
const (
	CasePass       CaseStatus = "ok"
	CaseFail       CaseStatus = "FAIL"
	CaseKnownIssue CaseStatus = "KNOWN"
)

// CaseResult is one evaluated case.
type CaseResult struct {
	Policy      string // the policy id (the case's directory)
	Name        string // the file name without .yaml
	File        string // the file's path in the policy directory
	Description string
	KnownIssue  string // why the engine disagrees with the document ("" if it should not)
	Status      CaseStatus
	// Mismatches are the expectations not met, each "what: want X, got Y",
	// then the determination's reasons.
	Mismatches    []string
	Determination *rules.Determination
}

// CaseOption configures RunCases.
type CaseOption func(*caseConfig)

type caseConfig struct {
	diskDir string
	name    string
}

// CasesOnDisk says the directory is os.DirFS(dir): a bundle path that leaves
// it (../../../../testdata/patients/b-approve.json) is then read from disk,
// and messages name files under dir.
func CasesOnDisk(dir string) CaseOption {
	return func(c *caseConfig) { c.diskDir = dir; c.name = dir }
}

// RunCases runs every case of the policy directory fsys against the
// pipeline's catalog (which should be the one loaded from fsys). A case for a
// policy the catalog lacks, a malformed case (named file:line) or no case at
// all is an error; the cases that could be read are run and returned even
// then, in policy and file order.
func RunCases(p *Pipeline, fsys fs.FS, opts ...CaseOption) ([]CaseResult, error) {
	cfg := caseConfig{}
	for _, o := range opts {
		o(&cfg)
	}
	r := &caseReader{p: p, fsys: fsys, cfg: cfg, parsed: map[string]*testCase{}, failed: map[string]error{}}
	var files []string
	for _, dir := range caseDirs {
		names, err := fs.Glob(fsys, dir+"/*/*.yaml")
		if err != nil {
			return nil, err
		}
		files = append(files, names...)
	}
	sort.Strings(files)
	if len(files) == 0 {
		return nil, fmt.Errorf("%s: no test cases (want testdata/<policy-id>/*.yaml or policies/testdata/<policy-id>/*.yaml)", r.display("."))
	}
	var (
		results []CaseResult
		errs    []error
	)
	for _, f := range files {
		tc, err := r.read(f, nil)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		res, err := r.run(tc)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		results = append(results, res)
	}
	sort.SliceStable(results, func(i, j int) bool { return results[i].Policy < results[j].Policy })
	return results, errors.Join(errs...)
}

// testCase is one parsed case file.
type testCase struct {
	file, policyID, name string
	policy               *rules.Policy
	description          string
	asOf                 time.Time
	knownIssue           string
	facts                rules.Facts // a facts case
	bundle               []byte      // a bundle case (FHIR JSON)
	patient              string
	decision             rules.Decision
	criteria             []criterionWant
	missing              *[]string
	kit                  *caseKit
}

type criterionWant struct {
	id   string
	want rules.Result
}

// caseFile is a case file as written. Facts, the bundle and the expected
// criteria are decoded by hand, keeping lines for messages.
type caseFile struct {
	Description string     `yaml:"description"`
	AsOf        yaml.Node  `yaml:"as_of"`
	Base        yaml.Node  `yaml:"base"`
	Facts       yaml.Node  `yaml:"facts"`
	Bundle      yaml.Node  `yaml:"bundle"`
	Patient     string     `yaml:"patient"`
	Expect      caseExpect `yaml:"expect"`
	KnownIssue  string     `yaml:"known_issue"`
}

type caseExpect struct {
	Decision yaml.Node `yaml:"decision"`
	Criteria yaml.Node `yaml:"criteria"`
	Missing  *[]string `yaml:"missing"`
	Kit      *caseKit  `yaml:"kit"`
}

// caseKit is the expected kit of a policy with a kit table (Hemgenix Table 1).
type caseKit struct {
	Vials int    `yaml:"vials"`
	NDC   string `yaml:"ndc"`
}

type caseReader struct {
	p      *Pipeline
	fsys   fs.FS
	cfg    caseConfig
	parsed map[string]*testCase
	failed map[string]error // files already reported
}

// display is a file's name in messages.
func (r *caseReader) display(file string) string {
	if r.cfg.name == "" {
		return file
	}
	return filepath.Join(r.cfg.name, filepath.FromSlash(file))
}

func (r *caseReader) errorf(file string, line int, format string, args ...any) error {
	if line < 1 {
		line = 1
	}
	return fmt.Errorf("%s:%d: %s", r.display(file), line, fmt.Sprintf(format, args...))
}

var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// yamlError turns a yaml.v3 error into file:line: messages.
func (r *caseReader) yamlError(file string, err error) error {
	var te *yaml.TypeError
	msgs := []string{err.Error()}
	if errors.As(err, &te) {
		msgs = te.Errors
	}
	var errs []error
	for _, m := range msgs {
		line := 1
		if sm := yamlLine.FindStringSubmatch(m); sm != nil {
			line, _ = strconv.Atoi(sm[1])
			m = sm[2]
		}
		m = strings.Replace(m, "not found in type pipeline.caseFile", "is not a case key", 1)
		m = strings.Replace(m, "not found in type pipeline.caseExpect", "is not an expect key", 1)
		m = strings.Replace(m, "not found in type pipeline.caseKit", "is not a kit key (vials, ndc)", 1)
		errs = append(errs, r.errorf(file, line, "%s", m))
	}
	return errors.Join(errs...)
}

// read parses a case file; chain holds the files that named it as a base.
func (r *caseReader) read(file string, chain []string) (*testCase, error) {
	if tc, ok := r.parsed[file]; ok {
		return tc, nil
	}
	if err, ok := r.failed[file]; ok {
		return nil, err
	}
	for _, c := range chain {
		if c == file {
			return nil, r.errorf(chain[len(chain)-1], 1, "base cycle: %s", strings.Join(append(chain, file), " → "))
		}
	}
	data, err := fs.ReadFile(r.fsys, file)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r.display(file), err)
	}
	var cf caseFile
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&cf); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, r.errorf(file, 1, "empty case file")
		}
		return nil, r.yamlError(file, err)
	}
	dir := path.Dir(file)
	tc := &testCase{file: file, policyID: path.Base(dir), name: strings.TrimSuffix(path.Base(file), ".yaml"),
		description: strings.TrimSpace(cf.Description), knownIssue: strings.TrimSpace(cf.KnownIssue), patient: cf.Patient}
	pol, err := r.p.Catalog.Lookup(tc.policyID)
	if err != nil {
		return nil, r.errorf(file, 1, "cases for policy %q, which the catalog lacks (the directory under testdata is the policy id)", tc.policyID)
	}
	tc.policy = pol
	var errs []error
	bad := func(line int, format string, args ...any) { errs = append(errs, r.errorf(file, line, format, args...)) }
	if tc.description == "" {
		bad(1, "description is required (what the case checks, citing the document's section)")
	}
	if cf.AsOf.Value == "" {
		bad(cf.AsOf.Line, "as_of is required (YYYY-MM-DD)")
	} else if tc.asOf, err = time.Parse("2006-01-02", cf.AsOf.Value); err != nil {
		bad(cf.AsOf.Line, "as_of %q is not a date (YYYY-MM-DD)", cf.AsOf.Value)
	}
	base := cf.Base.Value
	hasFacts, hasBundle := cf.Facts.Kind != 0, cf.Bundle.Kind != 0
	switch {
	case hasBundle && (hasFacts || base != ""):
		bad(cf.Bundle.Line, "a case has either facts (and a base) or a bundle, not both")
	case hasBundle:
		tc.bundle, err = r.bundle(file, &cf.Bundle)
		if err != nil {
			errs = append(errs, err)
		}
	case !hasFacts && base == "":
		bad(1, "a case needs facts: or bundle:")
	default:
		if cf.Patient != "" {
			bad(1, "patient: is for bundle cases")
		}
		tc.facts = rules.Facts{}
		if base != "" {
			line := cf.Base.Line
			bc, err := r.read(path.Join(dir, base), append(chain, file))
			switch {
			case err != nil && strings.Contains(err.Error(), "base cycle"):
				errs = append(errs, err)
			case err != nil:
				bad(line, "base %s cannot be read (its own errors are reported with it)", base)
			case bc.facts == nil:
				bad(line, "base %s is a bundle case; a base must be a facts case", base)
			case bc.policyID != tc.policyID:
				bad(line, "base %s is a case of another policy", base)
			default:
				for k, vs := range bc.facts {
					tc.facts[k] = append([]rules.Value(nil), vs...)
				}
			}
		}
		if hasFacts {
			errs = append(errs, r.facts(file, &cf.Facts, tc.facts)...)
		}
	}
	errs = append(errs, r.expect(file, &cf.Expect, tc)...)
	if len(errs) > 0 {
		r.failed[file] = errors.Join(errs...)
		return nil, r.failed[file]
	}
	tc.facts.Sort()
	r.parsed[file] = tc
	return tc, nil
}

// bundle reads a bundle: a path relative to the case file, or an inline
// Bundle (YAML that is converted to JSON).
func (r *caseReader) bundle(file string, n *yaml.Node) ([]byte, error) {
	if n.Kind == yaml.MappingNode {
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, r.errorf(file, n.Line, "bundle: %v", err)
		}
		b, err := json.Marshal(v)
		if err != nil {
			return nil, r.errorf(file, n.Line, "bundle: %v", err)
		}
		return b, nil
	}
	if n.Kind != yaml.ScalarNode || n.Value == "" {
		return nil, r.errorf(file, n.Line, "bundle: want a file path (relative to the case) or an inline Bundle")
	}
	rel := path.Join(path.Dir(file), n.Value)
	if fs.ValidPath(rel) {
		b, err := fs.ReadFile(r.fsys, rel)
		if err != nil {
			return nil, r.errorf(file, n.Line, "bundle: %v", err)
		}
		return b, nil
	}
	if r.cfg.diskDir == "" {
		return nil, r.errorf(file, n.Line, "bundle %s leaves the policy directory (only a directory on disk can reach outside it)", n.Value)
	}
	b, err := os.ReadFile(filepath.Join(r.cfg.diskDir, filepath.FromSlash(path.Dir(file)), filepath.FromSlash(n.Value)))
	if err != nil {
		return nil, r.errorf(file, n.Line, "bundle: %v", err)
	}
	return b, nil
}

// facts decodes the facts mapping into into: each fact given replaces the
// base's values for it (an empty list removes them).
func (r *caseReader) facts(file string, n *yaml.Node, into rules.Facts) []error {
	var errs []error
	bad := func(line int, format string, args ...any) { errs = append(errs, r.errorf(file, line, format, args...)) }
	if n.Kind != yaml.MappingNode {
		bad(n.Line, "facts: want a mapping of fact name → list of values")
		return errs
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		name := k.Value
		info, ok := r.p.Catalog.Facts[name]
		switch {
		case !ok:
			bad(k.Line, "unknown fact %q (see rules/facts.yaml and attestations.yaml: attest:<linkId>)", name)
			continue
		case info.Kind == "age":
			bad(k.Line, "%s is derived from birth_date; give birth_date", name)
			continue
		case seen[name]:
			bad(k.Line, "fact %s given twice", name)
			continue
		case v.Kind != yaml.SequenceNode:
			bad(v.Line, "%s: want a list of values", name)
			continue
		}
		seen[name] = true
		vals := []rules.Value{}
		for j, vn := range v.Content {
			val, verrs := r.value(file, name, info, j, vn)
			errs = append(errs, verrs...)
			vals = append(vals, val)
		}
		if len(vals) == 0 {
			delete(into, name)
		} else {
			into[name] = vals
		}
	}
	return errs
}

// value decodes one value: {num, unit, uln, date, until, code, flag, source,
// problem, text}. num may carry a comparator ("<0.3"); unit, when given,
// must be the fact's canonical unit (facts are what mapping produces).
func (r *caseReader) value(file, fact string, info *rules.FactInfo, idx int, n *yaml.Node) (rules.Value, []error) {
	var errs []error
	bad := func(line int, format string, args ...any) {
		errs = append(errs, r.errorf(file, line, "%s[%d]: %s", fact, idx, fmt.Sprintf(format, args...)))
	}
	v := rules.Value{Source: "case/" + fact}
	if idx > 0 {
		v.Source += "-" + strconv.Itoa(idx+1)
	}
	if n.Kind != yaml.MappingNode {
		bad(n.Line, "want a mapping such as {num: 212, date: 2026-11-10}")
		return v, errs
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if seen[k.Value] {
			bad(k.Line, "%s given twice", k.Value)
			continue
		}
		seen[k.Value] = true
		if val.Kind != yaml.ScalarNode {
			bad(val.Line, "%s: want a scalar", k.Value)
			continue
		}
		s := val.Value
		switch k.Value {
		case "num":
			num := strings.TrimLeft(s, "<>=")
			if cmp := s[:len(s)-len(num)]; cmp != "" {
				if cmp != "<" && cmp != "<=" && cmp != ">" && cmp != ">=" {
					bad(val.Line, "num %q: comparator must be <, <=, > or >=", s)
				}
				v.Comparator = cmp
			}
			f, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
			if err != nil {
				bad(val.Line, "num %q is not a number", s)
			}
			v.Num, v.HasNum = f, true
		case "unit":
			if s != info.Unit {
				bad(val.Line, "unit %q: %s values are in %q (facts are in the canonical unit)", s, fact, info.Unit)
			}
			v.Unit = s
		case "uln":
			f, err := strconv.ParseFloat(s, 64)
			if err != nil {
				bad(val.Line, "uln %q is not a number", s)
			}
			v.ULN = f
		case "date", "until":
			t, err := time.Parse("2006-01-02", s)
			if err != nil {
				bad(val.Line, "%s %q is not a date (YYYY-MM-DD)", k.Value, s)
			}
			if k.Value == "date" {
				v.Date = t
			} else {
				v.Until = t
			}
		case "code":
			v.Code = s
		case "flag":
			switch s {
			case "positive":
				v.Flag = rules.Positive
			case "negative":
				v.Flag = rules.Negative
			default:
				bad(val.Line, "flag %q: want positive or negative (an attestation: positive = yes, negative = no)", s)
			}
		case "source":
			v.Source = s
		case "problem":
			v.Problem = s
		case "text":
			v.Text = s
		default:
			bad(k.Line, "unknown value key %q (num, unit, uln, date, until, code, flag, source, problem, text)", k.Value)
		}
	}
	if v.HasNum && v.Unit == "" {
		v.Unit = info.Unit
	}
	return v, errs
}

var decisions = map[string]rules.Decision{"approve": rules.Approve, "deny": rules.Deny, "pend": rules.Pend, "not-covered": rules.NotCovered}
var results = map[string]rules.Result{"met": rules.Met, "not-met": rules.NotMet, "unknown": rules.Unknown}

func (r *caseReader) expect(file string, e *caseExpect, tc *testCase) []error {
	var errs []error
	bad := func(line int, format string, args ...any) { errs = append(errs, r.errorf(file, line, format, args...)) }
	d, ok := decisions[e.Decision.Value]
	if !ok || e.Decision.Kind != yaml.ScalarNode {
		bad(e.Decision.Line, "expect.decision %q: want approve, deny, pend or not-covered", e.Decision.Value)
	}
	tc.decision = d
	tc.missing = e.Missing
	if e.Kit != nil && e.Kit.Vials == 0 && e.Kit.NDC == "" {
		bad(1, "expect.kit: give vials, ndc or both")
	}
	tc.kit = e.Kit
	if e.Criteria.Kind == 0 {
		return errs
	}
	if e.Criteria.Kind != yaml.MappingNode {
		return append(errs, r.errorf(file, e.Criteria.Line, "expect.criteria: want a mapping of criterion id → met, not-met or unknown"))
	}
	ids := map[string]bool{}
	var walk func([]*rules.Criterion)
	walk = func(cs []*rules.Criterion) {
		for _, c := range cs {
			ids[c.ID] = true
			walk(c.Children)
		}
	}
	walk(tc.policy.Criteria)
	for i := 0; i+1 < len(e.Criteria.Content); i += 2 {
		k, v := e.Criteria.Content[i], e.Criteria.Content[i+1]
		if !ids[k.Value] {
			bad(k.Line, "policy %s has no criterion %q (ids are dotted paths, e.g. 1.F.ii; see 'hemopa policies show %s')", tc.policyID, k.Value, tc.policyID)
			continue
		}
		res, ok := results[v.Value]
		if !ok || v.Kind != yaml.ScalarNode {
			bad(v.Line, "criterion %s: want met, not-met or unknown, not %q", k.Value, v.Value)
			continue
		}
		tc.criteria = append(tc.criteria, criterionWant{id: k.Value, want: res})
	}
	return errs
}

// run evaluates a case and compares the determination with its expectations.
func (r *caseReader) run(tc *testCase) (CaseResult, error) {
	res := CaseResult{Policy: tc.policyID, Name: tc.name, File: tc.file, Description: tc.description, KnownIssue: tc.knownIssue}
	var det *rules.Determination
	if tc.bundle != nil {
		dets, _, err := r.p.DecideJSON(tc.bundle, []*rules.Policy{tc.policy}, tc.asOf, tc.patient)
		if err != nil {
			return res, r.errorf(tc.file, 1, "bundle: %v", err)
		}
		det = dets[0]
	} else {
		det = rules.Evaluate(tc.policy, tc.facts, rules.AsOf(tc.asOf))
	}
	res.Determination = det
	var mm []string
	if det.Decision != tc.decision {
		mm = append(mm, fmt.Sprintf("decision: want %s, got %s", tc.decision, det.Decision))
	}
	got := map[string]*rules.CriterionResult{}
	var walk func([]rules.CriterionResult)
	walk = func(cs []rules.CriterionResult) {
		for i := range cs {
			got[cs[i].ID] = &cs[i]
			walk(cs[i].Children)
		}
	}
	walk(det.Criteria)
	for _, w := range tc.criteria {
		c := got[w.id]
		if c == nil {
			mm = append(mm, fmt.Sprintf("%s: want %s, not in the determination", w.id, w.want))
		} else if c.Result != w.want {
			mm = append(mm, fmt.Sprintf("%s: want %s, got %s (%s)", w.id, w.want, c.Result, c.Reason))
		}
	}
	if tc.missing != nil {
		if len(*tc.missing) == 0 && len(det.Missing) > 0 {
			mm = append(mm, fmt.Sprintf("missing: want none, got %q", det.Missing))
		}
		for _, want := range *tc.missing {
			found := false
			for _, m := range det.Missing {
				found = found || strings.Contains(m, want)
			}
			if !found {
				mm = append(mm, fmt.Sprintf("missing: want an item containing %q, got %q", want, det.Missing))
			}
		}
	}
	if tc.kit != nil {
		var got *rules.Kit
		if det.Dose != nil {
			got = det.Dose.Kit
		}
		switch {
		case got == nil:
			mm = append(mm, fmt.Sprintf("kit: want %s, got none", kitText(tc.kit.Vials, tc.kit.NDC)))
		case (tc.kit.Vials != 0 && got.Vials != tc.kit.Vials) || (tc.kit.NDC != "" && got.NDC != tc.kit.NDC):
			mm = append(mm, fmt.Sprintf("kit: want %s, got %s (%g kg)", kitText(tc.kit.Vials, tc.kit.NDC), kitText(got.Vials, got.NDC), det.Dose.WeightKg))
		}
	}
	switch {
	case len(mm) == 0 && tc.knownIssue != "":
		res.Status = CaseFail
		res.Mismatches = []string{"marked known_issue but passes: remove known_issue (" + tc.knownIssue + ")"}
	case len(mm) == 0:
		res.Status = CasePass
	case tc.knownIssue != "":
		res.Status = CaseKnownIssue
		res.Mismatches = append(mm, reasons(det)...)
	default:
		res.Status = CaseFail
		res.Mismatches = append(mm, reasons(det)...)
	}
	return res, nil
}

func kitText(vials int, ndc string) string {
	var parts []string
	if vials != 0 {
		parts = append(parts, strconv.Itoa(vials)+" vials")
	}
	if ndc != "" {
		parts = append(parts, "NDC "+ndc)
	}
	return strings.Join(parts, ", ")
}

// reasons lists why a determination is not an approval: each criterion not
// met or unknown whose children do not already say why, and the missing
// documentation.
func reasons(d *rules.Determination) []string {
	out := []string{"determination: " + string(d.Decision)}
	var walk func([]rules.CriterionResult)
	walk = func(cs []rules.CriterionResult) {
		for _, c := range cs {
			if c.Result == rules.Met {
				continue
			}
			leaf := true
			for _, ch := range c.Children {
				leaf = leaf && ch.Result == rules.Met
			}
			if leaf {
				out = append(out, fmt.Sprintf("  %s %s: %s", c.ID, c.Result, c.Reason))
			} else {
				walk(c.Children)
			}
		}
	}
	walk(d.Criteria)
	for _, m := range d.Missing {
		out = append(out, "  missing "+m)
	}
	return out
}

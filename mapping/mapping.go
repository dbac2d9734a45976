package mapping

import (
	"fmt"
	"sort"
	"strings"

	"github.com/tidwall/gjson"

	bcrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"

	"hemopa/rules"
)

// Mapper holds the compiled code tables. It is safe for concurrent use.
type Mapper struct {
	codes      codeTable
	obsByCode  map[string]*obsRule
	obsByFact  map[string]*obsRule
	negCodes   map[string]bool
	posCodes   map[string]bool
	snomed     map[string]string // code → fact
	icd        []icdPrefix
	products   []*product
	prodByCode map[string]*product
	facts      map[string]*rules.FactInfo
	attest     map[string]bool
	net        []netTerm       // the safety net's words (vocabulary.yaml)
	netUnits   []netUnit       // the safety net's value shapes (units)
	netFirst   map[string]bool // first token of every safety-net word (pre-check)
	netAlways  bool            // a word starts with a non-word byte: always run the full match
	irrelevant map[string]bool // codes the safety net lets through

	irrelevantTypes map[string]bool // resource types no criterion reads (vocabulary.yaml)
	aliasFold       map[string]string
}

type icdPrefix struct{ prefix, fact string }

// Option configures a Mapper.
type Option func(*Mapper) error

// WithCodeMap adds a site's local observation codes (YAML or JSON, see CodeMap).
// name is used in error messages.
func WithCodeMap(name string, data []byte) Option {
	return func(m *Mapper) error {
		var cm CodeMap
		if err := decodeStrict(name, data, &cm); err != nil {
			return err
		}
		for i, o := range cm.Observations {
			rule := m.obsByFact[o.Fact]
			if rule == nil {
				return fmt.Errorf("%s: observations[%d]: fact %q is not a lab fact (known: %s)", name, i, o.Fact, strings.Join(m.labFacts(), ", "))
			}
			if o.System == "" || o.Code == "" {
				return fmt.Errorf("%s: observations[%d]: system and code are required", name, i)
			}
			m.obsByCode[m.codeKey(o.System, o.Code)] = rule
		}
		return nil
	}
}

func (m *Mapper) labFacts() []string {
	var names []string
	for n := range m.obsByFact {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// New compiles the embedded code tables plus any options for the facts and
// attestations of a policy catalog.
func New(cat *rules.Catalog, opts ...Option) (*Mapper, error) {
	if cat == nil {
		return nil, fmt.Errorf("mapping: no policy catalog")
	}
	m := &Mapper{obsByCode: map[string]*obsRule{}, obsByFact: map[string]*obsRule{}, negCodes: map[string]bool{},
		posCodes: map[string]bool{}, snomed: map[string]string{}, prodByCode: map[string]*product{},
		facts: cat.Facts, attest: map[string]bool{}}
	b, _ := dataFS.ReadFile("codes.yaml")
	if err := decodeStrict("mapping/codes.yaml", b, &m.codes); err != nil {
		return nil, err
	}
	for _, r := range m.codes.Observations {
		if r.info = cat.Facts[r.Fact]; r.info == nil {
			return nil, fmt.Errorf("mapping/codes.yaml: unknown fact %q", r.Fact)
		}
		m.obsByFact[r.Fact] = r
		for _, c := range r.Codes {
			sys, code, _ := strings.Cut(c, "|")
			m.obsByCode[m.codeKey(sys, code)] = r
		}
		for _, c := range r.LogCodes {
			sys, code, _ := strings.Cut(c, "|")
			if r.logCodes == nil {
				r.logCodes = map[string]bool{}
			}
			r.logCodes[m.codeKey(sys, code)] = true
			m.obsByCode[m.codeKey(sys, code)] = r
		}
	}
	m.aliasFold = make(map[string]string, len(m.codes.UnitAliases))
	for k, a := range m.codes.UnitAliases {
		m.aliasFold[strings.ToLower(strings.TrimSpace(k))] = a
	}
	for lu, lin := range m.codes.LogUnits {
		found := false
		for _, r := range m.codes.Observations {
			if _, ok := r.Units[lin]; ok {
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("mapping/codes.yaml: log unit %q stands for %q, which no fact takes", lu, lin)
		}
	}
	for _, r := range m.codes.Observations {
		for unit, to := range r.Reroute {
			if t := m.obsByFact[to]; t == nil || t.Units[unit] == 0 {
				return nil, fmt.Errorf("mapping/codes.yaml: %s reroutes %q to %q, which does not take that unit", r.Fact, unit, to)
			}
		}
	}
	for _, c := range m.codes.Negative.Codes {
		sys, code, _ := strings.Cut(c, "|")
		m.negCodes[m.codeKey(sys, code)] = true
	}
	for _, c := range m.codes.Positive.Codes {
		sys, code, _ := strings.Cut(c, "|")
		m.posCodes[m.codeKey(sys, code)] = true
	}
	for _, c := range m.codes.Conditions {
		if cat.Facts[c.Fact] == nil {
			return nil, fmt.Errorf("mapping/codes.yaml: unknown condition fact %q", c.Fact)
		}
		for _, s := range c.Snomed {
			m.snomed[s] = c.Fact
		}
		for _, p := range c.ICD10 {
			m.icd = append(m.icd, icdPrefix{prefix: strings.ReplaceAll(p, ".", ""), fact: c.Fact})
		}
	}
	// Longest prefix first so D68.311 wins over D68.3.
	sort.Slice(m.icd, func(i, j int) bool { return len(m.icd[i].prefix) > len(m.icd[j].prefix) })
	b, _ = dataFS.ReadFile("products.yaml")
	if err := decodeStrict("mapping/products.yaml", b, &m.products); err != nil {
		return nil, err
	}
	for _, p := range m.products {
		for _, c := range p.Codes {
			sys, code, _ := strings.Cut(c, "|")
			m.prodByCode[m.codeKey(sys, code)] = p
		}
	}
	for _, a := range cat.Attestations {
		m.attest[a.LinkID] = true
	}
	if err := m.loadVocabulary(cat.Facts); err != nil {
		return nil, err
	}
	for _, o := range opts {
		if err := o(m); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// wantedTypes are the resource types the mapping reads whatever their codes.
// DiagnosticReports and DocumentReferences are read by the safety net;
// MedicationDispense by the products reader; a nested Bundle's entries are
// read like the outer bundle's.
var wantedTypes = map[string]bool{
	"Patient": true, "Condition": true, "QuestionnaireResponse": true, "MedicationRequest": true,
	"MedicationStatement": true, "MedicationAdministration": true, "MedicationDispense": true, "Medication": true,
	"Procedure": true, "Claim": true, "ExplanationOfBenefit": true, "PractitionerRole": true, "Practitioner": true,
	"ServiceRequest": true, "Coverage": true, "DiagnosticReport": true, "DocumentReference": true, "Bundle": true,
}

// Wants reports whether a resource is worth decoding fully, from its type and
// JSON: every resource of the types above, and the Observations that could be
// relevant — a recognised code at top level or in a component, a safety-net
// word in a code's text or displays or in a coded value, a value in a unit the
// safety net watches (Bethesda units, kPa), or contained resources. It reads
// the JSON with gjson, one pass over the top-level keys.
func (m *Mapper) Wants(resourceType string, raw []byte) bool {
	if wantedTypes[resourceType] {
		return true
	}
	if resourceType != "Observation" {
		// A type no reader reads and not known irrelevant: its words decide.
		return m.unreadType(resourceType) && m.anyWord(string(raw))
	}
	if len(raw) == 0 {
		return false
	}
	want := false
	gjson.ParseBytes(raw).ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "contained":
			want = true
		case "code", "valueCodeableConcept":
			want = m.wantsConcept(v)
		case "valueQuantity":
			want = m.wantsUnit(v)
		case "component":
			v.ForEach(func(_, cp gjson.Result) bool {
				want = m.wantsConcept(cp.Get("code")) || m.wantsConcept(cp.Get("valueCodeableConcept")) || m.wantsUnit(cp.Get("valueQuantity"))
				return !want
			})
		}
		return !want
	})
	return want
}

// wantsConcept: a recognised code, or safety-net words in text or displays.
func (m *Mapper) wantsConcept(cc gjson.Result) bool {
	if !cc.IsObject() {
		return false
	}
	var text strings.Builder
	found := false
	cc.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "text":
			text.WriteString(v.Str)
			text.WriteByte(' ')
		case "coding":
			v.ForEach(func(_, cd gjson.Result) bool {
				var sys, code string
				cd.ForEach(func(ck, cv gjson.Result) bool {
					switch ck.Str {
					case "system":
						sys = cv.Str
					case "code":
						code = cv.Str
					case "display":
						text.WriteString(cv.Str)
						text.WriteByte(' ')
					}
					return true
				})
				if m.obsByCode[m.codeKey(sys, code)] != nil {
					found = true
				}
				return !found
			})
		}
		return !found
	})
	return found || m.anyWord(text.String())
}

func (m *Mapper) wantsUnit(q gjson.Result) bool {
	if !q.IsObject() {
		return false
	}
	unit, _ := m.unitOfParts(q.Get("unit").Str, q.Get("system").Str, q.Get("code").Str)
	return len(m.factsByUnit(unit, "")) > 0
}

// Chart is one patient's mapped facts.
type Chart struct {
	Patient string      // reference of the patient, e.g. "Patient/pat-1"
	Facts   rules.Facts // documented values by fact name
	Read    map[string]int
	Ignored int // resources skipped for status, subject or code

	// Unreadable counts resources that are relevant but could not be read:
	// each made the facts it could affect unknown.
	Unreadable int
	// Excluded lists resources that are not about this patient, or cannot be
	// attributed to them and gave no fact: "Observation/x: subject is Patient/other".
	Excluded []string
}

// MapOption adjusts one Map call.
type MapOption func(*mapCall)

// ForPatient picks the patient by id when the bundle holds several.
func ForPatient(id string) MapOption { return func(c *mapCall) { c.patientID = id } }

// Map reads the bundle's entries into facts about its patient.
func (m *Mapper) Map(b *bcrpb.Bundle, opts ...MapOption) (*Chart, error) {
	c := &mapCall{m: m, chart: &Chart{Facts: rules.Facts{}, Read: map[string]int{}}}
	for _, o := range opts {
		o(c)
	}
	c.index(b)
	if err := c.pickPatient(); err != nil {
		return nil, err
	}
	c.mapAll()
	c.chart.Facts.Sort()
	return c.chart, nil
}

// LabCode is an Observation code the tables route to a fact.
type LabCode struct {
	System, Code, Fact string
}

// LabCodes lists every Observation code the mapper recognises (including the
// site code map), for building searches and CDS prefetch templates.
func (m *Mapper) LabCodes() []LabCode {
	out := make([]LabCode, 0, len(m.obsByCode))
	for k, r := range m.obsByCode {
		sys, code, _ := strings.Cut(k, "|")
		if sys == "local" {
			sys = m.codes.LocalSystem
		}
		out = append(out, LabCode{System: sys, Code: code, Fact: r.Fact})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Fact != out[j].Fact {
			return out[i].Fact < out[j].Fact
		}
		return out[i].System+out[i].Code < out[j].System+out[j].Code
	})
	return out
}

// factResources says which resource types carry each non-lab fact; lab facts
// come from Observations (LabCodes).
var factResources = map[string][]string{
	"sex": {"Patient"}, "birth_date": {"Patient"},
	"prior_gene_therapy": {"MedicationRequest", "MedicationStatement", "MedicationAdministration", "MedicationDispense", "Procedure", "Claim", "ExplanationOfBenefit"},
	"deceased":           {"Patient"},
	"factor_prophylaxis": {"MedicationRequest", "MedicationStatement"},
	"antiviral_therapy":  {"MedicationRequest", "MedicationStatement"},
	"requested_drug":     {"MedicationRequest", "ServiceRequest"},
	// The prescriber is found through the order's requester.
	"prescriber_specialty": {"MedicationRequest", "ServiceRequest", "PractitionerRole"},
}

// ResourceTypesFor lists the non-Observation resource types that carry the
// given facts (diagnoses come from Condition, attestations from
// QuestionnaireResponse), sorted.
func (m *Mapper) ResourceTypesFor(facts []string) []string {
	set := map[string]bool{"Patient": true}
	for _, f := range facts {
		switch {
		case strings.HasPrefix(f, "attest:"):
			set["QuestionnaireResponse"] = true
		case m.facts[f] != nil && m.facts[f].Kind == rules.KindCondition:
			// Claims and EOBs carry diagnoses too (histories).
			set["Condition"], set["Claim"], set["ExplanationOfBenefit"] = true, true, true
		default:
			for _, t := range factResources[f] {
				set[t] = true
			}
		}
	}
	out := make([]string, 0, len(set))
	for t := range set {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// Gap is a part of the record that should have been read but was not (a
// search that could not be run, a prefetch key the EHR did not send): every
// fact resources of that type carry becomes unreadable, so nothing is
// decided as if the part were empty.
type Gap struct {
	ResourceType string // e.g. "ExplanationOfBenefit"
	Source       string // how the missing lines name it, e.g. "prefetch claims"
	Problem      string // the end of the line `<Source> <Problem>`
}

// WithGaps records parts of the record that could not be read.
func WithGaps(gaps ...Gap) MapOption { return func(c *mapCall) { c.gaps = append(c.gaps, gaps...) } }

// FactsCarriedBy lists the facts resources of a type can carry, sorted.
func (m *Mapper) FactsCarriedBy(resourceType string) []string {
	set := map[string]bool{}
	for f, types := range factResources {
		if contains(types, resourceType) {
			set[f] = true
		}
	}
	for name, info := range m.facts {
		switch {
		case info.Kind == rules.KindCondition && (resourceType == "Condition" || resourceType == "Claim" || resourceType == "ExplanationOfBenefit"):
			set[name] = true
		case info.Kind == rules.KindAttestation && resourceType == "QuestionnaireResponse":
			set[name] = true
		}
	}
	if resourceType == "Observation" || resourceType == "DiagnosticReport" || resourceType == "DocumentReference" {
		for f := range m.obsByFact {
			set[f] = true
		}
	}
	out := make([]string, 0, len(set))
	for f := range set {
		out = append(out, f)
	}
	sort.Strings(out)
	return out
}

// addGaps makes the facts of every part of the record that was not read unreadable.
func (c *mapCall) addGaps() {
	for _, g := range c.gaps {
		for _, f := range c.m.FactsCarriedBy(g.ResourceType) {
			c.add(f, rules.Value{Source: g.Source, Problem: g.Problem})
		}
	}
}

package mapping

import (
	"embed"
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"

	"hemopa/rules"
)

//go:embed codes.yaml products.yaml vocabulary.yaml
var dataFS embed.FS

type obsRule struct {
	Fact      string             `yaml:"fact"`
	Codes     []string           `yaml:"codes"`
	Units     map[string]float64 `yaml:"units"`
	Reroute   map[string]string  `yaml:"reroute"`
	Plausible []float64          `yaml:"plausible"`
	// Usual is the usual adult reference interval, used only to judge a
	// result's own low/high flag when the result carries no reference range.
	Usual []float64 `yaml:"usual"`
	// LogCodes are codes whose values are log10 (e.g. LOINC 29541-0): their
	// unit must be one of log_units, never a linear one.
	LogCodes []string `yaml:"log_codes"`

	info     *rules.FactInfo
	logCodes map[string]bool
}

type conditionRule struct {
	Fact   string   `yaml:"fact"`
	Snomed []string `yaml:"snomed"`
	ICD10  []string `yaml:"icd10"`
	Claims string   `yaml:"claims"` // positive | history: how a claim's diagnosis reads (condition.go)
}

type codeTable struct {
	LocalSystem     string            `yaml:"local_system"`
	UnitAliases     map[string]string `yaml:"unit_aliases"`
	LogUnits        map[string]string `yaml:"log_units"` // log10 unit → the linear unit it stands for
	Observations    []*obsRule        `yaml:"observations"`
	Negative        qualSet           `yaml:"negative"`
	Positive        qualSet           `yaml:"positive"`
	FibrosisStages  []string          `yaml:"fibrosis_stages"`
	Conditions      []conditionRule   `yaml:"conditions"`
	SpecialtySystem string            `yaml:"specialty_system"`
}

type qualSet struct {
	Codes []string `yaml:"codes"`
	Words []string `yaml:"words"`
}

type product struct {
	Name        string   `yaml:"name"`
	Role        string   `yaml:"role"`
	Codes       []string `yaml:"codes"`
	NDCPrefixes []string `yaml:"ndc_prefixes"`
	Names       []string `yaml:"names"`
	UnlessNames []string `yaml:"unless_names"`
}

// CodeMap maps a site's local codes to facts (the --codemap file).
type CodeMap struct {
	Observations []struct {
		System string `yaml:"system" json:"system"`
		Code   string `yaml:"code" json:"code"`
		Fact   string `yaml:"fact" json:"fact"`
	} `yaml:"observations" json:"observations"`
}

func decodeStrict(name string, data []byte, v any) error {
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// codeKey is the lookup key of a coding: "system|code" with well-known systems
// shortened (hcpcs, rxnorm, ndc, local) so spelling variants match.
func (m *Mapper) codeKey(system, code string) string {
	return shortSystem(system, m.codes.LocalSystem) + "|" + strings.TrimSpace(code)
}

func shortSystem(system, local string) string {
	s := strings.ToLower(strings.TrimSpace(system))
	switch {
	case system == local:
		return "local"
	case strings.Contains(s, "hcpcs") || s == "urn:oid:2.16.840.1.113883.6.285":
		return "hcpcs"
	case strings.Contains(s, "rxnorm") || s == "urn:oid:2.16.840.1.113883.6.88":
		return "rxnorm"
	case strings.HasSuffix(s, "/ndc") || s == "urn:oid:2.16.840.1.113883.6.69":
		return "ndc"
	case s == "http://snomed.info/sct" || s == "urn:oid:2.16.840.1.113883.6.96":
		return "sct"
	case strings.Contains(s, "icd-10") || s == "urn:oid:2.16.840.1.113883.6.90":
		return "icd10"
	}
	return system
}

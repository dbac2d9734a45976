package rules

import (
	"sync/atomic"
	"time"
)

// FactInfo describes a fact a policy may read.
type FactInfo struct {
	Name       string  `yaml:"name"`
	Kind       Kind    `yaml:"kind"`
	Label      string  `yaml:"label"`
	Unit       string  `yaml:"unit"`
	PositiveAt float64 `yaml:"positive_at"`
	// Multi marks a set-valued coded fact (a prescriber's specialties): values
	// on one day that differ do not disagree, any matching one counts.
	Multi bool `yaml:"multi"`
	// UnitText is how a number in Unit reads in reasons, spacing included
	// (" × 10⁹/L", "%", "" for a titer); nil: a space and the unit.
	UnitText *string `yaml:"unit_text"`
}

// Attestation is one question only the prescriber can answer.
type Attestation struct {
	LinkID string `yaml:"link_id"`
	Text   string `yaml:"text"`
}

// KitRow is one row of a kit table.
type KitRow struct {
	MinKg    float64 `yaml:"min_kg"`
	MaxKg    float64 `yaml:"max_kg"`
	Vials    int     `yaml:"vials"`
	VolumeML float64 `yaml:"volume_ml"`
	NDC      string  `yaml:"ndc"`
}

// KitTable maps body weight to a packaged kit.
type KitTable struct {
	Citation string   `yaml:"citation"`
	Rows     []KitRow `yaml:"rows"`
}

// Policy is a compiled payer policy.
type Policy struct {
	ID           string
	Title        string
	Payer        string
	Drugs        []string
	Source       string // policy document file name
	Effective    string
	Revised      string
	ApprovalDays int // 0: the policy sets none
	Review       string
	Dose         *DoseRule
	Criteria     []*Criterion
	File         string // the policy file, for lint messages

	nodes int       // criteria nodes in all trees, to size an evaluation's arena
	units unitTexts // the catalog's unit texts
}

// Version is the policy's revision date, the version used in identifiers.
func (p *Policy) Version() string { return p.Revised }

// DoseRule is the weight-based dose of a policy's drug.
type DoseRule struct {
	VGPerKg  float64 `yaml:"vg_per_kg"`
	VGPerML  float64 `yaml:"vg_per_ml"`
	Kits     string  `yaml:"kits"`
	Window   string  `yaml:"window"`
	Citation string  `yaml:"citation"`

	window Window
	kits   *KitTable
}

// Criterion is one node of a policy's criteria tree.
type Criterion struct {
	ID            string // dotted path from the top, e.g. "1.F.ii"
	Label         string // the policy's own label, e.g. "ii"
	Text          string
	Citation      string
	Documentation string
	Need          string // what to ask for when unknown (default: generated)
	// OnFail is what a not-met result means: Deny (the default), NotCovered,
	// or Pend ("on_fail: unknown": the criterion is unknown instead, and Need
	// says what to confirm).
	OnFail   Decision
	Op       Op // all, any, not, screen or check
	Children []*Criterion
	Check    *Check
	Line     int

	// Composite reasons for the common single-child outcomes, prepared once.
	metBy, notMetBy, unknownBy, blockedBy []string
	// canFail: the criterion can come out not met. One that cannot (every
	// failure only fails to rule out) never blocks a screen, whatever it reads.
	canFail bool
}

// maxChildren bounds a composite's children (the engine tracks them in a bitmask).
const maxChildren = 64

// Check is a leaf test of a criterion.
type Check struct {
	Fact       string
	Attest     string
	Evidence   []*Check
	Window     Window
	Select     Select     // latest (default) or lowest
	Op         Comparison // <, <=, >, >=
	Value      *float64
	ULN        float64
	Is         Is     // present, absent, undocumented, negative, positive, not-detected, never-positive, policy-drug, true, false
	OnPositive string // with is: negative, not-detected, undocumented — "unknown" when a positive only fails to rule out
	Ever       bool   // condition/event facts: a resolved or inactive value (Negative) counts as documented too
	Cutoff     *float64
	Equals     string
	In         []string
	Dose       bool
	Always     string // not-met: the policy covers no case
	Line       int

	info    *FactInfo
	limit   string  // " 50 × 10⁹/L" for a value threshold, prepared once
	none    string  // "no platelet count", prepared once
	factKey string  // the fact read: Fact, or the attestation's fact name
	family  *family // how it is evaluated
	texts   atomic.Pointer[dayTexts]
}

// dayTexts are a check's texts that depend only on the as-of day, kept for
// the next evaluation on the same day.
type dayTexts struct {
	day        time.Time
	noneReason string // "no platelet count dated on or after 2026-10-25"
	need       string // "Platelet count dated on or after 2026-10-25"
}

// prepare builds the check's texts that do not depend on the as-of day.
func (ck *Check) prepare(units unitTexts) {
	if ck.Value != nil && ck.info != nil {
		ck.limit = fmtNum(*ck.Value) + units.suffix(ck.info.Unit)
	}
	if ck.info != nil {
		ck.none = "no " + lower(ck.info.Label)
	}
	ck.factKey = ck.Fact
	if ck.Attest != "" {
		ck.factKey = AttestationFact(ck.Attest)
	}
}

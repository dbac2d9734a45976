package rules

import (
	"sort"
	"time"
)

// Flag is the qualitative reading of a result.
type Flag int8

// Qualitative readings.
const (
	NoFlag   Flag = iota // not read qualitatively
	Negative             // negative, not detected, resolved, answered "no"
	Positive             // positive, detected, active, answered "yes"
)

func (f Flag) String() string {
	switch f {
	case Negative:
		return "negative"
	case Positive:
		return "positive"
	}
	return ""
}

// Value is one documented fact: a lab result, a diagnosis, an answer, an event.
// Num is in the fact's canonical unit (see FactInfo.Unit); ULN, when known, is in
// the same unit. Problem, when set, says why the value cannot be read (for
// example an unknown unit); such a value never satisfies a criterion.
type Value struct {
	Num        float64   `json:"num,omitempty"`
	HasNum     bool      `json:"has_num,omitempty"`
	Comparator string    `json:"comparator,omitempty"` // "<", "<=", ">", ">=" or ""
	Unit       string    `json:"unit,omitempty"`
	Flag       Flag      `json:"flag,omitempty"`
	Code       string    `json:"code,omitempty"`
	ULN        float64   `json:"uln,omitempty"`
	Date       time.Time `json:"date,omitzero"`
	Source     string    `json:"source,omitempty"` // e.g. "Observation/fix-1"
	Problem    string    `json:"problem,omitempty"`

	// Text is what the record calls the item (code.text or a display, e.g.
	// "Liver stiffness"), so a reviewer can find it; set on unreadable values.
	Text string `json:"text,omitempty"`
	// Until, when set, is the last day Date may stand for: a partial date
	// ("1990" or "1990-05") covers Date..Until.
	Until time.Time `json:"until,omitzero"`
}

// Readable reports whether the value can be used by a criterion. An unreadable
// value is relevant evidence that could not be read: it makes every criterion
// that reads its fact unknown unless a readable value settles it safely.
func (v Value) Readable() bool { return v.Problem == "" }

// Facts is the criteria model of one patient: documented values by fact name.
// Attestation answers are stored under AttestationFact(linkID).
type Facts map[string][]Value

// Add records a value for a fact.
func (f Facts) Add(name string, v Value) { f[name] = append(f[name], v) }

// Sort orders every fact's values newest first (undated last), so output and
// evidence lists are stable whatever order the resources arrived in.
func (f Facts) Sort() {
	for _, vs := range f {
		sort.SliceStable(vs, func(i, j int) bool {
			if !vs[i].Date.Equal(vs[j].Date) {
				return vs[i].Date.After(vs[j].Date)
			}
			return vs[i].Source < vs[j].Source
		})
	}
}

// AttestationFact is the fact name under which the answer to the attestation
// question linkID is stored.
func AttestationFact(linkID string) string { return "attest:" + linkID }

// Result is the three-valued outcome of a criterion.
type Result int8

// Criterion outcomes.
const (
	Unknown Result = iota
	Met
	NotMet
)

func (r Result) String() string {
	switch r {
	case Met:
		return "met"
	case NotMet:
		return "not-met"
	}
	return "unknown"
}

// MarshalText renders met, not-met or unknown.
func (r Result) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// Decision is the determination of a request under a policy.
type Decision string

// Decisions, by precedence: NotCovered > Deny > Pend > Approve.
const (
	Approve    Decision = "approve"
	Pend       Decision = "pend"
	Deny       Decision = "deny"
	NotCovered Decision = "not-covered"
)

// Determination is the outcome of one policy for one patient, with the evidence
// for every criterion. Its JSON form is the CLI's and the service's output.
type Determination struct {
	Policy        string            `json:"policy"`
	PolicyVersion string            `json:"policy_version"`
	Title         string            `json:"title"`
	Drug          string            `json:"drug"`
	AsOf          string            `json:"as_of"`
	Decision      Decision          `json:"decision"`
	Review        string            `json:"review"`
	ApprovalDays  *int              `json:"approval_days"`
	Criteria      []CriterionResult `json:"criteria"`
	Missing       []string          `json:"missing"`
	Dose          *Dose             `json:"dose"`

	// Needs pairs each missing item with the criterion and, where a prescriber
	// attestation would answer it, the attestation linkId (for DTR forms).
	Needs []Need `json:"-"`
}

// CriterionResult is one evaluated criterion.
type CriterionResult struct {
	ID       string            `json:"id"`
	Text     string            `json:"text"`
	Result   Result            `json:"result"`
	Reason   string            `json:"reason"`
	Evidence []string          `json:"evidence"`
	Citation string            `json:"citation"`
	Children []CriterionResult `json:"children"`

	// Op is how the children combine: all, any, screen, not (check for a leaf).
	Op Op `json:"-"`
}

// Need is one piece of documentation still missing.
type Need struct {
	Criterion string // dotted criterion id
	Text      string // what is needed
	LinkIDs   []string

	unreadable bool // asks again for a value on record that could not be read
}

// Dose is the weight-based dose of the drug.
type Dose struct {
	WeightKg      float64 `json:"weight_kg"`
	VectorGenomes float64 `json:"vector_genomes"`
	VolumeML      float64 `json:"volume_ml"`
	Kit           *Kit    `json:"kit"`
}

// Kit is the packaged kit for a weight (Hemgenix Table 1).
type Kit struct {
	NDC   string `json:"ndc"`
	Vials int    `json:"vials"`
}

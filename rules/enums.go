package rules

// The words of the policy language are typed strings: a policy file's YAML
// decodes into them unchanged, their JSON and text forms are the words
// themselves, and a comparison with a misspelt constant or with another
// enum's value does not compile. Zero values are the defaults ("" Select is
// the latest value).

// Op is how a criterion combines its children, or "check" for a leaf.
type Op string

// Criterion ops.
const (
	OpAll    Op = "all"    // every child is met
	OpAny    Op = "any"    // one child is met
	OpScreen Op = "screen" // a rule-out: evidence against decides, a met child rules it out
	OpNot    Op = "not"    // the one child is not met
	OpCheck  Op = "check"  // a leaf: Criterion.Check
)

// criterionOps are the criterion ops in the order a policy file's keys are read.
var criterionOps = []Op{OpAll, OpAny, OpScreen, OpNot, OpCheck}

// Comparison is a numeric check's test of a value against its threshold.
type Comparison string

// Comparisons.
const (
	Below   Comparison = "<"
	AtMost  Comparison = "<="
	Above   Comparison = ">"
	AtLeast Comparison = ">="
)

// valid reports one of <, <=, >, >=.
func (c Comparison) valid() bool {
	switch c {
	case Below, AtMost, Above, AtLeast:
		return true
	}
	return false
}

// Kind is what sort of value a fact holds (facts.yaml explains each).
type Kind string

// Fact kinds.
const (
	KindQuantity    Kind = "quantity"    // a number in the fact's unit
	KindTiter       Kind = "titer"       // a reciprocal dilution, or coded only
	KindResult      Kind = "result"      // qualitative only
	KindCode        Kind = "code"        // a coded value
	KindCondition   Kind = "condition"   // a diagnosis (positive active, negative resolved)
	KindEvent       Kind = "event"       // something that happened or is ongoing
	KindDate        Kind = "date"        // a date (birth date)
	KindAge         Kind = "age"         // derived from birth_date and the as-of day
	KindAttestation Kind = "attestation" // a prescriber's answer (attestations.yaml)
)

// Select is which value of a window a numeric check reads.
type Select string

// Selections.
const (
	SelectLatest Select = "latest" // the newest value (also "")
	SelectLowest Select = "lowest" // the lowest value (a baseline)
)

// Is is the qualitative test of a check: what the record must show.
type Is string

// Qualitative tests, in the order lint messages list them.
const (
	IsPresent       Is = "present"        // a value (or an active diagnosis) is on record
	IsAbsent        Is = "absent"         // a diagnosis or event is not on record (never met)
	IsUndocumented  Is = "undocumented"   // nothing of the kind on record, nothing unreadable
	IsNegative      Is = "negative"       // the newest reading is negative
	IsPositive      Is = "positive"       // the newest reading is positive
	IsNotDetected   Is = "not-detected"   // the newest result is below the assay's limit
	IsNeverPositive Is = "never-positive" // no positive ever
	IsPolicyDrug    Is = "policy-drug"    // the order names one of the policy's drugs
	IsTrue          Is = "true"           // an attestation answered yes
	IsFalse         Is = "false"          // an attestation answered no
)

// factIs are the tests of a fact check, as lint messages list them.
var factIs = []Is{IsPresent, IsAbsent, IsUndocumented, IsNegative, IsPositive, IsNotDetected, IsNeverPositive, IsPolicyDrug}

// PositiveUnknown is Check.OnPositive's one value: a positive only fails to
// rule out, it does not fail the check.
const PositiveUnknown = "unknown"

package davinci

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"hemopa/rules"
)

// CoverageInfoURL is the CRD coverage-information extension (CRD 2.2).
const CoverageInfoURL = "http://hl7.org/fhir/us/davinci-crd/StructureDefinition/ext-coverage-information"

// Codes of the coverage-information sub-extensions used by the product.
const (
	Covered       = "covered"
	NotCovered    = "not-covered"
	Conditional   = "conditional"
	Indeterminate = "indeterminate"

	AuthNeeded = "auth-needed"
	NoAuth     = "no-auth"
	Satisfied  = "satisfied"

	DocClinical = "clinical"
	DocWithPA   = "withpa"

	// InfoOther is v3 NullFlavor OTH from the CRD InformationNeeded value set:
	// none of performer, location, timeframe, contract-window or detail-code
	// is what is missing — clinical documentation is.
	InfoOther = "OTH"
)

// CoverageInfo is one CRD coverage assertion about one order and one
// Coverage: the sub-extensions of ext-coverage-information.
type CoverageInfo struct {
	Coverage       string   // reference, e.g. "Coverage/cov-1" (required)
	Covered        string   // covered | not-covered | conditional | indeterminate (required)
	PANeeded       string   // auth-needed | no-auth | satisfied | … ("" when not-covered)
	DocNeeded      string   // clinical | admin | patient | conditional | indeterminate, or ""
	DocPurpose     []string // withpa | withclaim | withorder | retain-doc | OTH
	InfoNeeded     []string // performer | location | timeframe | contract-window | detail-code | OTH
	Reasons        []string // shown as reason.valueCodeableConcept.text
	Details        []Detail // detail name-value pairs (at least one with info-needed OTH)
	BillingCodes   []string // HCPCS codes the claim must use for the assertion to hold
	Questionnaires []string // canonical URLs (only with DocNeeded)
	Date           string   // YYYY-MM-DD (required)
	AssertionID    string   // coverage-assertion-id (required)
	SatisfiedPAID  string   // only with PANeeded = satisfied
}

// Detail is one coverage-information detail: a named value qualifying the
// assertion. It is rendered with category cat-other (it neither limits the
// coverage statement nor weighs on the decision to treat: it says what to do)
// and code instructions of the CRD coverage-detail code system, Code as the
// code's text and Value as a string.
type Detail struct{ Code, Value string }

// detailCodeSystem is the code system of coverage-information detail codes
// (the category's codes are CRD's coverage-information-codes, given as a
// bare code).
const detailCodeSystem = "http://terminology.hl7.org/CodeSystem/crd-coverage-detail"

// Validate checks the required sub-extensions and the IG invariants:
// not-covered forbids pa-needed (and any other covered value requires it);
// conditional requires info-needed, and info-needed requires something
// conditional; satisfied ⇔ satisfied-pa-id; indeterminate requires a reason;
// a questionnaire requires doc-needed.
func (c *CoverageInfo) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Coverage == "" {
		bad("coverage is required")
	}
	if c.Date == "" || c.AssertionID == "" {
		bad("date and coverage-assertion-id are required")
	}
	if !slices.Contains([]string{Covered, NotCovered, Conditional, Indeterminate}, c.Covered) {
		bad("covered %q is not covered, not-covered, conditional or indeterminate", c.Covered)
	}
	switch {
	case c.Covered == NotCovered && c.PANeeded != "":
		bad("not-covered forbids pa-needed")
	case c.Covered != NotCovered && c.PANeeded == "":
		bad("covered %q requires pa-needed", c.Covered)
	}
	conditional := c.Covered == Conditional || c.PANeeded == Conditional || c.DocNeeded == Conditional
	if conditional && len(c.InfoNeeded) == 0 {
		bad("conditional requires info-needed")
	}
	if len(c.InfoNeeded) > 0 && !conditional {
		bad("info-needed requires covered, pa-needed or doc-needed to be conditional")
	}
	if (c.PANeeded == Satisfied) != (c.SatisfiedPAID != "") {
		bad("satisfied-pa-id goes with pa-needed satisfied, and only with it")
	}
	indeterminate := c.Covered == Indeterminate || c.PANeeded == Indeterminate || c.DocNeeded == Indeterminate
	if indeterminate && len(c.Reasons) == 0 {
		bad("indeterminate requires a reason")
	}
	if len(c.Questionnaires) > 0 && c.DocNeeded == "" {
		bad("questionnaire requires doc-needed")
	}
	if slices.Contains(c.InfoNeeded, InfoOther) && len(c.Details) == 0 {
		bad("info-needed OTH requires a detail saying what is needed")
	}
	if slices.Contains(c.InfoNeeded, InfoOther) && len(c.Reasons) == 0 {
		bad("info-needed OTH requires a reason (crd-ci-q6)")
	}
	if len(c.DocPurpose) > 0 && len(c.Reasons) == 0 {
		bad("doc-purpose requires a reason (crd-ci-q8)")
	}
	if (c.PANeeded == Satisfied || c.PANeeded == NoAuth) && slices.Contains(c.DocPurpose, DocWithPA) {
		bad("doc-purpose withpa with no prior authorization to go with (crd-ci-q4)")
	}
	for _, d := range c.Details {
		if d.Code == "" || d.Value == "" {
			bad("a detail needs a code and a value")
		}
	}
	if len(c.DocPurpose) > 0 && c.DocNeeded == "" {
		bad("doc-purpose requires doc-needed")
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("coverage-information: %w", err)
	}
	return nil
}

// Extension renders the assertion as the ext-coverage-information extension.
func (c *CoverageInfo) Extension() *Object {
	var subs []any
	add := func(url, key string, v any) { subs = append(subs, O("url", url, key, v)) }
	add("coverage", "valueReference", O("reference", c.Coverage))
	add("covered", "valueCode", c.Covered)
	if c.PANeeded != "" {
		add("pa-needed", "valueCode", c.PANeeded)
	}
	if c.DocNeeded != "" {
		add("doc-needed", "valueCode", c.DocNeeded)
	}
	for _, p := range c.DocPurpose {
		add("doc-purpose", "valueCode", p)
	}
	for _, i := range c.InfoNeeded {
		add("info-needed", "valueCode", i)
	}
	for _, code := range c.BillingCodes {
		add("billingCode", "valueCoding", O("system", HCPCSSystem, "code", code))
	}
	for _, r := range c.Reasons {
		add("reason", "valueCodeableConcept", O("text", r))
	}
	for _, d := range c.Details {
		subs = append(subs, O("url", "detail", "extension", A(
			O("url", "category", "valueCode", "cat-other"),
			O("url", "code", "valueCodeableConcept", O("coding", A(O("system", detailCodeSystem, "code", "instructions")), "text", d.Code)),
			O("url", "value", "valueString", d.Value))))
	}
	for _, q := range c.Questionnaires {
		add("questionnaire", "valueCanonical", q)
	}
	add("date", "valueDate", c.Date)
	add("coverage-assertion-id", "valueString", c.AssertionID)
	if c.SatisfiedPAID != "" {
		add("satisfied-pa-id", "valueString", c.SatisfiedPAID)
	}
	return O("url", CoverageInfoURL, "extension", subs)
}

// HCPCSSystem is the code system of HCPCS Level II codes.
const HCPCSSystem = "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"

// AssertionInput is what CoverageInfoFor needs besides the determination.
type AssertionInput struct {
	// BillingCode is the drug's HCPCS code (J1411 …), named as the code the
	// claim must use wherever the order is not not-covered; "" for none.
	BillingCode string
	Coverage    string // Coverage reference
	AssertionID string // e.g. Key(patient, det, facts)
	// AskDocumentation is false on secondary hooks (order-select): no
	// doc-needed and no questionnaire, whatever is missing.
	AskDocumentation bool
}

// QuestionnaireCanonical is the version-specific canonical of the attestation
// Questionnaire.
const QuestionnaireCanonical = QuestionnaireURL + "|" + QuestionnaireVersion

// QuestionnaireVersion is the version of the attestation Questionnaire.
const QuestionnaireVersion = "1.0.0"

// CoverageInfoFor maps a determination to a CRD coverage assertion:
//
//   - approve: covered, auth-needed (the product decides through PAS, so a
//     PA is still required; the engine predicts approval). crd turns it into
//     satisfied where the payer authorizes at order time (crd/authorize.go).
//   - pend: conditional, auth-needed, info-needed OTH, reason "N items of
//     documentation needed"; on primary hooks also doc-needed clinical,
//     doc-purpose withpa and the attestation Questionnaire.
//   - deny: conditional, auth-needed, info-needed OTH, reason naming the
//     criteria the record fails — coverage depends on facts that would have
//     to change (new labs, another prescriber), so neither covered nor
//     not-covered. No questionnaire: nothing is missing, and a form cannot
//     fix a failed criterion.
//   - not-covered: not-covered (no pa-needed), reason naming the exclusion.
func CoverageInfoFor(det *rules.Determination, in AssertionInput) *CoverageInfo {
	ci := &CoverageInfo{Coverage: in.Coverage, Date: det.AsOf, AssertionID: in.AssertionID}
	switch det.Decision {
	case rules.Approve:
		ci.Covered, ci.PANeeded = Covered, AuthNeeded
	case rules.Pend:
		ci.Covered, ci.PANeeded, ci.InfoNeeded = Conditional, AuthNeeded, []string{InfoOther}
		ci.Reasons = []string{plural(len(det.Missing), "item") + " of documentation needed to decide under " + det.Policy}
		needed := strings.Join(det.Missing, "; ")
		if needed == "" {
			needed = "documentation the policy requires (see the payer's requirements)"
		}
		ci.Details = []Detail{{Code: "Documentation needed", Value: clipText(needed, 1000)}}
		if in.AskDocumentation {
			ci.DocNeeded, ci.DocPurpose = DocClinical, []string{DocWithPA}
			ci.Questionnaires = []string{QuestionnaireCanonical}
		}
	case rules.Deny:
		ci.Covered, ci.PANeeded, ci.InfoNeeded = Conditional, AuthNeeded, []string{InfoOther}
		ci.Reasons = []string{"Predicted denial under " + det.Policy + ": " + failedList(det)}
		ci.Details = []Detail{{Code: "Criteria not met", Value: clipText(failedList(det), 1000)}}
	default: // not-covered
		ci.Covered = NotCovered
		ci.Reasons = []string{"Not covered under " + det.Policy + ": " + failedList(det)}
	}
	if in.BillingCode != "" && ci.Covered != NotCovered {
		ci.BillingCodes = []string{in.BillingCode}
	}
	return ci
}

// failedList names the deepest failed criteria, e.g. "1.I.i (ALT ≤ 2 × ULN …)".
func failedList(det *rules.Determination) string {
	var parts []string
	for _, f := range Failed(det) {
		parts = append(parts, f.ID+" ("+f.Text+")")
	}
	if len(parts) == 0 {
		return "criteria not met"
	}
	return strings.Join(parts, "; ")
}

// clipText shortens s to at most n bytes on a rune boundary, marking the cut.
func clipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

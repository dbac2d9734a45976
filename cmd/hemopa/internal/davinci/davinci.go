package davinci

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"time"

	"hemopa/rules"
)

// Systems and canonical URLs of the product.
const (
	IdentifierSystem   = "http://hemopa.org/fhir/sid/determination"
	QuestionnaireURL   = "http://hemopa.org/fhir/Questionnaire/hemopa-attestations"
	CriteriaURLPrefix  = "http://hemopa.org/fhir/Questionnaire/hemopa-criteria-"
	ResultSystem       = "http://hemopa.org/fhir/CodeSystem/criterion-result"
	ReviewActionURL    = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/extension-reviewAction"
	ReviewActionCode   = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/extension-reviewActionCode"
	X12ReviewAction    = "https://codesystem.x12.org/005010/306"
	PASClaimResponse   = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/profile-claimresponse"
	AdjudicationSystem = "http://terminology.hl7.org/CodeSystem/adjudication"
)

// Subject is what a determination is about, for the resources that carry it.
type Subject struct {
	Patient   string // reference, e.g. "Patient/pat-1"
	Claim     string // the PAS Claim being answered, if any (reference)
	Items     []int  // Claim.item.sequence values adjudicated (default: 1)
	Insurer   string // insurer reference or display
	Created   time.Time
	Requestor string // provider reference, if known
}

// Key is the determination's business identifier: a digest of the patient,
// the policy and its version, and the evaluated inputs (facts and as-of day).
// The same inputs give the same key, so a conditional create on it never
// duplicates a write-back.
func Key(patient string, det *rules.Determination, facts rules.Facts) string {
	h := sha256.New()
	for _, s := range []string{patient, det.Policy, det.PolicyVersion, det.AsOf} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	b, _ := json.Marshal(facts) // map keys are sorted; values are sorted by Facts.Sort
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// PreAuthRef is the short authorization number derived from a key.
func PreAuthRef(key string) string { return "HEMOPA-" + strings.ToUpper(key[:12]) }

// ReviewAction maps a decision to the X12 306 review action code.
func ReviewAction(d rules.Decision) (code, display string) {
	switch d {
	case rules.Approve:
		return "A1", "Certified in total"
	case rules.Pend:
		return "A4", "Pended"
	}
	return "A3", "Not Certified"
}

func identifier(key, suffix string) []any {
	return A(O("system", IdentifierSystem, "value", key+suffix))
}

func ref(r string) *Object {
	if r == "" {
		return nil
	}
	if strings.Contains(r, "/") || strings.HasPrefix(r, "urn:") {
		return O("reference", r)
	}
	return O("display", r)
}

// ClaimResponse renders one determination (the write-back of a live
// evaluation) through the same PAS renderer as Claim/$submit: every item of
// s.Items (default 1) carries the decision's review action, outcome is
// complete or partial (never queued), preAuthPeriod comes with an approval,
// reasons are process notes. The resource has no id — it is written with a
// conditional create on its identifier (key).
func ClaimResponse(det *rules.Determination, s Subject, key string) *Object {
	seqs := s.Items
	if len(seqs) == 0 {
		seqs = []int{1}
	}
	items := make([]PASItem, 0, len(seqs))
	for _, seq := range seqs {
		items = append(items, PASItem{Sequence: seq, Det: det})
	}
	if s.Insurer == "" {
		s.Insurer = det.Title // ClaimResponse.insurer is required; the policy names the payer
	}
	cr := PASResponse{ID: key, Subject: s, Request: ref(s.Claim), PreAuthRef: PreAuthRef(key), AsOf: det.AsOf, Items: items}.ClaimResponse()
	cr.Delete("id")
	return cr
}

// Disposition is a one-line summary of the decision.
func Disposition(det *rules.Determination) string {
	switch det.Decision {
	case rules.Approve:
		return det.Drug + ": approved under " + det.Policy
	case rules.Pend:
		return det.Drug + ": pended — " + plural(len(det.Missing), "item") + " of documentation needed"
	case rules.NotCovered:
		return det.Drug + ": not covered under " + det.Policy
	}
	return det.Drug + ": denied under " + det.Policy
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return itoa(n) + " " + word + "s"
}

// ProcessNotes lists why: each failed criterion (deny, not covered) and each
// missing document (pend), one note each.
func ProcessNotes(det *rules.Determination) []any {
	var notes []any
	n := 0
	add := func(text string) {
		n++
		notes = append(notes, O("number", n, "type", "display", "text", text))
	}
	for _, f := range Failed(det) {
		add(f.ID + " not met: " + f.Text + " — " + f.Reason)
	}
	for _, m := range det.Missing {
		add("Needed: " + m)
	}
	return notes
}

// Failed returns the deepest not-met criteria (the ones that explain a denial).
func Failed(det *rules.Determination) []rules.CriterionResult {
	var out []rules.CriterionResult
	var walk func(c rules.CriterionResult)
	walk = func(c rules.CriterionResult) {
		if c.Result != rules.NotMet {
			return
		}
		deeper := false
		for _, ch := range c.Children {
			if ch.Result == rules.NotMet {
				deeper = true
				walk(ch)
			}
		}
		if !deeper {
			out = append(out, c)
		}
	}
	for _, c := range det.Criteria {
		walk(c)
	}
	return out
}

// CriteriaResponse is a QuestionnaireResponse with one item per evaluated
// criterion: its result as a coding, its reason and evidence.
func CriteriaResponse(det *rules.Determination, s Subject, key string) *Object {
	var items func(cs []rules.CriterionResult) []any
	items = func(cs []rules.CriterionResult) []any {
		var out []any
		for _, c := range cs {
			answer := O("valueCoding", coding(ResultSystem, c.Result.String(), ""))
			it := O("linkId", c.ID, "text", c.Text, "answer", A(answer))
			sub := []any{O("linkId", c.ID+"#reason", "text", "Reason", "answer", A(O("valueString", c.Reason)))}
			for _, ev := range c.Evidence {
				sub = append(sub, O("linkId", c.ID+"#evidence", "text", "Evidence", "answer", A(O("valueReference", O("reference", ev)))))
			}
			if len(c.Children) > 0 {
				sub = append(sub, items(c.Children)...)
			}
			answer.Set("item", sub)
			out = append(out, it)
		}
		return out
	}
	created := s.Created
	if created.IsZero() {
		created = time.Now().UTC()
	}
	return O("resourceType", "QuestionnaireResponse",
		"identifier", O("system", IdentifierSystem, "value", key+"-criteria"),
		"questionnaire", CriteriaURLPrefix+det.Policy+"|"+det.PolicyVersion,
		"status", "completed",
		"subject", ref(s.Patient),
		"authored", created.Format(time.RFC3339),
		"item", items(det.Criteria))
}

// DocumentationTask asks the ordering provider for what is missing (pend only).
func DocumentationTask(det *rules.Determination, s Subject, key string) *Object {
	if det.Decision != rules.Pend {
		return nil
	}
	var inputs []any
	for _, m := range det.Missing {
		inputs = append(inputs, O("type", O("text", "Documentation needed"), "valueString", m))
	}
	created := s.Created
	if created.IsZero() {
		created = time.Now().UTC()
	}
	return O("resourceType", "Task",
		"identifier", identifier(key, "-task"),
		"status", "requested",
		"intent", "order",
		"priority", "routine",
		"code", O("text", "Provide documentation for prior authorization"),
		"description", det.Drug+" prior authorization ("+det.Policy+") is pended: "+plural(len(det.Missing), "item")+" needed",
		"focus", O("identifier", O("system", IdentifierSystem, "value", key)),
		"for", ref(s.Patient),
		"authoredOn", created.Format(time.RFC3339),
		"input", inputs)
}

// Questionnaire is the DTR form of the prescriber attestations.
func Questionnaire(cat *rules.Catalog) *Object {
	var items []any
	for _, a := range cat.Attestations {
		items = append(items, O("linkId", a.LinkID, "text", a.Text, "type", "boolean"))
	}
	return O("resourceType", "Questionnaire",
		"id", "hemopa-attestations",
		"url", QuestionnaireURL,
		"version", "1.0.0",
		"name", "HemopaAttestations",
		"title", "Hemophilia gene therapy — prescriber attestations",
		"status", "active",
		"subjectType", A("Patient"),
		"description", "What only the prescriber can confirm for a hemophilia gene therapy prior authorization (Hemgenix, Beqvez, Roctavian). Each answer is a boolean keyed by linkId.",
		"item", items)
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

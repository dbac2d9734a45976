package davinci

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"hemopa/rules"
)

// PAS profiles, extensions and code systems used by the $submit / $inquire
// response bundles (Da Vinci PAS 2.x).
const (
	PASResponseBundle        = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/profile-pas-response-bundle"
	PASInquiryResponseBundle = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/profile-pas-inquiry-response-bundle"
	PASClaimInquiryResponse  = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/profile-claiminquiryresponse"
	ItemTraceNumberURL       = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/extension-itemTraceNumber"
	ItemPreAuthIssueDateURL  = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/extension-itemPreAuthIssueDate"
	ItemPreAuthPeriodURL     = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/extension-itemPreAuthPeriod"
	ErrorElementURL          = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/extension-errorElement"
	ErrorPathURL             = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/extension-errorPath"
	ErrorFollowupActionURL   = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/extension-errorFollowupAction"
	X12RejectReason          = "https://codesystem.x12.org/005010/901"
	X12FollowupAction        = "https://codesystem.x12.org/005010/889"
	CodingRuleSystem         = "http://hemopa.org/fhir/CodeSystem/coding-rule"
	DataAbsentReasonURL      = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"
)

// PASItem is the answer for one Claim.item.
type PASItem struct {
	Sequence int // Claim.item.sequence, echoed as itemSequence

	// Det is the item's determination. Nil means no policy reviewed the item:
	// it is pended (A4) with NotReviewed as the reason.
	Det         *rules.Determination
	NotReviewed string

	// FollowsItem, when set, says the line (an infusion administration code)
	// carries the decision of that gene therapy line rather than its own.
	FollowsItem int

	// TraceNumbers are the Claim.item extension-itemTraceNumber extensions,
	// echoed as they came (raw JSON objects).
	TraceNumbers []json.RawMessage
}

// PASError is a problem found in the request while adjudicating it: one
// ClaimResponse.error, coded with an X12 901 reject reason plus our rule.
type PASError struct {
	ItemSequence int    // 0: the error is about the whole claim
	Reason       string // X12 901 reject reason code, e.g. AG
	ReasonText   string // its display, e.g. Invalid/Missing Procedure Code(s)
	Rule         string // our rule code (CodingRuleSystem)
	Text         string // what is wrong and what to bill instead
	Element      string // X12 loop/segment, e.g. 2000F-SV1
	Path         string // FHIRPath into the request bundle
}

// PASResponse is what a PAS ClaimResponse is built from.
type PASResponse struct {
	ID         string            // ClaimResponse.id
	Identifier []json.RawMessage // Claim.identifier, echoed (system, value, assigner)
	Type       json.RawMessage   // Claim.type, echoed
	Subject    Subject           // Patient, Insurer, Requestor: references; Created
	Request    *Object           // Reference to the Claim; nil: data-absent
	PreAuthRef string            // the submission's authorization number
	AsOf       string            // the review day (YYYY-MM-DD)
	Items      []PASItem
	Errors     []PASError
	Inquiry    bool // profile the ClaimResponse as an inquiry response
}

// PASOutcome is ClaimResponse.outcome: complete when every item was decided
// (approve, deny, not covered) and the request has no coding error; error when
// there are errors and no item was reviewed at all; partial otherwise. It is
// never "queued".
func PASOutcome(items []PASItem, errs []PASError) string {
	reviewed, open := false, false
	for _, it := range items {
		switch {
		case it.Det == nil:
			open = true
		case it.Det.Decision == rules.Pend:
			reviewed, open = true, true
		default:
			reviewed = true
		}
	}
	switch {
	case len(errs) > 0 && !reviewed:
		return "error"
	case len(errs) > 0 || open:
		return "partial"
	}
	return "complete"
}

// PASReviewAction is the X12 306 code of an item: its decision's, or A4
// (pended) when no policy reviewed it.
func PASReviewAction(it PASItem) (code, display string) {
	if it.Det == nil {
		return "A4", "Pended"
	}
	return ReviewAction(it.Det.Decision)
}

// ClaimResponse builds the PAS ClaimResponse: itemSequence echoes
// Claim.item.sequence, each item's adjudication carries the review action
// (A1 certified, A3 not certified, A4 pended) with the authorization number,
// reasons are process notes linked from item.noteNumber, and coding problems
// are ClaimResponse.error entries.
func (r PASResponse) ClaimResponse() *Object {
	profile := PASClaimResponse
	if r.Inquiry {
		profile = PASClaimInquiryResponse
	}
	var ids []any
	for _, id := range r.Identifier {
		ids = append(ids, id)
	}
	ids = append(ids, O("system", IdentifierSystem, "value", r.ID))
	request := r.Request
	if request == nil {
		request = O("extension", A(O("url", DataAbsentReasonURL, "valueCode", "unknown")))
	}
	var typ any = concept("http://terminology.hl7.org/CodeSystem/claim-type", "institutional", "")
	if len(r.Type) > 0 {
		typ = r.Type
	}
	created := r.Subject.Created
	if created.IsZero() {
		created = time.Now().UTC()
	}
	cr := O("resourceType", "ClaimResponse",
		"id", nonEmpty(r.ID),
		"meta", O("profile", A(profile)),
		"identifier", ids,
		"status", "active",
		"type", typ,
		"use", "preauthorization",
		"patient", ref(r.Subject.Patient),
		"created", created.Format(time.RFC3339),
		"insurer", ref(r.Subject.Insurer),
		"requestor", ref(r.Subject.Requestor),
		"request", request,
		"outcome", PASOutcome(r.Items, r.Errors),
		"disposition", PASDisposition(r.Items, r.Errors),
		"preAuthRef", nonEmpty(r.PreAuthRef),
	)
	if p := claimPeriod(r.Items, r.AsOf); p != nil {
		cr.Set("preAuthPeriod", p)
	}
	var notes, items []any
	for _, it := range r.Items {
		var numbers []any
		add := func(text string) {
			n := len(notes) + 1
			notes = append(notes, O("number", n, "type", "display", "text", text))
			numbers = append(numbers, n)
		}
		add(itemHeadline(it))
		if it.Det != nil && it.FollowsItem == 0 {
			for _, n := range ProcessNotes(it.Det) {
				add(n.(*Object).Get("text").(string))
			}
		}
		items = append(items, pasItem(it, r.PreAuthRef, r.AsOf, numbers))
	}
	cr.Set("item", items)
	if len(r.Errors) > 0 {
		var errs []any
		for _, e := range r.Errors {
			errs = append(errs, pasError(e))
		}
		cr.Set("error", errs)
	}
	if len(notes) > 0 {
		cr.Set("processNote", notes)
	}
	return cr
}

func pasItem(it PASItem, preAuthRef, asOf string, notes []any) *Object {
	var ext []any
	for _, tn := range it.TraceNumbers {
		ext = append(ext, tn)
	}
	if it.Det != nil && it.Det.Decision != rules.Pend && asOf != "" {
		ext = append(ext, O("url", ItemPreAuthIssueDateURL, "valueDate", asOf))
	}
	if p := itemPeriod(it, asOf); p != nil {
		ext = append(ext, O("url", ItemPreAuthPeriodURL, "valuePeriod", p))
	}
	code, display := PASReviewAction(it)
	action := O("extension", A(
		O("url", "number", "valueString", nonEmpty(preAuthRef)),
		O("url", ReviewActionCode, "valueCodeableConcept", concept(X12ReviewAction, code, display)),
	), "url", ReviewActionURL)
	if preAuthRef == "" {
		action = O("extension", A(O("url", ReviewActionCode, "valueCodeableConcept", concept(X12ReviewAction, code, display))), "url", ReviewActionURL)
	}
	o := O("extension", nilIfEmpty(ext), "itemSequence", it.Sequence)
	if len(notes) > 0 {
		o.Set("noteNumber", notes)
	}
	o.Set("adjudication", A(O("extension", A(action), "category", concept(AdjudicationSystem, "submitted", ""))))
	return o
}

func pasError(e PASError) *Object {
	var ext []any
	if e.Element != "" {
		ext = append(ext, O("url", ErrorElementURL, "extension", A(O("url", "error", "valueString", e.Element))))
	}
	if e.Path != "" {
		ext = append(ext, O("url", ErrorPathURL, "valueString", e.Path))
	}
	ext = append(ext, O("url", ErrorFollowupActionURL, "valueCodeableConcept", concept(X12FollowupAction, "C", "Please Correct and Resubmit")))
	codings := A(coding(X12RejectReason, e.Reason, e.ReasonText))
	if e.Rule != "" {
		codings = append(codings, coding(CodingRuleSystem, e.Rule, ""))
	}
	o := O("extension", ext)
	if e.ItemSequence > 0 {
		o.Set("itemSequence", e.ItemSequence)
	}
	return o.Set("code", O("coding", codings, "text", nonEmpty(e.Text)))
}

// itemHeadline is the first note of an item: what was decided, under which policy.
func itemHeadline(it PASItem) string {
	head := "Item " + itoa(it.Sequence) + ": "
	switch {
	case it.Det == nil:
		return head + "not reviewed (pended) — " + it.NotReviewed
	case it.FollowsItem > 0:
		return head + "administration of item " + itoa(it.FollowsItem) + "; follows its decision (" + Disposition(it.Det) + ")"
	}
	return head + Disposition(it.Det) + " (policy version " + it.Det.PolicyVersion + ")"
}

// PASDisposition summarises the response in one line.
func PASDisposition(items []PASItem, errs []PASError) string {
	var parts []string
	notReviewed := 0
	for _, it := range items {
		switch {
		case it.Det == nil:
			notReviewed++
		case it.FollowsItem == 0:
			parts = append(parts, Disposition(it.Det))
		}
	}
	if notReviewed > 0 {
		parts = append(parts, plural(notReviewed, "line")+" not reviewed (pended)")
	}
	if len(errs) > 0 {
		parts = append(parts, plural(len(errs), "coding problem")+" — see error")
	}
	return strings.Join(parts, "; ")
}

func approvedUntil(det *rules.Determination, asOf string) string {
	if det == nil || det.Decision != rules.Approve || det.ApprovalDays == nil || asOf == "" {
		return ""
	}
	start, err := time.Parse("2006-01-02", asOf)
	if err != nil {
		return ""
	}
	return start.AddDate(0, 0, *det.ApprovalDays).Format("2006-01-02")
}

func itemPeriod(it PASItem, asOf string) *Object {
	if end := approvedUntil(it.Det, asOf); end != "" {
		return O("start", asOf, "end", end)
	}
	return nil
}

// claimPeriod spans the approved items' periods (nil when none is approved
// with a period).
func claimPeriod(items []PASItem, asOf string) *Object {
	last := ""
	for _, it := range items {
		if end := approvedUntil(it.Det, asOf); end > last {
			last = end
		}
	}
	if last == "" {
		return nil
	}
	return O("start", asOf, "end", last)
}

func nilIfEmpty(xs []any) any {
	if len(xs) == 0 {
		return nil
	}
	return xs
}

// BundleEntry is one entry of a response bundle.
type BundleEntry struct {
	FullURL  string
	Resource any // *Object or raw JSON
}

// PASBundle is the PAS response bundle (type collection): the ClaimResponse
// first, then the resources it references.
func PASBundle(id string, timestamp time.Time, inquiry bool, entries ...BundleEntry) *Object {
	profile := PASResponseBundle
	if inquiry {
		profile = PASInquiryResponseBundle
	}
	var es []any
	for _, e := range entries {
		es = append(es, O("fullUrl", nonEmpty(e.FullURL), "resource", e.Resource))
	}
	return O("resourceType", "Bundle",
		"id", nonEmpty(id),
		"meta", O("profile", A(profile)),
		"type", "collection",
		"timestamp", timestamp.UTC().Format(time.RFC3339),
		"entry", es)
}

// Encode renders a value built from Objects, arrays, raw JSON and scalars as
// compact JSON in one pass. It gives the same bytes as JSON(v, false) without
// re-validating every nested level, which is what makes large response
// bundles cheap to render.
func Encode(v any) ([]byte, error) {
	var b bytes.Buffer
	b.Grow(4096)
	if err := encodeTo(&b, v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func encodeTo(b *bytes.Buffer, v any) error {
	switch x := v.(type) {
	case *Object:
		if x == nil {
			b.WriteString("null")
			return nil
		}
		b.WriteByte('{')
		for i, k := range x.keys {
			if i > 0 {
				b.WriteByte(',')
			}
			writeString(b, k)
			b.WriteByte(':')
			if err := encodeTo(b, x.vals[k]); err != nil {
				return fmt.Errorf("%s: %w", k, err)
			}
		}
		b.WriteByte('}')
	case []any:
		if x == nil {
			b.WriteString("null")
			return nil
		}
		b.WriteByte('[')
		for i, y := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := encodeTo(b, y); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case json.RawMessage:
		if err := json.Compact(b, x); err != nil {
			return err
		}
	case string:
		writeString(b, x)
	case int:
		b.WriteString(strconv.Itoa(x))
	case bool:
		b.WriteString(strconv.FormatBool(x))
	default:
		raw, err := marshal(x)
		if err != nil {
			return err
		}
		b.Write(raw)
	}
	return nil
}

// writeString writes a JSON string as encoding/json does with HTML escaping off.
func writeString(b *bytes.Buffer, s string) {
	simple := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			simple = false
			break
		}
	}
	if simple {
		b.WriteByte('"')
		b.WriteString(s)
		b.WriteByte('"')
		return
	}
	raw, _ := marshal(s)
	b.Write(raw)
}

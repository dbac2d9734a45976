package davinci

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
	"time"

	"hemopa/rules"
)

// DTR extension and profile URLs.
const (
	DTRContextURL          = "http://hl7.org/fhir/us/davinci-dtr/StructureDefinition/qr-context"
	DTRInformationOrigin   = "http://hl7.org/fhir/us/davinci-dtr/StructureDefinition/information-origin"
	DTRQuestionnaireResp   = "http://hl7.org/fhir/us/davinci-dtr/StructureDefinition/dtr-questionnaireresponse"
	DTRPackageParameterOut = "packagebundle" // DTR 2.2 output slice name
)

// Answer is one attestation the data already answers.
type Answer struct {
	LinkID string
	Value  bool
	// How is "attested" (an earlier QuestionnaireResponse on record),
	// "evidence" (structured evidence of the attestation's check, e.g. a gene
	// therapy claim answers prior-gene-therapy) or "ruled-out" (a sibling of a
	// screen rules the condition in or out, e.g. liver stiffness below 9 kPa
	// answers advanced-liver-disease "no").
	How string
}

// Prefill works out, for the attestations policy pol asks, which the data
// already answers and which are still missing.
//
// answered lists the answers in Questionnaire order; missing lists the
// linkIds the determination needs (det.Needs) that nothing answers. An
// attestation the policy asks but does not need (another alternative met the
// criterion) and the data does not answer is in neither list: it is not
// asked.
func Prefill(cat *rules.Catalog, pol *rules.Policy, det *rules.Determination, facts rules.Facts) (answered []Answer, missing []string) {
	got := map[string]Answer{}
	put := func(a Answer) {
		if _, ok := got[a.LinkID]; !ok {
			got[a.LinkID] = a
		}
	}
	var walk func(cs []*rules.Criterion, rs []rules.CriterionResult, parent *rules.Criterion, parentRes *rules.CriterionResult)
	walk = func(cs []*rules.Criterion, rs []rules.CriterionResult, parent *rules.Criterion, parentRes *rules.CriterionResult) {
		for i, c := range cs {
			if i >= len(rs) {
				return
			}
			r := &rs[i]
			if c.Op == rules.OpCheck && c.Check != nil && c.Check.Attest != "" {
				if a, ok := attestAnswer(c.Check, r, facts, parent, parentRes); ok {
					put(a)
				}
			}
			walk(c.Children, r.Children, c, r)
		}
	}
	walk(pol.Criteria, det.Criteria, nil, nil)

	needed := map[string]bool{}
	for _, n := range det.Needs {
		for _, l := range n.LinkIDs {
			needed[l] = true
		}
	}
	for _, l := range attestOrder(cat) {
		if a, ok := got[l]; ok {
			answered = append(answered, a)
		} else if needed[l] {
			missing = append(missing, l)
		}
	}
	return answered, missing
}

// attestOrder is the Questionnaire's item order.
func attestOrder(cat *rules.Catalog) []string {
	out := make([]string, len(cat.Attestations))
	for i, a := range cat.Attestations {
		out[i] = a.LinkID
	}
	return out
}

func attestAnswer(ck *rules.Check, r *rules.CriterionResult, facts rules.Facts, parent *rules.Criterion, parentRes *rules.CriterionResult) (Answer, bool) {
	want := ck.Is == rules.IsTrue
	// Structured evidence decided the check, whatever was attested (as in rules' attest: Met means the
	// wanted answer, NotMet its opposite).
	if r.Result != rules.Unknown && strings.HasPrefix(r.Reason, "structured evidence") {
		return Answer{LinkID: ck.Attest, Value: (r.Result == rules.Met) == want, How: "evidence"}, true
	}
	// An answer on record: the newest readable yes/no. Two answers of that
	// day that disagree prefill nothing: the clinician answers again (the
	// engine reads them as unknown too).
	var newest *rules.Value
	split := false
	for i, v := range facts[rules.AttestationFact(ck.Attest)] {
		if !v.Readable() || v.Flag == rules.NoFlag {
			continue
		}
		switch {
		case newest == nil || v.Date.After(newest.Date):
			newest, split = &facts[rules.AttestationFact(ck.Attest)][i], false
		case v.Date.Equal(newest.Date) && v.Flag != newest.Flag:
			split = true
		}
	}
	if split {
		return Answer{}, false
	}
	if newest != nil {
		return Answer{LinkID: ck.Attest, Value: newest.Flag == rules.Positive, How: "attested"}, true
	}
	// A screen's siblings rule the condition out (Met) or in (NotMet).
	if parent != nil && parent.Op == rules.OpScreen && parentRes.Result != rules.Unknown {
		return Answer{LinkID: ck.Attest, Value: (parentRes.Result == rules.Met) == want, How: "ruled-out"}, true
	}
	return Answer{}, false
}

// PackageInput is the context of one questionnaire package.
type PackageInput struct {
	Patient  string   // reference, e.g. "Patient/pat-1"
	Coverage string   // reference of the Coverage
	Orders   []string // references of the orders
	Authored time.Time
}

// QuestionnaireResponse is the draft (in-progress) DTR response: qr-context
// naming the Coverage and the orders, one item per attestation that is
// answered (marked information-origin auto) or still missing (no answer).
func QuestionnaireResponse(cat *rules.Catalog, answered []Answer, missing []string, in PackageInput) *Object {
	text := map[string]string{}
	for _, a := range cat.Attestations {
		text[a.LinkID] = a.Text
	}
	var items []any
	for _, l := range attestOrder(cat) {
		if i := slices.IndexFunc(answered, func(a Answer) bool { return a.LinkID == l }); i >= 0 {
			origin := O("url", DTRInformationOrigin, "extension", A(O("url", "source", "valueCode", "auto")))
			items = append(items, O("linkId", l, "text", text[l],
				"answer", A(O("extension", A(origin), "valueBoolean", answered[i].Value))))
		} else if slices.Contains(missing, l) {
			items = append(items, O("linkId", l, "text", text[l]))
		}
	}
	var ctx []any
	for _, r := range append([]string{in.Coverage}, in.Orders...) {
		if r != "" {
			ctx = append(ctx, O("url", DTRContextURL, "valueReference", O("reference", r)))
		}
	}
	authored := in.Authored
	if authored.IsZero() {
		authored = time.Now().UTC()
	}
	return O("resourceType", "QuestionnaireResponse",
		"meta", O("profile", A(DTRQuestionnaireResp)),
		"extension", ctx,
		"questionnaire", QuestionnaireCanonical,
		"status", "in-progress",
		"subject", ref(in.Patient),
		"authored", authored.Format(time.RFC3339),
		"item", items)
}

// QuestionnairePackage is the $questionnaire-package output: Parameters with
// one packagebundle (a collection Bundle holding the attestation
// Questionnaire first, then the draft QuestionnaireResponse) and, when there
// are warnings, an outcome. Every entry of a collection has a fullUrl (FHIR
// R4 Bundle.entry.fullUrl): the Questionnaire its canonical URL, the
// response (which has no id) a urn:uuid derived from its content, so the
// same package reads the same.
func QuestionnairePackage(questionnaire, response *Object, warnings []string) *Object {
	bundle := O("resourceType", "Bundle", "type", "collection",
		"entry", A(O("fullUrl", QuestionnaireURL, "resource", questionnaire), O("fullUrl", contentURN(response), "resource", response)))
	params := []any{O("name", DTRPackageParameterOut, "resource", bundle)}
	if len(warnings) > 0 {
		var issues []any
		for _, w := range warnings {
			issues = append(issues, O("severity", "warning", "code", "not-found", "diagnostics", w))
		}
		params = append(params, O("name", "outcome", "resource", O("resourceType", "OperationOutcome", "issue", issues)))
	}
	return O("resourceType", "Parameters", "parameter", params)
}

// contentURN is a urn:uuid (UUID-shaped, from a SHA-256 of the JSON) naming v.
func contentURN(v any) string {
	b, _ := marshal(v)
	sum := sha256.Sum256(b)
	h := hex.EncodeToString(sum[:16])
	return "urn:uuid:" + h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

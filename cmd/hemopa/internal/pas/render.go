package pas

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"hemopa/cmd/hemopa/internal/davinci"
)

// render builds the stored Record: the decided lines with their review
// actions, and the response bundle for $submit and for $inquire. auth is
// the authorization granted at order time for the Claim's order (nil:
// none): when every gene therapy line is still approved, its id is the
// preAuthRef.
func (r *request) render(key string, cv *claimView, ls *lines, errs []davinci.PASError, now, asOf time.Time, auth *davinci.OrderAuthorization) (*Record, error) {
	for i := range ls.items {
		ls.recs[i].ReviewAction, _ = davinci.PASReviewAction(ls.items[i])
	}
	preAuthRef := davinci.PreAuthRef(key)
	if auth != nil && ls.allApproved() {
		preAuthRef = auth.ID
	}
	resp := davinci.PASResponse{
		ID: key, Type: cv.Type, PreAuthRef: preAuthRef, AsOf: asOf.Format("2006-01-02"), Items: ls.items, Errors: errs,
		Subject: davinci.Subject{Created: now},
	}
	for _, raw := range cv.Identifier {
		resp.Identifier = append(resp.Identifier, echoIdentifier(raw))
	}
	crURL, entries := r.responseEntries(key, &resp.Subject)
	resp.Request = r.requestRef()
	build := func(inquiry bool) (json.RawMessage, error) {
		resp.Inquiry = inquiry
		cr := resp.ClaimResponse()
		b := davinci.PASBundle(key, now, inquiry, append([]davinci.BundleEntry{{FullURL: crURL, Resource: cr}}, entries...)...)
		return davinci.Encode(b)
	}
	rec := &Record{Key: key, PreAuthRef: preAuthRef, Claim: claimIdentifiers(r.claim), Patient: r.patientMatch(),
		Created: now, Outcome: davinci.PASOutcome(ls.items, errs), Items: ls.recs}
	var err error
	if rec.Response, err = build(false); err != nil {
		return nil, fmt.Errorf("render response: %w", err)
	}
	if rec.Inquiry, err = build(true); err != nil {
		return nil, fmt.Errorf("render inquiry response: %w", err)
	}
	return rec, nil
}

// outcome renders an OperationOutcome with one issue.
func outcome(severity, code, diagnostics, path string) []byte {
	issue := davinci.O("severity", severity, "code", code, "diagnostics", diagnostics)
	if path != "" {
		issue.Set("expression", davinci.A(path))
	}
	b, err := davinci.Encode(davinci.O("resourceType", "OperationOutcome", "issue", davinci.A(issue)))
	if err != nil { // cannot happen: strings only
		return []byte(`{"resourceType":"OperationOutcome","issue":[{"severity":"fatal","code":"exception"}]}`)
	}
	return b
}

func (r *request) wrapReturn(bundle []byte) []byte {
	if !r.wrapped {
		return bundle
	}
	out, _ := davinci.Encode(davinci.O("resourceType", "Parameters", "parameter",
		davinci.A(davinci.O("name", "return", "resource", json.RawMessage(bundle)))))
	return out
}

// traceNumbers keeps a Claim.item's extension-itemTraceNumber extensions.
func traceNumbers(exts []json.RawMessage) []json.RawMessage {
	var out []json.RawMessage
	for _, x := range exts {
		var e struct {
			URL string `json:"url"`
		}
		if json.Unmarshal(x, &e) == nil && e.URL == davinci.ItemTraceNumberURL {
			out = append(out, x)
		}
	}
	return out
}

// echoIdentifier keeps system, value and assigner of a Claim identifier (the
// PAS identifier extensions are the request's, not the response's).
func echoIdentifier(raw json.RawMessage) json.RawMessage {
	var id struct {
		System   string          `json:"system,omitempty"`
		Value    string          `json:"value,omitempty"`
		Assigner json.RawMessage `json:"assigner,omitempty"`
	}
	if json.Unmarshal(raw, &id) != nil {
		return raw
	}
	b, err := json.Marshal(id)
	if err != nil {
		return raw
	}
	return b
}

// requestRef is ClaimResponse.request: the Claim's absolute URL when it has
// one, else a logical reference by its first identifier.
func (r *request) requestRef() *davinci.Object {
	c := r.entries[0]
	if strings.HasPrefix(c.fullURL, "http://") || strings.HasPrefix(c.fullURL, "https://") {
		return davinci.O("reference", c.fullURL)
	}
	ids := claimIdentifiers(r.claim)
	if len(ids) == 0 {
		return nil
	}
	id := davinci.O("system", ids[0].System, "value", ids[0].Value)
	if ids[0].System == "" {
		id = davinci.O("value", ids[0].Value)
	}
	return davinci.O("type", "Claim", "identifier", id)
}

// responseEntries picks the ClaimResponse's fullUrl and the entries it
// references (patient, insurer, requestor), and sets their references in
// subj. With a RESTful Claim fullUrl the ClaimResponse lives on the same base
// and keeps the Claim's references as written; otherwise it gets a urn:uuid
// and references the entries by their fullUrl.
func (r *request) responseEntries(key string, subj *davinci.Subject) (string, []davinci.BundleEntry) {
	crURL := "urn:uuid:" + davinci.NameUUID(key)
	sameBase := r.base != ""
	if sameBase {
		crURL = r.base + "/ClaimResponse/" + key
	}
	var entries []davinci.BundleEntry
	added := map[*entry]bool{}
	refTo := func(field string) string {
		ref := refOf(r.claim[field])
		e := r.resolve(ref)
		if e == nil {
			return ref
		}
		if !added[e] {
			added[e] = true
			entries = append(entries, davinci.BundleEntry{FullURL: e.fullURL, Resource: e.resource})
		}
		if sameBase || e.fullURL == "" {
			return ref
		}
		return e.fullURL
	}
	subj.Patient = refTo("patient")
	subj.Insurer = refTo("insurer")
	subj.Requestor = refTo("provider")
	return crURL, entries
}

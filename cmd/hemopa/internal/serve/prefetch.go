package serve

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"hemopa/cmd/hemopa/internal/crd"
	"hemopa/fhir"
	"hemopa/mapping"
)

// prefetchKey is one prefetch template. Required data missing from the
// prefetch and impossible to fetch is a 412; optional data is fetched when
// possible and otherwise recorded as a gap: every fact it could carry is
// unreadable, so the criteria it feeds are unknown and ask for it.
type prefetchKey struct {
	Name     string
	Template string
	Optional bool
}

// observationCodes lists, for the prefetch template, every Observation code
// the mapper routes to a fact — the embedded tables (mapping/codes.yaml) and
// a site code map alike: the one source of truth for lab codes.
func observationCodes(codes []mapping.LabCode) string {
	parts := make([]string, 0, len(codes))
	for _, c := range codes {
		parts = append(parts, c.System+"|"+c.Code)
	}
	return strings.Join(parts, ",")
}

// recordCategories are the FHIR R4 observation-category codes
// ([fhir.ObservationCategorySystem]) asked for whatever the code, so that
// results no code table knows reach the mapping's safety net.
var recordCategories = []string{"laboratory", "vital-signs", "imaging", "exam"}

// otherObservations is the search for every Observation outside
// recordCategories, including those with no category (FHIR R4 :not matches a
// resource with no value); :not is outside CDS Hooks' recommended prefetch
// subset, so the key is optional.
func otherObservations() string {
	var b strings.Builder
	b.WriteString("Observation?patient={{context.patientId}}")
	for _, c := range recordCategories {
		b.WriteString("&category:not=" + fhir.ObservationCategories(c))
	}
	return b.String()
}

// prefetchKeys is what every order service asks the EHR for, with labs the
// Observation codes the mapper knows: the whole
// record, not only the codes the tables know. No template has a date bound:
// CDS Hooks 2.0 prefetch tokens are context fields and user ids only (no
// date arithmetic such as {{today() - 12 months}}, which only the ballot's
// FHIRPath tokens add), and a literal date in the discovery document would
// go stale in an EHR that caches it; the engine applies each criterion's
// window to what arrives. No template filters by status (the mapping judges
// statuses) or pages (_count would let an EHR truncate silently).
func prefetchKeys(labs []mapping.LabCode) []prefetchKey {
	return []prefetchKey{
		{Name: "patient", Template: "Patient/{{context.patientId}}"},
		{Name: "coverage", Template: "Coverage?patient={{context.patientId}}&status=active"},
		{Name: "observations", Template: "Observation?patient={{context.patientId}}&code=" + observationCodes(labs)},
		{Name: "observationsByCategory", Template: "Observation?patient={{context.patientId}}&category=" + fhir.ObservationCategories(recordCategories...)},
		{Name: "conditions", Template: "Condition?patient={{context.patientId}}"},
		{Name: "medicationStatements", Template: "MedicationStatement?patient={{context.patientId}}&_include=MedicationStatement:medication"},
		{Name: "medicationRequests", Template: "MedicationRequest?patient={{context.patientId}}&_include=MedicationRequest:medication"},
		{Name: "questionnaireResponses", Template: "QuestionnaireResponse?patient={{context.patientId}}"},
		{Name: "practitionerRoles", Template: "PractitionerRole?practitioner={{userPractitionerId}}", Optional: true},
		{Name: "medicationAdministrations", Template: "MedicationAdministration?patient={{context.patientId}}&_include=MedicationAdministration:medication", Optional: true},
		{Name: "medicationDispenses", Template: "MedicationDispense?patient={{context.patientId}}&_include=MedicationDispense:medication", Optional: true},
		{Name: "procedures", Template: "Procedure?patient={{context.patientId}}", Optional: true},
		{Name: "claims", Template: "ExplanationOfBenefit?patient={{context.patientId}}", Optional: true},
		{Name: "claimSubmissions", Template: "Claim?patient={{context.patientId}}", Optional: true},
		{Name: "observationsOther", Template: otherObservations(), Optional: true},
		{Name: "diagnosticReports", Template: "DiagnosticReport?patient={{context.patientId}}", Optional: true},
		{Name: "documentReferences", Template: "DocumentReference?patient={{context.patientId}}", Optional: true},
	}
}

// fill substitutes a template's tokens; ok is false when a token cannot be
// filled (e.g. the user is not a Practitioner).
func fill(tmpl string, c *HookContext) (string, bool) {
	out := strings.ReplaceAll(tmpl, "{{context.patientId}}", url.QueryEscape(c.PatientID))
	if strings.Contains(out, "{{userPractitionerId}}") {
		id, ok := refID(c.UserID, "Practitioner")
		if !ok {
			return "", false
		}
		out = strings.ReplaceAll(out, "{{userPractitionerId}}", url.QueryEscape(id))
	}
	return out, !strings.Contains(out, "{{")
}

// patientData is the prefetch, completed from the EHR where needed.
type patientData struct {
	keys  []prefetchKey         // in template order
	byKey map[string][]resource // nil slice: searched, nothing found
	// gaps are optional keys neither sent nor fetched: what they would have
	// carried is unreadable, not absent (mapping.WithGaps).
	gaps []mapping.Gap
}

// record is the data as crd assesses orders on it: the Patient of
// context.patientId (412 without it), the Coverages, and every key's
// resources in template order.
func (d *patientData) record() (*crd.Record, error) {
	patient := d.byKey["patient"]
	if len(patient) != 1 || patient[0].Type != "Patient" {
		return nil, preconditionFailed("no-patient", "prefetch patient must hold the Patient of context.patientId")
	}
	rec := &crd.Record{Patient: patient[0], Coverages: d.byKey["coverage"], Gaps: d.gaps}
	for _, k := range d.keys {
		if k.Name != "patient" {
			rec.Resources = append(rec.Resources, d.byKey[k.Name]...)
		}
	}
	return rec, nil
}

// gap records an optional key the request did not send and hemopa could not fetch.
func (d *patientData) gap(k prefetchKey, why string) {
	typ, _, _ := strings.Cut(k.Template, "?")
	d.gaps = append(d.gaps, mapping.Gap{ResourceType: typ, Source: "prefetch " + k.Name,
		Problem: "(" + typ + ") was not sent and " + why + " — send it, or a fhirServer hemopa may read"})
}

// gatherer reads what the prefetch lacks from the EHR's FHIR server with the
// hook's fhirAuthorization token.
type gatherer struct {
	req     *HookRequest
	keys    []prefetchKey
	client  *fhir.Client // nil: no fhirServer or no token
	m       *metrics
	used    bool
	refused bool // fhirServer is not one the config allows
}

func (s *Server) newGatherer(req *HookRequest) (*gatherer, error) {
	g := &gatherer{req: req, keys: s.prefetch, m: s.m}
	if req.FHIRServer == "" || req.FHIRAuthorization == nil {
		return g, nil
	}
	if !s.cfg.fhirServerAllowed(req.FHIRServer) {
		g.refused = true
		return g, nil
	}
	hc := &http.Client{Transport: &bearerTransport{token: req.FHIRAuthorization.AccessToken, host: hostOf(req.FHIRServer), base: s.outbound.Transport}}
	c, err := fhir.NewClient(req.FHIRServer, fhir.WithHTTPClient(hc), fhir.WithRetryMax(1),
		fhir.WithRetryWait(100*time.Millisecond, time.Second), fhir.WithTimeout(s.cfg.Timeouts.FHIR),
		fhir.WithMaxPages(20), fhir.WithMaxResponseBytes(4*s.cfg.BodyLimit)) // no logger: its retry lines name resource ids
	if err != nil {
		return nil, unprocessable("fhir-server", "fhirServer: %v", err)
	}
	g.client = c
	return g, nil
}

func hostOf(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return ""
	}
	return p.Host
}

// bearerTransport adds the EHR's token to requests for its server only (not
// to a redirect elsewhere).
type bearerTransport struct {
	token, host string
	base        http.RoundTripper
}

func (t *bearerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Host == t.host {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+t.token)
	}
	return t.base.RoundTrip(r)
}

// collect returns every prefetch key's resources, fetching absent keys.
//
// Nothing is dropped silently: a prefetch searchset with a next link (one
// page of several, which CDS Hooks forbids) is fetched again from fhirServer,
// and when it cannot be, or a fetched search has more pages than the client
// reads (fhir.ErrTooManyPages), the answer is a 412 — for optional keys too.
// coverages gathers the coverage key alone: what an answer about orders
// hemopa does not decide needs, without reading (or validating) the rest of
// the prefetch.
func (g *gatherer) coverages(ctx context.Context) ([]resource, error) {
	only := *g
	only.keys = nil
	for _, k := range g.keys {
		if k.Name == "coverage" {
			only.keys = append(only.keys, k)
		}
	}
	d, err := only.collect(ctx)
	g.used = g.used || only.used
	if err != nil {
		return nil, err
	}
	return d.byKey["coverage"], nil
}

func (g *gatherer) collect(ctx context.Context) (*patientData, error) {
	d := &patientData{keys: g.keys, byKey: map[string][]resource{}}
	type fetch struct {
		key       prefetchKey
		target    string
		truncated bool // the prefetch held one page of several
		res       []resource
		err       error
	}
	var todo []*fetch
	for _, k := range g.keys {
		raw, present := g.req.Prefetch[k.Name]
		truncated := false
		if present {
			if isNull(raw) {
				d.byKey[k.Name] = nil
				continue
			}
			rs, err := validBundleResources(raw)
			if err != nil {
				return nil, badRequest("bad-prefetch", "prefetch %s: %v", k.Name, err)
			}
			if truncated = hasNextLink(raw); !truncated {
				d.byKey[k.Name] = rs
				continue
			}
		}
		target, ok := fill(k.Template, &g.req.Context)
		switch {
		case truncated && (!ok || g.client == nil || g.refused):
			return nil, preconditionFailed("incomplete-prefetch", "prefetch %s holds one page of several (it has a next link) and the rest cannot be fetched", k.Name)
		case !ok && k.Optional:
			d.gap(k, "cannot be templated")
			continue
		case !ok:
			return nil, preconditionFailed("no-prefetch", "prefetch %s is missing and cannot be templated", k.Name)
		case g.client == nil && k.Optional:
			d.gap(k, "could not be fetched")
			continue
		case g.refused:
			return nil, preconditionFailed("fhir-server-refused", "prefetch %s is missing and fhirServer is not a server this service may read from", k.Name)
		case g.client == nil:
			return nil, preconditionFailed("no-prefetch", "prefetch %s is missing and the request has no fhirServer with fhirAuthorization to fetch it", k.Name)
		}
		todo = append(todo, &fetch{key: k, target: target, truncated: truncated})
	}
	g.used = g.used || len(todo) > 0
	var wg sync.WaitGroup
	for _, f := range todo {
		wg.Go(func() { f.res, f.err = g.get(ctx, f.target) })
	}
	wg.Wait()
	for _, f := range todo {
		if f.err != nil {
			if f.key.Optional && !f.truncated && !errors.Is(f.err, fhir.ErrTooManyPages) {
				d.gap(f.key, "its fetch failed")
				continue
			}
			return nil, g.fetchError(f.key.Name, f.err)
		}
		d.byKey[f.key.Name] = f.res
	}
	return d, nil
}

// hasNextLink reports a searchset Bundle with a link[relation=next].
func hasNextLink(raw json.RawMessage) bool {
	var b struct {
		ResourceType string `json:"resourceType"`
		Link         []struct {
			Relation string `json:"relation"`
		} `json:"link"`
	}
	if json.Unmarshal(raw, &b) != nil || b.ResourceType != "Bundle" {
		return false
	}
	for _, l := range b.Link {
		if l.Relation == "next" {
			return true
		}
	}
	return false
}

// get reads "Type/id" or searches "Type?query".
// It may run concurrently with other gets.
func (g *gatherer) get(ctx context.Context, target string) ([]resource, error) {
	var raws []json.RawMessage
	var err error
	if typ, id, ok := strings.Cut(target, "/"); ok && !strings.Contains(target, "?") {
		var b []byte
		b, err = g.client.Read(ctx, typ, id)
		if fhir.IsNotFound(err) {
			g.m.fhirTrips.WithLabelValues("ok").Inc()
			return nil, nil
		}
		raws = []json.RawMessage{b}
	} else {
		raws, err = g.client.Search(ctx, target)
	}
	if err != nil {
		g.m.fhirTrips.WithLabelValues("error").Inc()
		return nil, err
	}
	g.m.fhirTrips.WithLabelValues("ok").Inc()
	out := make([]resource, 0, len(raws))
	for _, raw := range raws {
		r, err := parseResource(raw)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// fetchError is a 412 naming the key and the HTTP status, never the URL's
// identifiers or the token.
func (g *gatherer) fetchError(key string, err error) error {
	if errors.Is(err, fhir.ErrTooManyPages) {
		return &httpError{Status: http.StatusPreconditionFailed, Code: "incomplete", Kind: "fetch-failed",
			Msg: "prefetch " + key + " is missing and fhirServer has more pages of it than this service reads", Err: err}
	}
	var fe *fhir.Error
	if errors.As(err, &fe) {
		if fe.Status == http.StatusUnauthorized || fe.Status == http.StatusForbidden {
			g.m.tokenUse.WithLabelValues("rejected").Inc()
		}
		return &httpError{Status: http.StatusPreconditionFailed, Code: "incomplete", Kind: "fetch-failed",
			Msg: "prefetch " + key + " is missing and fetching it from fhirServer failed with HTTP " + http.StatusText(fe.Status)}
	}
	return &httpError{Status: http.StatusPreconditionFailed, Code: "incomplete", Kind: "fetch-failed",
		Msg: "prefetch " + key + " is missing and fetching it from fhirServer failed", Err: err}
}

// readOrder fetches an order named by reference (order-dispatch).
func (g *gatherer) readOrder(ctx context.Context, ref string) (resource, error) {
	typ, id, _ := strings.Cut(ref, "/")
	if g.client == nil {
		return resource{}, preconditionFailed("no-prefetch", "order %s is not in the prefetch and the request has no fhirServer with fhirAuthorization to read it", typ)
	}
	g.used = true
	rs, err := g.get(ctx, typ+"/"+id)
	if err != nil {
		return resource{}, g.fetchError("order", err)
	}
	if len(rs) != 1 {
		return resource{}, preconditionFailed("no-order", "dispatched order %s was not found on fhirServer", typ)
	}
	return rs[0], nil
}

// tokenUse records whether the fhirAuthorization token was used.
func (g *gatherer) tokenUse() {
	switch {
	case g.used:
		g.m.tokenUse.WithLabelValues("used").Inc()
	default:
		g.m.tokenUse.WithLabelValues("not-used").Inc()
	}
}

package pas

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	codespb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	bcrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"
	claimpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/claim_go_proto"
	patpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/patient_go_proto"

	"hemopa/cmd/hemopa/internal/davinci"
	"hemopa/cmd/hemopa/internal/pipeline"
	"hemopa/cmd/hemopa/internal/router"
	"hemopa/fhir"
	"hemopa/mapping"
	"hemopa/rules"
)

// Service answers PAS $submit and $inquire. It is safe for concurrent use.
type Service struct {
	p        *pipeline.Pipeline
	router   *router.Router
	store    Store
	ownStore io.Closer // the store NewService opened, closed by Close
	now      func() time.Time
	log      *slog.Logger

	locks keyLocks      // one adjudication per submission key at a time
	work  chan struct{} // admits adjudications, first come first served
}

// keyLocks is a mutex per key, held only while someone uses it.
type keyLocks struct {
	mu    sync.Mutex
	byKey map[string]*keyLock
}

type keyLock struct {
	sync.Mutex
	users int
}

// lock locks key and returns its unlock.
func (k *keyLocks) lock(key string) (unlock func()) {
	k.mu.Lock()
	if k.byKey == nil {
		k.byKey = map[string]*keyLock{}
	}
	l := k.byKey[key]
	if l == nil {
		l = &keyLock{}
		k.byKey[key] = l
	}
	l.users++
	k.mu.Unlock()
	l.Lock()
	return func() {
		l.Unlock()
		k.mu.Lock()
		if l.users--; l.users == 0 {
			delete(k.byKey, key)
		}
		k.mu.Unlock()
	}
}

type config struct {
	p         *pipeline.Pipeline
	store     Store
	storePath string
	router    *router.Router
	now       func() time.Time
	log       *slog.Logger
	workers   int
}

// Option configures a Service.
type Option func(*config) error

// WithPipeline sets the decode → map → evaluate pipeline and with it the
// policy catalog (default: pipeline.New(), the built-in policies and code
// tables).
func WithPipeline(p *pipeline.Pipeline) Option {
	return func(c *config) error {
		if p == nil {
			return errors.New("pas: WithPipeline(nil)")
		}
		c.p = p
		return nil
	}
}

// WithStore persists submissions in st (default: a bbolt file at
// DefaultStorePath). The caller keeps ownership: Close does not close st.
func WithStore(st Store) Option {
	return func(c *config) error {
		if st == nil {
			return errors.New("pas: WithStore(nil)")
		}
		c.store = st
		return nil
	}
}

// WithStorePath opens the default bbolt store at path (closed by Close).
func WithStorePath(path string) Option {
	return func(c *config) error {
		if path == "" {
			return errors.New("pas: WithStorePath(\"\")")
		}
		c.storePath = path
		return nil
	}
}

// WithRouter chooses each line's policy with r, built on the pipeline's
// catalog (default: each drug's built-in default policy, where the catalog
// has it; see router.BuiltinDefaults). A line whose drug r routes to no
// policy is not reviewed.
func WithRouter(r *router.Router) Option {
	return func(c *config) error {
		if r == nil {
			return errors.New("pas: WithRouter(nil)")
		}
		c.router = r
		return nil
	}
}

// WithClock sets the clock: the review day (as-of date of the look-back
// windows) and ClaimResponse.created (default time.Now).
func WithClock(now func() time.Time) Option {
	return func(c *config) error {
		if now == nil {
			return errors.New("pas: WithClock(nil)")
		}
		c.now = now
		return nil
	}
}

// WithLogger logs one line per request: submission key prefix, counts,
// outcome, status, duration — never patient data (default: discard).
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return errors.New("pas: WithLogger(nil)")
		}
		c.log = l
		return nil
	}
}

// WithMaxConcurrent bounds how many submissions are decided at once (default
// GOMAXPROCS). Deciding is CPU-bound (decoding the bundle is most of it):
// more at once only slows each down, while a bound admits requests in
// arrival order, which keeps the slowest answers close to the typical ones
// and the memory in use proportional to the bound. Replays and inquiries are
// not bounded.
func WithMaxConcurrent(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return fmt.Errorf("pas: WithMaxConcurrent(%d): want at least 1", n)
		}
		c.workers = n
		return nil
	}
}

// NewService builds a Service. Options are applied in order.
func NewService(opts ...Option) (*Service, error) {
	c := &config{now: time.Now,
		log: slog.New(slog.DiscardHandler), workers: runtime.GOMAXPROCS(0)}
	for _, o := range opts {
		if err := o(c); err != nil {
			return nil, err
		}
	}
	var err error
	if c.p == nil {
		if c.p, err = pipeline.New(); err != nil {
			return nil, fmt.Errorf("pas: pipeline: %w", err)
		}
	}
	if c.router == nil {
		if c.router, err = router.New(c.p.Catalog, router.Config{DefaultPolicy: router.BuiltinDefaults(c.p.Catalog)}); err != nil {
			return nil, fmt.Errorf("pas: default policies: %w", err)
		}
	}
	s := &Service{p: c.p, router: c.router, store: c.store, now: c.now, log: c.log,
		work: make(chan struct{}, c.workers)}
	if s.store == nil {
		path := c.storePath
		if path == "" {
			if path, err = DefaultStorePath(); err != nil {
				return nil, err
			}
		}
		bs, err := OpenBolt(path)
		if err != nil {
			return nil, err
		}
		s.store, s.ownStore = bs, bs
	}
	return s, nil
}

// Close closes the store if NewService opened it.
func (s *Service) Close() error {
	if s.ownStore != nil {
		return s.ownStore.Close()
	}
	return nil
}

// Submit answers Claim/$submit. body is a PAS request Bundle (or a
// Parameters whose "resource" parameter holds it). It returns 200 with the
// response Bundle (ClaimResponse first; wrapped in a Parameters "return" when
// the request was), 400 with an OperationOutcome naming the FHIR path of what
// is wrong, or 500 when the store fails. The same submission (same entries,
// same policy plan) returns the stored response, unchanged.
func (s *Service) Submit(ctx context.Context, body []byte) (status int, resp []byte) {
	start := time.Now()
	r, err := parseRequest(body)
	if err == nil {
		err = r.checkClaim(true)
	}
	if err != nil {
		return s.reject(ctx, "submit", start, err)
	}
	pl, err := s.plan(r)
	if err != nil {
		return s.reject(ctx, "submit", start, err)
	}
	key := submissionKey(r, pl.fingerprint())
	rec, err := s.store.Load(ctx, key) // a replay needs no lock
	if errors.Is(err, ErrNotFound) {
		// Decide once per key: a concurrent twin waits here, then finds the record.
		defer s.locks.lock(key)()
		rec, err = s.store.Load(ctx, key)
	}
	replay := err == nil
	switch {
	case replay:
	case errors.Is(err, ErrNotFound):
		select {
		case s.work <- struct{}{}:
		case <-ctx.Done():
			return s.reject(ctx, "submit", start, fmt.Errorf("wait to decide: %w", ctx.Err()))
		}
		rec, err = s.adjudicate(r, key, pl)
		<-s.work
		if err != nil {
			return s.reject(ctx, "submit", start, err)
		}
		if err = s.store.Save(ctx, key, rec); err != nil {
			return s.reject(ctx, "submit", start, fmt.Errorf("persist decision: %w", err))
		}
	default:
		return s.reject(ctx, "submit", start, fmt.Errorf("look up earlier submission: %w", err))
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "pas submit", slog.String("key", key[:12]), slog.Int("status", http.StatusOK),
		slog.String("outcome", rec.Outcome), slog.Int("items", len(rec.Items)), slog.Bool("replay", replay),
		slog.Duration("took", time.Since(start)))
	return http.StatusOK, r.wrapReturn(rec.Response)
}

// Inquire answers Claim/$inquire: body is a PAS inquiry Bundle whose first
// entry is a Claim with the identifier of an earlier submission and its
// patient (or a Parameters wrapping it). A submission matches when one of
// its Claim identifiers equals one of the inquiry's (system compared when
// both have one) and the patient is the same (a shared Patient identifier;
// else the same Patient id). A bare Bundle gets the latest matching response
// bundle, or 404 with an OperationOutcome when nothing matches; a Parameters
// gets every match, newest first, as "return" parameters (none: an empty
// Parameters, as the operation's 0..* output allows).
func (s *Service) Inquire(ctx context.Context, body []byte) (status int, resp []byte) {
	start := time.Now()
	r, err := parseRequest(body)
	if err == nil {
		err = r.checkClaim(false)
	}
	if err != nil {
		return s.reject(ctx, "inquire", start, err)
	}
	want := r.patientMatch()
	seen := map[string]bool{}
	var found []*Record
	for _, id := range claimIdentifiers(r.claim) {
		recs, err := s.store.ListByClaim(ctx, id.Value)
		if err != nil {
			return s.reject(ctx, "inquire", start, fmt.Errorf("look up submissions: %w", err))
		}
		for _, rec := range recs {
			if seen[rec.Key] || !rec.matchesClaim(id) || !rec.Patient.matches(want) {
				continue
			}
			seen[rec.Key] = true
			found = append(found, rec)
		}
	}
	slices.SortFunc(found, func(a, b *Record) int {
		if c := b.Created.Compare(a.Created); c != 0 {
			return c
		}
		return strings.Compare(a.Key, b.Key)
	})
	s.log.LogAttrs(ctx, slog.LevelInfo, "pas inquire", slog.Int("matches", len(found)), slog.Duration("took", time.Since(start)))
	if r.wrapped {
		var ps []any
		for _, rec := range found {
			ps = append(ps, davinci.O("name", "return", "resource", rec.Inquiry))
		}
		out, err := davinci.Encode(davinci.O("resourceType", "Parameters", "parameter", ps))
		if err != nil {
			return s.reject(ctx, "inquire", start, err)
		}
		return http.StatusOK, out
	}
	if len(found) == 0 {
		return http.StatusNotFound, outcome("error", "not-found", "no earlier submission matches the inquiry's Claim identifier and patient", claimPath+".identifier")
	}
	return http.StatusOK, found[0].Inquiry
}

// reject turns an error into a status and an OperationOutcome, and logs the
// path and kind only.
func (s *Service) reject(ctx context.Context, op string, start time.Time, err error) (int, []byte) {
	var re *RequestError
	var de *fhir.DecodeError
	status, path, code, msg := http.StatusInternalServerError, "", "exception", "the server could not process the request; it may be retried"
	switch {
	case errors.As(err, &re):
		status, path, code, msg = http.StatusBadRequest, re.Path, re.Code, re.Msg
	case errors.As(err, &de):
		// "Bundle.entry[3].resource (Observation/x)" → the FHIRPath part.
		p, _, _ := strings.Cut(de.Path, " (")
		status, path, code, msg = http.StatusBadRequest, p, "structure", "not valid FHIR R4: "+de.Error()
	}
	lvl := slog.LevelInfo
	if status >= 500 {
		lvl = slog.LevelError
		// Internal errors carry no request content; log them whole.
		s.log.LogAttrs(ctx, lvl, "pas "+op+" failed", slog.Int("status", status), slog.String("error", err.Error()), slog.Duration("took", time.Since(start)))
	} else {
		s.log.LogAttrs(ctx, lvl, "pas "+op+" rejected", slog.Int("status", status), slog.String("path", path), slog.String("issue", code), slog.Duration("took", time.Since(start)))
	}
	return status, outcome("error", code, msg, path)
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

// plan is what a submission is decided with: each item's gene therapy and
// the policy chosen for it.
type plan struct {
	drugs    []string        // by item index; "" if the line names no gene therapy
	policies []*rules.Policy // by item index; nil: not reviewed
	payer    router.Payor
}

// plan reads the items' drugs and chooses their policies before the bundle
// is decoded: the choice is part of the submission key.
func (s *Service) plan(r *request) (*plan, error) {
	items, _ := r.claim["item"].([]any)
	pl := &plan{policies: make([]*rules.Policy, len(items)), payer: r.payerOf()}
	var err error
	if pl.drugs, err = s.itemDrugs(items); err != nil {
		return nil, err
	}
	for i, drug := range pl.drugs {
		if drug == "" {
			continue
		}
		pol, _, err := s.router.Route(drug, pl.payer)
		if err != nil && !errors.Is(err, router.ErrUnrouted) {
			return nil, fmt.Errorf("route %s: %w", drug, err)
		}
		pl.policies[i] = pol // nil: not reviewed
	}
	return pl, nil
}

// fingerprint names the plan's drug → policy@version choices.
func (pl *plan) fingerprint() string {
	var b strings.Builder
	for i, d := range pl.drugs {
		b.WriteString(d)
		if p := pl.policies[i]; p != nil {
			b.WriteString("=" + p.ID + "@" + p.Version())
		}
		b.WriteByte(';')
	}
	return b.String()
}

// submissionKey digests the request's entries (fullUrl and resource, in
// order, whitespace aside: a resent request is the same request, a resource
// re-serialised with its keys in another order is a new one) and the policy
// plan (a new policy version or routing decides anew). Bundle.id, timestamp
// and identifier are left out: they name the transmission, not the request.
func submissionKey(r *request, plan string) string {
	h := sha256.New()
	h.Write([]byte("hemopa-pas/1\x00"))
	h.Write([]byte(plan))
	h.Write([]byte{0})
	for _, e := range r.entries {
		h.Write([]byte(e.fullURL))
		h.Write([]byte{0})
		writeCompact(h, e.resource)
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// writeCompact writes valid JSON to w without the whitespace between tokens
// (what json.Compact does, in one pass without a buffer copy).
func writeCompact(w io.Writer, js []byte) {
	inString, escaped, from := false, false, 0
	for i, c := range js {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			if from < i {
				w.Write(js[from:i])
			}
			from = i + 1
		}
	}
	if from < len(js) {
		w.Write(js[from:])
	}
}

// patientMatch is the inquiry's (or submission's) patient.
// A logical reference (Claim.patient.identifier, no Patient entry) matches by
// that identifier.
func (r *request) patientMatch() PatientMatch {
	e := r.resolve(refOf(r.claim["patient"]))
	if e == nil || e.typ != "Patient" {
		p, _ := r.claim["patient"].(map[string]any)
		return PatientMatch{Identifiers: identifiersOf([]any{p["identifier"]})}
	}
	return PatientMatch{ID: e.id, Identifiers: identifiersOf(e.object()["identifier"])}
}

func (m PatientMatch) matches(o PatientMatch) bool {
	if len(m.Identifiers) > 0 && len(o.Identifiers) > 0 {
		for _, a := range m.Identifiers {
			for _, b := range o.Identifiers {
				if sameIdentifier(a, b) {
					return true
				}
			}
		}
		return false
	}
	return m.ID != "" && m.ID == o.ID
}

func sameIdentifier(a, b Identifier) bool {
	return a.Value == b.Value && (a.System == "" || b.System == "" || a.System == b.System)
}

func (r *Record) matchesClaim(id Identifier) bool {
	return slices.ContainsFunc(r.Claim, func(c Identifier) bool { return sameIdentifier(c, id) })
}

// adjudicate decides every claim line and renders the responses.
func (s *Service) adjudicate(r *request, key string, pl *plan) (*Record, error) {
	bundle, err := s.p.Decoder.DecodeBundle(r.raw)
	if err != nil {
		return nil, err
	}
	var cv claimView
	if err := json.Unmarshal(r.entries[0].resource, &cv); err != nil {
		return nil, badf(claimPath, "structure", "the Claim does not have the FHIR R4 shape")
	}
	pe := r.resolve(refOf(r.claim["patient"]))
	if pe == nil {
		return nil, badf(claimPath+".patient", "required", "Claim.patient must reference the Patient entry of the bundle")
	}
	var mopts []mapping.MapOption
	if pe.id != "" {
		mopts = append(mopts, mapping.ForPatient(pe.id))
	}
	chart, err := s.p.Mapper.Map(bundle, mopts...)
	if err != nil {
		return nil, badf(claimPath+".patient", "invalid", "%v", err)
	}
	if len(cv.Item) != len(pl.drugs) {
		return nil, badf(claimPath+".item", "structure", "the Claim's items could not be read")
	}
	drugs := pl.drugs
	now := s.now().UTC()
	asOf := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC) // the review day, in UTC as the CLI's --as-of
	claimRef := "Claim"
	if id := r.entries[0].id; id != "" {
		claimRef = "Claim/" + id
	}

	lines := make([]lineInfo, len(cv.Item))
	items := make([]davinci.PASItem, len(cv.Item))
	recItems := make([]ItemRecord, len(cv.Item))
	type evaluated struct {
		det *rules.Determination
		key string
	}
	cache := map[string]evaluated{} // drug + policy id → evaluation (two lines of one drug share it)
	for i := range cv.Item {
		it := &cv.Item[i]
		lines[i] = lineInfo{index: i, item: it, drug: drugs[i], codes: it.ProductOrService.codes()}
		items[i] = davinci.PASItem{Sequence: it.Sequence, TraceNumbers: traceNumbers(it.Extension)}
		recItems[i] = ItemRecord{Sequence: it.Sequence, Drug: drugs[i], Decision: "not-reviewed"}
		if drugs[i] == "" {
			continue
		}
		pol := pl.policies[i]
		if pol == nil {
			items[i].NotReviewed = "no policy is configured for " + drugs[i] + " under this payer"
			continue
		}
		id := drugs[i] + "\x00" + pol.ID
		ev, ok := cache[id]
		if !ok {
			facts := maps.Clone(chart.Facts)
			facts["requested_drug"] = lineOrders(chart.Facts["requested_drug"], drugs[i], claimRef)
			ev.det = rules.Evaluate(pol, facts, rules.AsOf(asOf))
			ev.det.Drug = drugs[i] // the line's drug, whatever else the record orders
			ev.key = davinci.Key(chart.Patient, ev.det, facts)
			cache[id] = ev
		}
		items[i].Det = ev.det
		recItems[i].Policy, recItems[i].PolicyVersion = ev.det.Policy, ev.det.PolicyVersion
		recItems[i].Decision, recItems[i].DeterminationKey = string(ev.det.Decision), ev.key
		if recItems[i].Determination, err = json.Marshal(ev.det); err != nil {
			return nil, fmt.Errorf("encode determination: %w", err)
		}
	}
	// Infusion administration lines carry the decision of the gene therapy
	// they administer (the least favourable when the claim has several).
	lead := -1
	for i := range items {
		if items[i].Det != nil && (lead < 0 || severity(items[i].Det.Decision) > severity(items[lead].Det.Decision)) {
			lead = i
		}
	}
	for i := range items {
		if items[i].Det != nil || drugs[i] != "" {
			continue
		}
		if lead >= 0 && (lines[i].has(infusionAdmin...) != "" || lines[i].has(wrongAdminCodes...) != "") {
			items[i].Det, items[i].FollowsItem = items[lead].Det, items[lead].Sequence
			recItems[i].Drug, recItems[i].Policy, recItems[i].PolicyVersion = items[lead].Det.Drug, items[lead].Det.Policy, items[lead].Det.PolicyVersion
			recItems[i].Decision, recItems[i].FollowsItem = string(items[lead].Det.Decision), items[lead].Sequence
			continue
		}
		items[i].NotReviewed = "the line is not a hemophilia gene therapy (Hemgenix, Beqvez, Roctavian) or its administration; it goes to standard utilization review"
		if c := lines[i].has(unlistedCodes...); c != "" {
			items[i].NotReviewed = c + " does not identify the drug; bill a gene therapy with its own HCPCS code"
		}
	}
	for i := range items {
		recItems[i].ReviewAction, _ = davinci.PASReviewAction(items[i])
	}
	errs := checkCoding(r, &cv, lines, claimTypeIs(cv.Type, "institutional"))

	preAuthRef := davinci.PreAuthRef(key)
	resp := davinci.PASResponse{
		ID: key, Type: cv.Type, PreAuthRef: preAuthRef, AsOf: asOf.Format("2006-01-02"), Items: items, Errors: errs,
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
		Created: now, Outcome: davinci.PASOutcome(items, errs), Items: recItems}
	if rec.Response, err = build(false); err != nil {
		return nil, fmt.Errorf("render response: %w", err)
	}
	if rec.Inquiry, err = build(true); err != nil {
		return nil, fmt.Errorf("render inquiry response: %w", err)
	}
	return rec, nil
}

func severity(d rules.Decision) int {
	return map[rules.Decision]int{rules.Approve: 0, rules.Pend: 1, rules.Deny: 2, rules.NotCovered: 3}[d]
}

func claimTypeIs(raw json.RawMessage, code string) bool {
	var cc codeableConcept
	return json.Unmarshal(raw, &cc) == nil && slices.ContainsFunc(cc.Coding, func(c struct {
		System string `json:"system"`
		Code   string `json:"code"`
	}) bool {
		return c.Code == code
	})
}

// lineOrders is what a claim line is decided on: its own drug, plus the
// orders of the record (MedicationRequest, ServiceRequest) — not the other
// lines of the same Claim. A record whose orders name another drug then makes
// the line ambiguous (the record.order guard pends it), instead of the line
// hiding the record's own order.
func lineOrders(recorded []rules.Value, drug, claimRef string) []rules.Value {
	var out []rules.Value
	for _, v := range recorded {
		if !strings.HasPrefix(v.Source, "Claim/") && v.Source != claimRef {
			out = append(out, v)
		}
	}
	return append(out, rules.Value{Code: drug, Source: claimRef})
}

// itemDrugs names the gene therapy of each Claim.item (by index) exactly as
// the mapping reads a preauthorization Claim: each item's productOrService is
// put alone in a Claim of its own, and the requested_drug facts say which
// drug each names. Only productOrService (codings and text) is read, so it is
// copied from the JSON rather than decoded with the whole Claim.
func (s *Service) itemDrugs(items []any) ([]string, error) {
	out := make([]string, len(items))
	str := func(m map[string]any, k string) *dtpb.String {
		v, _ := m[k].(string)
		return &dtpb.String{Value: v}
	}
	probe := &bcrpb.Bundle{Entry: []*bcrpb.Bundle_Entry{{Resource: &bcrpb.ContainedResource{
		OneofResource: &bcrpb.ContainedResource_Patient{Patient: &patpb.Patient{}}}}}}
	for i, x := range items {
		it, _ := x.(map[string]any)
		pos, _ := it["productOrService"].(map[string]any)
		cc := &dtpb.CodeableConcept{Text: str(pos, "text")}
		codings, _ := pos["coding"].([]any)
		for _, y := range codings {
			c, _ := y.(map[string]any)
			sys, _ := c["system"].(string)
			code, _ := c["code"].(string)
			cc.Coding = append(cc.Coding, &dtpb.Coding{System: &dtpb.Uri{Value: sys}, Code: &dtpb.Code{Value: code}, Display: str(c, "display")})
		}
		claim := &claimpb.Claim{Id: &dtpb.Id{Value: "item-" + strconv.Itoa(i)},
			Use:  &claimpb.Claim_UseCode{Value: codespb.UseCode_PREAUTHORIZATION},
			Item: []*claimpb.Claim_Item{{ProductOrService: cc}}}
		probe.Entry = append(probe.Entry, &bcrpb.Bundle_Entry{Resource: &bcrpb.ContainedResource{
			OneofResource: &bcrpb.ContainedResource_Claim{Claim: claim}}})
	}
	chart, err := s.p.Mapper.Map(probe)
	if err != nil {
		return nil, fmt.Errorf("read item products: %w", err)
	}
	for _, v := range chart.Facts["requested_drug"] {
		if i, err := strconv.Atoi(strings.TrimPrefix(v.Source, "Claim/item-")); err == nil && i >= 0 && i < len(out) && out[i] == "" {
			out[i] = v.Code
		}
	}
	return out, nil
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
	crURL := "urn:uuid:" + uuidOf(key)
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

// uuidOf formats a hex key as a (version 8, name-based) UUID.
func uuidOf(key string) string {
	h := sha256.Sum256([]byte(key))
	h[6] = h[6]&0x0f | 0x80
	h[8] = h[8]&0x3f | 0x80
	x := hex.EncodeToString(h[:16])
	return x[:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:]
}

package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"hemopa/auth"
	"hemopa/cmd/hemopa/internal/pipeline"
	"hemopa/fhir"
	"hemopa/mapping"
	"hemopa/rules"
)

// liveFlags are the flags of the live (FHIR server) path. Each can also come
// from the environment (HEMOPA_FHIR_SERVER, …) or a --config file.
type liveFlags struct {
	server, clientID, key, tokenURL, scope, outbox, config, logLevel string
	writeBack                                                        bool
	timeout                                                          time.Duration
}

func (l *liveFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&l.server, "fhir-server", "", "FHIR R4 base URL (live mode)")
	fs.StringVar(&l.clientID, "client-id", "", "SMART Backend Services client id (with --key)")
	fs.StringVar(&l.key, "key", "", "private key file (PEM or JWK) that signs the client assertion")
	fs.StringVar(&l.tokenURL, "token-url", "", "token endpoint (default: from .well-known/smart-configuration)")
	fs.StringVar(&l.scope, "scope", "", "space-separated scopes (default: what the policies read, v2 or v1 as the server advertises)")
	fs.StringVar(&l.outbox, "outbox", "outbox", "directory that keeps write-backs that could not be delivered")
	fs.BoolVar(&l.writeBack, "write-back", false, "write ClaimResponse, QuestionnaireResponse and Task back (idempotent)")
	fs.DurationVar(&l.timeout, "timeout", 2*time.Minute, "overall time limit for each FHIR exchange, retries included")
	fs.StringVar(&l.config, "config", "", "YAML file of flag values (keys are flag names)")
	fs.StringVar(&l.logLevel, "log-level", "off", "JSON logs on stderr: off, debug, info, warn, error (ids and counts, never PHI or secrets)")
}

// logger logs JSON lines on stderr. The default, "off", keeps the CLI's
// stderr to the one-line error; info shows ids, counts and round trips.
func (l *liveFlags) logger(w io.Writer) *slog.Logger {
	lvl := slog.Level(100)
	if l.logLevel != "off" {
		if err := lvl.UnmarshalText([]byte(l.logLevel)); err != nil {
			lvl = slog.LevelWarn
		}
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: lvl}))
}

// liveConn is an authenticated FHIR client.
type liveConn struct {
	fhir *fhir.Client
	auth *auth.Client // nil on an open server
	log  *slog.Logger
}

// connect builds the FHIR client, with SMART Backend Services auth when a
// client id and key are given. resourceTypes sets the default scopes.
func connect(ctx context.Context, l *liveFlags, resourceTypes []string, env *Env) (*liveConn, error) {
	if l.server == "" {
		return nil, usagef("--fhir-server is required")
	}
	if u, err := url.Parse(l.server); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usagef("--fhir-server %q is not an http(s) URL", l.server)
	}
	log := l.logger(env.Stderr)
	conn := &liveConn{log: log}
	hc := &http.Client{}
	if l.clientID != "" || l.key != "" {
		if l.clientID == "" || l.key == "" {
			return nil, usagef("--client-id and --key go together")
		}
		key, err := auth.LoadKey(l.key)
		if err != nil {
			return nil, usagef("--key: %v", err)
		}
		opts := []auth.Option{auth.WithFHIRBase(l.server), auth.WithResourceTypes(resourceTypes...), auth.WithLogger(log)}
		if l.tokenURL != "" {
			opts = append(opts, auth.WithTokenURL(l.tokenURL))
		}
		if l.scope != "" {
			opts = append(opts, auth.WithScopes(strings.Fields(l.scope)...))
		}
		if l.writeBack {
			opts = append(opts, auth.WithWriteBack())
		}
		if conn.auth, err = auth.New(ctx, l.clientID, key, opts...); err != nil {
			return nil, fmt.Errorf("SMART backend auth for %s: %w", l.server, err)
		}
		hc = conn.auth.HTTPClient(nil)
	}
	c, err := fhir.NewClient(l.server, fhir.WithHTTPClient(hc), fhir.WithTimeout(l.timeout), fhir.WithLogger(log))
	if err != nil {
		return nil, usagef("--fhir-server: %v", err)
	}
	conn.fhir = c
	return conn, nil
}

// windowedCategory is the one FHIR R4 observation category
// ([fhir.ObservationCategorySystem]) the live fetch reads only within the
// longest window the policies use: vital signs are measurements of now
// (weight) and the bulk of a long record. Every other Observation —
// laboratory, imaging, exam, any other category or none, whatever the code —
// is read over the whole record whenever a policy reads an Observation or a
// diagnosis without a window (an inhibitor titer is a history; a liver
// finding of cirrhosis stays a finding), so that results no code table knows
// reach the mapping's safety net.
const windowedCategory = "vital-signs"

// recordTypes are the resource types the live fetch reads in full (any
// status, any date) besides Patient and Observation: where diagnoses,
// histories, medicines given or billed, procedures, attestations and reports
// are written. include names what each search brings along (the referenced
// Medication, the order's requester).
var recordTypes = []struct{ typ, include string }{
	{"Claim", ""},
	{"Condition", ""},
	{"DiagnosticReport", ""},
	{"DocumentReference", ""},
	{"ExplanationOfBenefit", ""},
	{"MedicationAdministration", "&_include=MedicationAdministration:medication"},
	{"MedicationDispense", "&_include=MedicationDispense:medication"},
	{"MedicationRequest", "&_include=MedicationRequest:requester&_include=MedicationRequest:medication"},
	{"MedicationStatement", "&_include=MedicationStatement:medication"},
	{"Procedure", ""},
	{"QuestionnaireResponse", ""},
}

// fetchPlan lists the searches that bring one patient's record, sent as one
// batch (HAPI answers each with a single page at _count=1000; more pages cost
// a round trip each, and past the client's page cap the fetch fails rather
// than decide on part of the record):
//
//   - the Patient;
//   - Observations whatever their code: every one not categorised vital
//     signs over the whole record (category:not, which in FHIR R4 also
//     matches Observations with no category), and vital signs dated on or
//     after the first day of the longest window any selected policy uses, or
//     undated (a date filter alone would drop those). If no policy reads an
//     Observation or a diagnosis without a window, the first search takes the
//     same window; if no policy reads anything over a window, one search
//     reads every Observation;
//   - every Condition, medication resource (with the Medication it names),
//     Procedure, Claim, EOB, QuestionnaireResponse, DiagnosticReport and
//     DocumentReference, in any status (the mapping judges statuses), and
//     whatever else the mapper says carries a fact (ServiceRequest).
//
// No search filters by code: the code tables decide what a result means, not
// whether it is fetched.
func fetchPlan(m *mapping.Mapper, policies []*rules.Policy, patientID string, asOf time.Time) []string {
	windows := map[string]rules.Window{}
	unbounded := map[string]bool{}
	for _, p := range policies {
		for fact, w := range p.FactWindows() {
			prev, seen := windows[fact]
			switch {
			case w.IsZero() || unbounded[fact]:
				unbounded[fact] = true
			case !seen || w.Start(asOf).Before(prev.Start(asOf)):
				windows[fact] = w
			}
		}
	}
	floor := longestWindowStart(windows, asOf) // the longest window any policy uses, for any fact
	for f := range unbounded {
		delete(windows, f)
	}
	facts := make([]string, 0, len(windows)+len(unbounded))
	for f := range windows {
		facts = append(facts, f)
	}
	for f := range unbounded {
		facts = append(facts, f)
	}
	sort.Strings(facts)
	pid := url.QueryEscape(patientID)
	searches := []string{"Patient?_id=" + pid}

	obsFacts := map[string]bool{}
	for _, lc := range m.LabCodes() {
		obsFacts[lc.Fact] = true
	}
	history := false
	for f := range unbounded {
		if obsFacts[f] || slices.Contains(m.ResourceTypesFor([]string{f}), "Condition") {
			history = true
		}
	}
	obs := "Observation?patient=" + pid
	vitals := "&category=" + fhir.ObservationCategories(windowedCategory)
	others := "&category:not=" + fhir.ObservationCategories(windowedCategory)
	since := "&date=ge" + floor.Format("2006-01-02")
	switch {
	case floor.IsZero():
		searches = append(searches, obs+"&_count=1000")
	case history:
		searches = append(searches, obs+others+"&_count=1000",
			obs+vitals+since+"&_count=1000", obs+vitals+"&date:missing=true&_count=1000")
	default:
		searches = append(searches, obs+since+"&_count=1000", obs+"&date:missing=true&_count=1000")
	}

	// Every other resource type that holds the record, plus any the mapper names.
	types := map[string]string{}
	for _, rt := range recordTypes {
		types[rt.typ] = rt.include
	}
	for _, t := range m.ResourceTypesFor(facts) {
		if _, ok := types[t]; !ok {
			types[t] = ""
		}
	}
	names := make([]string, 0, len(types))
	for t := range types {
		names = append(names, t)
	}
	sort.Strings(names)
	for _, t := range names {
		switch t {
		case "Patient", "Observation":
			// Above.
		case "PractitionerRole":
			// Reached through the order's requester (_include, then a second trip if needed).
		default:
			searches = append(searches, t+"?patient="+pid+types[t]+"&_count=1000")
		}
	}
	return searches
}

// longestWindowStart is the first day of the longest window among windows
// for an as-of day; zero when there is none.
func longestWindowStart(windows map[string]rules.Window, asOf time.Time) time.Time {
	var floor time.Time
	for _, w := range windows {
		if s := w.Start(asOf); !w.IsZero() && (floor.IsZero() || s.Before(floor)) {
			floor = s
		}
	}
	return floor
}

// planTypes lists the resource types a plan reads (search types and what
// their _include brings), plus the prescriber's PractitionerRole: the read
// scopes the live path asks for.
func planTypes(plan []string) []string {
	set := map[string]bool{"PractitionerRole": true}
	for _, s := range plan {
		t, q, _ := strings.Cut(s, "?")
		set[t] = true
		if strings.Contains(q, ":medication") {
			set["Medication"] = true
		}
		if strings.Contains(q, ":requester") {
			set["Practitioner"] = true
		}
	}
	out := make([]string, 0, len(set))
	for t := range set {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// fetchPatient runs the plan as one batch, plus one search for the
// prescriber's PractitionerRole when the order names a Practitioner: at most
// two round trips after the token.
func fetchPatient(ctx context.Context, conn *liveConn, p *pipeline.Pipeline, policies []*rules.Policy, patientID string, asOf time.Time) ([]json.RawMessage, error) {
	plan := fetchPlan(p.Mapper, policies, patientID, asOf)
	// A decision wants the record as it is now, not a search result a server
	// cached a minute ago (HAPI reuses identical searches for 60 s, and its
	// cached batch answers even carry a malformed empty header line).
	ctx = fhir.NoCache(ctx)
	results, err := conn.fhir.Batch(ctx, plan)
	if err != nil {
		return nil, fmt.Errorf("fetch Patient/%s: %w", patientID, err)
	}
	var all []json.RawMessage
	seen := map[string]bool{}
	roles := map[string]bool{}
	practitioners := map[string]bool{}
	for _, entries := range results {
		for _, raw := range entries {
			var head struct {
				ResourceType string `json:"resourceType"`
				ID           string `json:"id"`
				Requester    struct {
					Reference string `json:"reference"`
				} `json:"requester"`
				Practitioner struct {
					Reference string `json:"reference"`
				} `json:"practitioner"`
			}
			if json.Unmarshal(raw, &head) != nil {
				continue
			}
			k := head.ResourceType + "/" + head.ID
			if seen[k] {
				continue // an _include can repeat a resource across searches
			}
			seen[k] = true
			all = append(all, raw)
			switch {
			case head.ResourceType == "PractitionerRole":
				roles[head.Practitioner.Reference] = true
			case strings.HasPrefix(head.Requester.Reference, "Practitioner/"):
				practitioners[head.Requester.Reference] = true
			}
		}
	}
	var want []string
	for pr := range practitioners {
		if !roles[pr] {
			want = append(want, strings.TrimPrefix(pr, "Practitioner/"))
		}
	}
	if len(want) > 0 {
		sort.Strings(want)
		more, err := conn.fhir.Search(ctx, "PractitionerRole?practitioner="+strings.Join(want, ",")+"&_count=100")
		if err != nil {
			return nil, fmt.Errorf("fetch PractitionerRole of the prescriber: %w", err)
		}
		all = append(all, more...)
	}
	conn.log.Info("fetched", "patient", patientID, "searches", len(plan), "resources", len(all), "round_trips", conn.fhir.RoundTrips())
	return all, nil
}

// evaluateLive fetches, decides and (with --write-back) writes the
// determinations back. A failed write-back is returned separately: the
// determinations are still printed and the write is kept in the outbox.
func evaluateLive(ctx context.Context, p *pipeline.Pipeline, f *evalFlags, policies []*rules.Policy, asOf time.Time, env *Env) ([]*rules.Determination, error, error) {
	if f.patient == "" {
		return nil, nil, usagef("--patient is required with --fhir-server")
	}
	types := planTypes(fetchPlan(p.Mapper, policies, f.patient, asOf))
	conn, err := connect(ctx, &f.live, types, env)
	if err != nil {
		return nil, nil, err
	}
	raws, err := fetchPatient(ctx, conn, p, policies, f.patient, asOf)
	if err != nil {
		return nil, nil, err
	}
	b, err := p.Decoder.DecodeResources(raws)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", f.live.server, err)
	}
	dets, chart, err := p.Decide(b, policies, asOf, f.patient)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", f.live.server, err)
	}
	tokens := int64(0)
	if conn.auth != nil {
		tokens = conn.auth.TokenRequests()
	}
	conn.log.Info("decided", "patient", f.patient, "policies", len(dets), "round_trips", conn.fhir.RoundTrips(), "token_requests", tokens)
	if !f.live.writeBack {
		return dets, nil, nil
	}
	ob := outbox{dir: f.live.outbox}
	var wbErr error
	for _, d := range dets {
		if err := writeBack(ctx, conn, ob, chart, d); err != nil && wbErr == nil {
			wbErr = err
		}
	}
	return dets, wbErr, nil
}

package pipeline

// TestMetamorphic applies every catalogue transformation (metamorphic_catalogue_test.go)
// to every sample patient × policy it bears on and checks the relation it must
// keep; FuzzMetamorphic composes them. HEMOPA_METAMORPHIC=report prints the
// counts and violations without failing (HEMOPA_METAMORPHIC_OUT=file also
// writes them there).

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"hemopa/fhir"
	"hemopa/rules"
)

var update = flag.Bool("update", false, "rewrite testdata/metamorphic/CATALOGUE.md")

const repoRoot = "../../../../"

// metaAsOf is the as-of date `make run` uses (SAMPLE_AS_OF).
var metaAsOf = time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)

// approvingBaseline lists the (sample, policy) pairs that approve: issue 7's
// "every approving sample still approves".
var approvingBaseline = []string{
	"a-approve/ny-pharmacy-109-roctavian",
	"b-approve/label-aligned-hemgenix", "b-approve/ny-pharmacy-109-hemgenix", "b-approve/ucare-hemgenix",
	"b-beqvez-approve/label-aligned-beqvez",
	"b-birthsex-female/label-aligned-hemgenix", "b-birthsex-female/ny-pharmacy-109-hemgenix",
	"b-inhibitor-history/label-aligned-hemgenix",
}

type metaSample struct {
	name, pid, hemo string
	data            []byte
	base            map[string]rules.Decision // policy id → decision
}

type metaEnv struct {
	p       *Pipeline
	full    *fhir.Decoder // validating decoder without the relevance filter
	pols    []*rules.Policy
	samples []*metaSample
}

func newMetaEnv(t testing.TB) *metaEnv {
	t.Helper()
	p, err := New()
	if err != nil {
		t.Fatal(err)
	}
	full, err := fhir.NewDecoder()
	if err != nil {
		t.Fatal(err)
	}
	pols, err := p.SelectPolicies("all")
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(repoRoot + "testdata/patients/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no sample patients: %v", err)
	}
	env := &metaEnv{p: p, full: full, pols: pols}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		s := &metaSample{name: strings.TrimSuffix(filepath.Base(f), ".json"), data: data, base: map[string]rules.Decision{}}
		x, err := newRec(data, "", "", metaAsOf)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if ps := x.resources("Patient"); len(ps) > 0 {
			s.pid, _ = ps[0]["id"].(string)
		}
		for _, c := range x.resources("Condition") {
			switch {
			case hasCode(c["code"], "D66") || hasCode(c["code"], "28293008"):
				s.hemo = "A"
			case hasCode(c["code"], "D67") || hasCode(c["code"], "41788008"):
				s.hemo = "B"
			}
		}
		dets, _, err := p.DecideJSON(data, pols, metaAsOf, s.pid)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		// Naming the patient must not change anything for a one-patient bundle.
		dets0, _, err := p.DecideJSON(data, pols, metaAsOf, "")
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		for i, d := range dets {
			s.base[pols[i].ID] = d.Decision
			if dets0[i].Decision != d.Decision {
				t.Fatalf("%s/%s: %s with the patient named, %s without", s.name, pols[i].ID, d.Decision, dets0[i].Decision)
			}
		}
		env.samples = append(env.samples, s)
	}
	return env
}

// outcome is one decision (or error) on a transformed record.
type outcome struct {
	dec rules.Decision
	err error
}

func (o outcome) String() string {
	if o.err != nil {
		return "error"
	}
	return string(o.dec)
}

// transform applies entries in order; errSkip when one does not apply.
func (env *metaEnv) transform(s *metaSample, u [][2]float64, es ...*entry) ([]byte, error) {
	x, err := newRec(s.data, s.pid, s.hemo, metaAsOf)
	if err != nil {
		return nil, err
	}
	for i, e := range es {
		x.u = u[i]
		if err := e.apply(x); err != nil {
			return nil, err
		}
	}
	return x.bytes()
}

// decide runs the pipeline for the listed policies.
func (env *metaEnv) decide(s *metaSample, data []byte, pols []*rules.Policy) []outcome {
	out := make([]outcome, len(pols))
	dets, _, err := env.p.DecideJSON(data, pols, metaAsOf, s.pid)
	for i := range pols {
		if err != nil {
			out[i] = outcome{err: err}
		} else {
			out[i] = outcome{dec: dets[i].Decision}
		}
	}
	return out
}

type violation struct {
	e              *entry
	sample, policy string
	base           rules.Decision
	got            outcome
}

type tally struct {
	runs           int
	entries        map[string]bool
	samples        map[string]bool
	policies       map[string]bool
	before, after  map[string]int
	byRel, violRel map[relation]int
}

func newTally() *tally {
	return &tally{entries: map[string]bool{}, samples: map[string]bool{}, policies: map[string]bool{},
		before: map[string]int{}, after: map[string]int{}, byRel: map[relation]int{}, violRel: map[relation]int{}}
}

var decisionOrder = []string{"approve", "deny", "pend", "not-covered", "error"}

func (tl *tally) counts(m map[string]int) string {
	var parts []string
	for _, d := range decisionOrder {
		parts = append(parts, fmt.Sprintf("%s %d", d, m[d]))
	}
	return strings.Join(parts, " · ")
}

func (tl *tally) write(w *strings.Builder, title string) {
	fmt.Fprintf(w, "%s: %d runs = %d transformations × %d patients × %d policies (applicable triples only)\n",
		title, tl.runs, len(tl.entries), len(tl.samples), len(tl.policies))
	fmt.Fprintf(w, "  before: %s\n", tl.counts(tl.before))
	fmt.Fprintf(w, "  after:  %s\n", tl.counts(tl.after))
	var rels []string
	for _, r := range []relation{relSame, relNotApprove, relPendOrWorse, relNoBetter, relRejected} {
		if tl.byRel[r] > 0 {
			rels = append(rels, fmt.Sprintf("%s %d runs / %d violated", r, tl.byRel[r], tl.violRel[r]))
		}
	}
	fmt.Fprintf(w, "  by relation: %s\n", strings.Join(rels, " · "))
}

// TestMetamorphic is issue 7's proof: no catalogue transformation breaks its
// relation on any sample patient × policy, and the approving samples approve.
func TestMetamorphic(t *testing.T) {
	report := os.Getenv("HEMOPA_METAMORPHIC") == "report"
	env := newMetaEnv(t)
	var w strings.Builder

	// Baseline: every approving sample still approves.
	var baseFail []string
	approving := map[string]bool{}
	for _, s := range env.samples {
		for _, pol := range env.pols {
			if s.base[pol.ID] == rules.Approve {
				approving[s.name+"/"+pol.ID] = true
			}
		}
	}
	for _, k := range approvingBaseline {
		if !approving[k] {
			baseFail = append(baseFail, k)
		}
	}
	fmt.Fprintf(&w, "baseline: %d approving (sample, policy) pairs as of %s; %d of the %d expected no longer approve %v\n",
		len(approving), metaAsOf.Format("2006-01-02"), len(baseFail), len(approvingBaseline), baseFail)

	tAppr, tOther := newTally(), newTally()
	var viols []violation
	var bugs []string
	skipped := 0
	for _, s := range env.samples {
		for i := range catalogue {
			e := &catalogue[i]
			var pols []*rules.Policy
			for _, pol := range env.pols {
				if e.appliesTo(pol.ID, s.hemo) {
					pols = append(pols, pol)
				}
			}
			if len(pols) == 0 {
				continue
			}
			data, err := env.transform(s, [][2]float64{{0.5, 0.5}}, e)
			if errors.Is(err, errSkip) {
				skipped++
				continue
			}
			if err != nil {
				bugs = append(bugs, fmt.Sprintf("%s on %s: %v", e.id, s.name, err))
				continue
			}
			if e.rel != relRejected {
				if _, err := env.full.DecodeBundle(data); err != nil {
					bugs = append(bugs, fmt.Sprintf("%s on %s: the transformed bundle is not valid FHIR R4: %v", e.id, s.name, err))
					continue
				}
			}
			for j, o := range env.decide(s, data, pols) {
				pol := pols[j].ID
				base := s.base[pol]
				tl := tOther
				if base == rules.Approve {
					tl = tAppr
				}
				tl.runs++
				tl.entries[e.id], tl.samples[s.name], tl.policies[pol] = true, true, true
				tl.before[string(base)]++
				tl.after[o.String()]++
				tl.byRel[e.rel]++
				if !e.rel.holds(base, o.dec, o.err) {
					tl.violRel[e.rel]++
					viols = append(viols, violation{e, s.name, pol, base, o})
				}
			}
		}
	}
	fmt.Fprintf(&w, "catalogue: %d transformations; %d (transformation, sample) combinations skipped (what they edit is absent)\n", len(catalogue), skipped)
	tAppr.write(&w, "approving pairs")
	tOther.write(&w, "non-approving pairs (only 'never turns non-approve into approve', no-better and same are checked)")
	writeViolations(&w, viols)
	if len(bugs) > 0 {
		fmt.Fprintf(&w, "TEST BUGS (%d):\n  %s\n", len(bugs), strings.Join(bugs, "\n  "))
	}
	out := w.String()
	t.Log("\n" + out)
	if f := os.Getenv("HEMOPA_METAMORPHIC_OUT"); f != "" {
		if err := os.WriteFile(f, []byte(out), 0o644); err != nil {
			t.Error(err)
		}
	}
	if len(bugs) > 0 {
		t.Errorf("%d transformations produced invalid records (a test bug)", len(bugs))
	}
	if report {
		return
	}
	if len(baseFail) > 0 {
		t.Errorf("approving samples no longer approve: %v", baseFail)
	}
	if len(viols) > 0 {
		t.Errorf("%d metamorphic relations violated (listed above; HEMOPA_METAMORPHIC=report to only report)", len(viols))
	}
}

func writeViolations(w *strings.Builder, viols []violation) {
	fmt.Fprintf(w, "violations: %d\n", len(viols))
	byItem := map[string][]violation{}
	for _, v := range viols {
		byItem[v.e.item] = append(byItem[v.e.item], v)
	}
	for _, it := range itemOrder {
		vs := byItem[it]
		if len(vs) == 0 {
			continue
		}
		var ids []string
		byEntry := map[string][]string{}
		for _, v := range vs {
			if byEntry[v.e.id] == nil {
				ids = append(ids, v.e.id)
			}
			why := ""
			if v.got.err != nil {
				why = " (" + firstLine(v.got.err.Error()) + ")"
			}
			byEntry[v.e.id] = append(byEntry[v.e.id], fmt.Sprintf("%s/%s %s→%s%s", v.sample, v.policy, v.base, v.got, why))
		}
		fmt.Fprintf(w, "  item %s — %s: %d violations in %d transformations\n", it, itemTitles[it], len(vs), len(ids))
		for _, id := range ids {
			rel := byEntry[id]
			var e *entry
			for _, v := range vs {
				if v.e.id == id {
					e = v.e
					break
				}
			}
			fmt.Fprintf(w, "    %s (must be %s): %d\n", id, e.rel, len(rel))
			for _, r := range rel {
				fmt.Fprintf(w, "        %s\n", r)
			}
		}
	}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return s
}

var itemOrder = []string{"P", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10"}

// itemTitles names issue 7's "What must hold" items (in our words).
var itemTitles = map[string]string{
	"P":  "The principle: what is irrelevant stays irrelevant",
	"1":  "Histories are histories",
	"2":  "Prior gene therapy is found wherever it is recorded",
	"3":  "Attestations have an author who may attest",
	"4":  "The newest result decides; an unreadable newest result stops older ones",
	"5":  "The record is about this patient",
	"6":  "Dates and numbers are taken at their precision",
	"7":  "The JSON is read once, strictly",
	"8":  "Terminology judgement re-examined",
	"9":  "The record fetched is the record (results only a broad fetch brings reach the safety net)",
	"10": "The order is the drug decided",
}

var relationHelp = map[relation]string{
	relSame:        "the decision is unchanged",
	relNotApprove:  "the result is never approve (adding this never turns non-approve into approve)",
	relPendOrWorse: "the result is pend, deny or not-covered (unreadable or unattested evidence: pend expected)",
	relNoBetter:    "the decision does not move toward approve (not-covered > deny > pend > approve)",
	relRejected:    "the bundle is refused with an error",
}

// renderCatalogue is CATALOGUE.md: the catalogue as a reviewer's checklist.
func renderCatalogue() []byte {
	var b bytes.Buffer
	b.WriteString("# Metamorphic catalogue — issue 7, fail-safe reading of the record\n\n")
	b.WriteString("Generated from `cmd/hemopa/internal/pipeline/metamorphic_catalogue_test.go` by\n")
	b.WriteString("`go test ./cmd/hemopa/internal/pipeline -run TestMetamorphicCatalogue -update`; the same test without\n")
	b.WriteString("`-update` fails when this file is stale. `TestMetamorphic` applies every line to every sample patient\n")
	b.WriteString("(testdata/patients) × policy it bears on, as of 2026-11-24; `FuzzMetamorphic` composes them.\n\n")
	b.WriteString("## Relations\n\n")
	for _, r := range []relation{relSame, relNotApprove, relPendOrWorse, relNoBetter, relRejected} {
		fmt.Fprintf(&b, "- **%s** — %s\n", r, relationHelp[r])
	}
	b.WriteString("\n## Which policies a line bears on\n\n")
	b.WriteString("A line naming concepts applies to the policies whose source document makes one of them a criterion;\n")
	b.WriteString("a line naming none applies to every policy; an ordered-drug line applies to the policies for another drug.\n\n")
	b.WriteString("| concept | policies |\n|---|---|\n")
	concepts := map[string][]string{}
	var ids []string
	for id := range policyDocs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		for _, c := range policyDocs[id].concepts {
			concepts[c] = append(concepts[c], id)
		}
	}
	var cs []string
	for c := range concepts {
		cs = append(cs, c)
	}
	sort.Strings(cs)
	for _, c := range cs {
		fmt.Fprintf(&b, "| %s | %s |\n", c, strings.Join(concepts[c], ", "))
	}
	counts := map[string]int{}
	for _, e := range catalogue {
		counts[e.item]++
	}
	fmt.Fprintf(&b, "\n%d transformations.\n", len(catalogue))
	for _, it := range itemOrder {
		fmt.Fprintf(&b, "\n## %s — %s (%d)\n\n", it, itemTitles[it], counts[it])
		if counts[it] == 0 {
			b.WriteString("_No record transformation: covered elsewhere._\n")
		}
		for _, e := range catalogue {
			if e.item != it {
				continue
			}
			scope := "every policy"
			switch {
			case e.orders != "":
				scope = "policies for another drug than " + e.orders
			case len(e.concepts) > 0:
				scope = strings.Join(e.concepts, ", ")
			}
			if e.hemo != "" {
				scope += "; hemophilia " + e.hemo + " only"
			}
			fmt.Fprintf(&b, "- [ ] `%s` — **%s** — %s _(%s)_\n", e.id, e.rel, e.desc, scope)
		}
	}
	return b.Bytes()
}

// TestMetamorphicCatalogue checks the catalogue is well formed and that
// testdata/metamorphic/CATALOGUE.md is current.
func TestMetamorphicCatalogue(t *testing.T) {
	seen := map[string]bool{}
	perItem := map[string]int{}
	concepts := map[string]bool{}
	for _, d := range policyDocs {
		for _, c := range d.concepts {
			concepts[c] = true
		}
	}
	for _, e := range catalogue {
		if seen[e.id] {
			t.Errorf("duplicate id %s", e.id)
		}
		seen[e.id] = true
		perItem[e.item]++
		if _, ok := itemTitles[e.item]; !ok {
			t.Errorf("%s: unknown item %q", e.id, e.item)
		}
		if _, ok := relationHelp[e.rel]; !ok {
			t.Errorf("%s: unknown relation %q", e.id, e.rel)
		}
		if !strings.Contains(e.id, "/") || e.desc == "" || e.apply == nil {
			t.Errorf("%s: needs a family/variant id, a description and a transformation", e.id)
		}
		for _, c := range e.concepts {
			if !concepts[c] {
				t.Errorf("%s: concept %q is no policy's", e.id, c)
			}
		}
		if e.rel.disqualifies() && len(e.concepts) == 0 && e.orders == "" && e.item != "5" {
			t.Errorf("%s: a disqualifying transformation should name the concepts it bears on", e.id)
		}
	}
	for _, it := range itemOrder {
		if perItem[it] < 2 {
			t.Errorf("item %s has %d transformations; every item needs several variants", it, perItem[it])
		}
	}
	path := repoRoot + "testdata/metamorphic/CATALOGUE.md"
	got := renderCatalogue()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is stale: go test ./cmd/hemopa/internal/pipeline -run TestMetamorphicCatalogue -update", path)
	}
}

// FuzzMetamorphic: the input picks an approving sample, then up to four
// catalogue transformations (one byte each) with two parameter bytes each
// (dates, values). A record that received one disqualifying transformation a
// policy bears on (applied after the others, since a later edit may undo an
// earlier addition) is never approved under it; a rejected one is an error;
// same-only sequences keep the decision.
func FuzzMetamorphic(f *testing.F) {
	env := newMetaEnv(f)
	type pair struct {
		s    *metaSample
		pols []*rules.Policy
	}
	var pairs []pair
	for _, s := range env.samples {
		var pols []*rules.Policy
		for _, pol := range env.pols {
			if s.base[pol.ID] == rules.Approve {
				pols = append(pols, pol)
			}
		}
		if len(pols) > 0 {
			pairs = append(pairs, pair{s, pols})
		}
	}
	if len(pairs) == 0 {
		f.Fatal("no approving sample")
	}
	idx := func(id string) byte {
		for i := range catalogue {
			if catalogue[i].id == id {
				return byte(i)
			}
		}
		f.Fatalf("seed names unknown entry %s", id)
		return 0
	}
	if len(catalogue) > 256 {
		f.Fatal("the fuzz encoding picks an entry with one byte: at most 256 entries")
	}
	f.Add([]byte{0, idx("invariance/reverse-entry-order"), 0, 0})
	f.Add([]byte{1, idx("invariance/heart-rate-vital-sign"), 10, 20, idx("inhibitor-history/old-positive-bethesda"), 200, 3})
	f.Add([]byte{1, idx("prior-gene-therapy/eob-ndc-11-digits"), 128, 128, idx("invariance/rotate-entry-order"), 0, 0})
	f.Add([]byte{2, idx("newest-result/platelets-other-loinc-low"), 255, 255, idx("this-patient/other-patient-low-platelets"), 1, 1})
	f.Add([]byte{3, idx("precision/hiv-rna-log10"), 0, 0, idx("ordered-drug/roctavian"), 9, 9, idx("strict-json/duplicate-code-key"), 5, 5})
	// HEMOPA_METAMORPHIC=report: log violations instead of failing (to exercise
	// the harness itself — invalid records, panics — while the product is fixed).
	fail := func(t *testing.T, format string, args ...any) { t.Errorf(format, args...) }
	if os.Getenv("HEMOPA_METAMORPHIC") == "report" {
		fail = func(t *testing.T, format string, args ...any) { t.Logf(format, args...) }
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) < 4 {
			return
		}
		pr := pairs[int(in[0])%len(pairs)]
		var es []*entry
		var us [][2]float64
		groups := map[string]bool{}
		for i := 1; i+2 < len(in) && len(es) < 4; i += 3 {
			e := &catalogue[int(in[i])%len(catalogue)]
			if e.group != "" && groups[e.group] {
				continue
			}
			groups[e.group] = e.group != ""
			es = append(es, e)
			us = append(us, [2]float64{float64(in[i+1]) / 256, float64(in[i+2]) / 256})
		}
		var ids []string
		rejected := false
		for _, e := range es {
			rejected = rejected || e.rel == relRejected
			ids = append(ids, e.id)
		}
		for _, pol := range pr.pols {
			// Transformations do not commute: a later one may undo an
			// earlier one (re-authoring every QuestionnaireResponse undoes
			// a new one's answer). So the relation is checked when exactly
			// one disqualifying transformation bears on the policy, applied
			// last; with several, only that nothing breaks.
			var order []*entry
			var ous [][2]float64
			var disq []int
			allSame := true
			for i, e := range es {
				allSame = allSame && e.rel == relSame
				if e.appliesTo(pol.ID, pr.s.hemo) && e.rel.disqualifies() {
					disq = append(disq, i)
					continue
				}
				order, ous = append(order, e), append(ous, us[i])
			}
			for _, i := range disq {
				order, ous = append(order, es[i]), append(ous, us[i])
			}
			data, err := env.transform(pr.s, ous, order...)
			if errors.Is(err, errSkip) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			if !rejected {
				if _, err := env.full.DecodeBundle(data); err != nil {
					t.Fatalf("%s on %s: not valid FHIR R4 (a test bug): %v", ids, pr.s.name, err)
				}
			}
			o := env.decide(pr.s, data, []*rules.Policy{pol})[0]
			switch {
			case rejected && o.err == nil:
				fail(t, "%s on %s/%s: %s, must be rejected", ids, pr.s.name, pol.ID, o)
			case rejected:
			case len(disq) == 1 && (o.err != nil || o.dec == rules.Approve):
				fail(t, "%s on %s/%s: %s, must not be approve", ids, pr.s.name, pol.ID, o)
			case allSame && (o.err != nil || o.dec != rules.Approve):
				fail(t, "%s on %s/%s: %s, must stay approve", ids, pr.s.name, pol.ID, o)
			}
		}
	})
}

package pas

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"hemopa/cmd/hemopa/internal/davinci"
	"hemopa/mapping"
	"hemopa/rules"
)

// adjudicate decides every claim line and renders the responses: read the
// patient's chart, decide the gene therapy lines, let administration lines
// follow them, check the billing and coding rules, render.
func (s *Service) adjudicate(ctx context.Context, r *request, key string, pl *plan) (*Record, error) {
	cv, chart, err := s.readChart(r, pl)
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	asOf := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC) // the review day, in UTC as the CLI's --as-of
	ls, err := decideLines(r, cv, pl, chart, asOf)
	if err != nil {
		return nil, err
	}
	ls.followGeneTherapies()
	errs := checkCoding(r, cv, ls.info, claimTypeIs(cv.Type, "institutional"))
	auth, err := s.orderAuthorization(ctx, r, pl.drugs, asOf.Format("2006-01-02"))
	if err != nil {
		return nil, fmt.Errorf("look up the order's authorization: %w", err)
	}
	return r.render(key, cv, ls, errs, now, asOf, auth)
}

// readChart decodes the bundle and maps the record of the Claim's patient.
func (s *Service) readChart(r *request, pl *plan) (*claimView, *mapping.Chart, error) {
	bundle, err := s.p.Decoder.DecodeBundle(r.raw)
	if err != nil {
		return nil, nil, err
	}
	var cv claimView
	if err := json.Unmarshal(r.entries[0].resource, &cv); err != nil {
		return nil, nil, badf(claimPath, "structure", "the Claim does not have the FHIR R4 shape")
	}
	pe := r.resolve(refOf(r.claim["patient"]))
	if pe == nil {
		return nil, nil, badf(claimPath+".patient", "required", "Claim.patient must reference the Patient entry of the bundle")
	}
	var mopts []mapping.MapOption
	if pe.id != "" {
		mopts = append(mopts, mapping.ForPatient(pe.id))
	}
	chart, err := s.p.Mapper.Map(bundle, mopts...)
	if err != nil {
		return nil, nil, badf(claimPath+".patient", "invalid", "%v", err)
	}
	if len(cv.Item) != len(pl.drugs) {
		return nil, nil, badf(claimPath+".item", "structure", "the Claim's items could not be read")
	}
	return &cv, chart, nil
}

// lines is an adjudication by item index: each line as the coding rules see
// it, its response item and its stored record.
type lines struct {
	drugs []string // the plan's: "" if the line names no gene therapy
	info  []lineInfo
	items []davinci.PASItem
	recs  []ItemRecord
}

// decideLines evaluates each gene therapy line under its planned policy
// (lines of one drug and policy share one evaluation); a line without a
// policy is not reviewed.
func decideLines(r *request, cv *claimView, pl *plan, chart *mapping.Chart, asOf time.Time) (*lines, error) {
	claimRef := "Claim"
	if id := r.entries[0].id; id != "" {
		claimRef = "Claim/" + id
	}
	n := len(cv.Item)
	ls := &lines{drugs: pl.drugs, info: make([]lineInfo, n), items: make([]davinci.PASItem, n), recs: make([]ItemRecord, n)}
	type evaluated struct {
		det *rules.Determination
		key string
	}
	cache := map[string]evaluated{} // drug + policy id → evaluation
	for i := range cv.Item {
		it, drug := &cv.Item[i], pl.drugs[i]
		ls.info[i] = lineInfo{index: i, item: it, drug: drug, codes: it.ProductOrService.codes()}
		ls.items[i] = davinci.PASItem{Sequence: it.Sequence, TraceNumbers: traceNumbers(it.Extension)}
		ls.recs[i] = ItemRecord{Sequence: it.Sequence, Drug: drug, Decision: "not-reviewed"}
		if drug == "" {
			continue
		}
		pol := pl.policies[i]
		if pol == nil {
			ls.items[i].NotReviewed = "no policy is configured for " + drug + " under this payer"
			continue
		}
		id := drug + "\x00" + pol.ID
		ev, ok := cache[id]
		if !ok {
			facts := maps.Clone(chart.Facts)
			facts["requested_drug"] = lineOrders(chart.Facts["requested_drug"], drug, claimRef)
			ev.det = rules.Evaluate(pol, facts, rules.AsOf(asOf))
			ev.det.Drug = drug // the line's drug, whatever else the record orders
			ev.key = davinci.Key(chart.Patient, ev.det, facts)
			cache[id] = ev
		}
		ls.items[i].Det = ev.det
		rec := &ls.recs[i]
		rec.Policy, rec.PolicyVersion = ev.det.Policy, ev.det.PolicyVersion
		rec.Decision, rec.DeterminationKey = string(ev.det.Decision), ev.key
		var err error
		if rec.Determination, err = json.Marshal(ev.det); err != nil {
			return nil, fmt.Errorf("encode determination: %w", err)
		}
	}
	return ls, nil
}

// followGeneTherapies gives infusion administration lines the decision of
// the gene therapy they administer (the least favourable when the claim has
// several); the other lines without a gene therapy are not reviewed.
func (ls *lines) followGeneTherapies() {
	items, recs := ls.items, ls.recs
	lead := -1
	for i := range items {
		if items[i].Det != nil && (lead < 0 || severity(items[i].Det.Decision) > severity(items[lead].Det.Decision)) {
			lead = i
		}
	}
	for i := range items {
		if items[i].Det != nil || ls.drugs[i] != "" {
			continue
		}
		if lead >= 0 && (ls.info[i].has(infusionAdmin...) != "" || ls.info[i].has(wrongAdminCodes...) != "") {
			items[i].Det, items[i].FollowsItem = items[lead].Det, items[lead].Sequence
			recs[i].Drug, recs[i].Policy, recs[i].PolicyVersion = items[lead].Det.Drug, items[lead].Det.Policy, items[lead].Det.PolicyVersion
			recs[i].Decision, recs[i].FollowsItem = string(items[lead].Det.Decision), items[lead].Sequence
			continue
		}
		items[i].NotReviewed = "the line is not a hemophilia gene therapy (Hemgenix, Beqvez, Roctavian) or its administration; it goes to standard utilization review"
		if c := ls.info[i].has(unlistedCodes...); c != "" {
			items[i].NotReviewed = c + " does not identify the drug; bill a gene therapy with its own HCPCS code"
		}
	}
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

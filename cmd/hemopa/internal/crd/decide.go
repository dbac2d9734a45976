package crd

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"time"

	bcrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"

	"hemopa/cmd/hemopa/internal/davinci"
	"hemopa/cmd/hemopa/internal/pipeline"
	"hemopa/fhir"
	"hemopa/mapping"
	"hemopa/rules"
)

// decider runs the pipeline on raw resources. Decoded resources are cached
// by the pipeline's decoder (content-addressed); on top of it the decider
// caches determinations, and the drug each order names, by the digest of
// all their inputs — bounded in size and age, shared read-only — so a hook
// call whose data did not change decodes and evaluates nothing.
type decider struct {
	p         *pipeline.Pipeline
	decisions *lru[[32]byte, *decision]
	drugs     *lru[[32]byte, string] // the drug an order names
	observe   func(cache string, hit bool)
}

// decision is one policy's determination for one patient.
type decision struct {
	Policy  *rules.Policy
	Det     *rules.Determination
	Facts   rules.Facts
	Patient string // "Patient/id"
	Key     string // davinci.Key: the coverage-assertion id
}

func newDecider(p *pipeline.Pipeline, size int, ttl time.Duration, observe func(cache string, hit bool)) *decider {
	return &decider{p: p, observe: observe,
		decisions: newLRU[[32]byte, *decision](size, ttl),
		drugs:     newLRU[[32]byte, string](size, ttl)}
}

// digests are the SHA-256 of each resource's bytes.
func digests(rs []resource) [][32]byte {
	sums := make([][32]byte, len(rs))
	for i, r := range rs {
		sums[i] = sha256.Sum256(r.Raw)
	}
	return sums
}

// bundle decodes resources (the decoder caches them) into a Bundle, leaving
// out those the mapping does not want.
func (d *decider) bundle(rs []resource) (*bcrpb.Bundle, error) {
	b := &bcrpb.Bundle{Entry: make([]*bcrpb.Bundle_Entry, 0, len(rs))}
	for _, r := range rs {
		out, err := d.p.Decoder.DecodeResources([]json.RawMessage{r.Raw})
		if err != nil {
			msg := err.Error()
			var de *fhir.DecodeError
			if errors.As(err, &de) {
				msg = de.Err.Error()
			}
			return nil, badRequest("bad-resource", "%s: %s", r.Ref(), msg)
		}
		b.Entry = append(b.Entry, out.GetEntry()...)
	}
	return b, nil
}

// decide evaluates one policy for the patient described by rs. The
// determination is cached under the digest of every input; a hit decodes
// nothing.
//
// gaps are the parts of the record that could not be read (optional
// prefetch keys neither sent nor fetched): they make what they would have
// carried unreadable.
func (d *decider) decide(rs []resource, pol *rules.Policy, asOf time.Time, patientID string, gaps ...mapping.Gap) (*decision, error) {
	sums := digests(rs)
	day := asOf.UTC().Format("2006-01-02")
	h := sha256.New()
	for _, s := range []string{pol.ID, pol.Version(), day, patientID} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	for _, g := range gaps {
		h.Write([]byte(g.ResourceType + "\x00" + g.Source + "\x00" + g.Problem + "\x00"))
	}
	for _, s := range sums {
		h.Write(s[:])
	}
	var key [32]byte
	h.Sum(key[:0])
	if dec, ok := d.decisions.get(key); ok {
		d.observe("decisions", true)
		return dec, nil
	}
	if d.decisions != nil {
		d.observe("decisions", false)
	}
	b, err := d.bundle(rs)
	if err != nil {
		return nil, err
	}
	dets, chart, err := d.p.Decide(b, []*rules.Policy{pol}, asOf, patientID, mapping.WithGaps(gaps...))
	if err != nil {
		return nil, unprocessable("mapping", "%v", err)
	}
	dec := &decision{Policy: pol, Det: dets[0], Facts: chart.Facts, Patient: chart.Patient}
	dec.Key = davinci.Key(chart.Patient, dec.Det, chart.Facts)
	d.decisions.put(key, dec)
	return dec, nil
}

// orderedDrug maps an order with its stand-in Patient and companions and
// returns its requested_drug ("" for none), cached by the inputs' digest.
func (d *decider) orderedDrug(rs []resource, patientID, orderRef string) (string, error) {
	h := sha256.New()
	h.Write([]byte(patientID + "\x00" + orderRef + "\x00"))
	sums := digests(rs)
	for _, s := range sums {
		h.Write(s[:])
	}
	var key [32]byte
	h.Sum(key[:0])
	if drug, ok := d.drugs.get(key); ok {
		return drug, nil
	}
	b, err := d.bundle(rs)
	if err != nil {
		return "", err
	}
	_, chart, err := d.p.Decide(b, nil, time.Time{}, patientID)
	if err != nil {
		return "", err
	}
	drug := ""
	for _, v := range chart.Facts["requested_drug"] {
		if v.Source == orderRef {
			drug = v.Code
			break
		}
	}
	d.drugs.put(key, drug)
	return drug, nil
}

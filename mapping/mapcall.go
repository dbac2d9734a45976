package mapping

import (
	"fmt"
	"strings"

	bcrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"

	"hemopa/rules"
)

type mapCall struct {
	m         *Mapper
	chart     *Chart
	patientID string
	entries   []*entry
	byKey     map[string]*entry // fullUrl and Type/id
	patient   *entry
	prescribe string // reference of the gene therapy order's requester
}

func (c *mapCall) index(b *bcrpb.Bundle) {
	c.byKey = make(map[string]*entry, len(b.GetEntry())*2)
	for _, be := range b.GetEntry() {
		if be.GetResource() == nil {
			continue
		}
		e := &entry{fullURL: be.GetFullUrl().GetValue(), res: be.GetResource()}
		e.typ, e.id = typeAndID(e.res)
		c.entries = append(c.entries, e)
		if e.fullURL != "" {
			c.byKey[e.fullURL] = e
		}
		if e.id != "" {
			c.byKey[e.typ+"/"+e.id] = e
		}
	}
}

// resolve finds a referenced entry: by fullUrl (urn:uuid or absolute), by
// relative Type/id, or by the Type/id tail of an absolute URL.
func (c *mapCall) resolve(ref string) *entry {
	if ref == "" {
		return nil
	}
	if e := c.byKey[ref]; e != nil {
		return e
	}
	if i := strings.Index(ref, "/_history/"); i > 0 {
		ref = ref[:i]
	}
	parts := strings.Split(strings.TrimRight(ref, "/"), "/")
	if len(parts) >= 2 {
		return c.byKey[parts[len(parts)-2]+"/"+parts[len(parts)-1]]
	}
	return nil
}

func (c *mapCall) pickPatient() error {
	var patients []*entry
	for _, e := range c.entries {
		if e.typ == "Patient" {
			patients = append(patients, e)
		}
	}
	switch {
	case c.patientID != "":
		for _, p := range patients {
			if p.id == c.patientID {
				c.patient = p
			}
		}
		if c.patient == nil {
			return fmt.Errorf("no Patient with id %q in the bundle (%d Patient entries)", c.patientID, len(patients))
		}
	case len(patients) == 1:
		c.patient = patients[0]
	case len(patients) == 0:
		return fmt.Errorf("the bundle holds no Patient resource")
	default:
		return fmt.Errorf("the bundle holds %d Patient resources: choose one with --patient", len(patients))
	}
	c.chart.Patient = c.patient.ref()
	return nil
}

func (c *mapCall) add(fact string, v rules.Value) { c.chart.Facts.Add(fact, v) }

func (c *mapCall) mapAll() {
	c.mapPatient(c.patient)
	// Orders first: they name the requested drug and the prescriber.
	for _, e := range c.entries {
		switch e.typ {
		case "MedicationRequest", "ServiceRequest", "Claim":
			c.mapOrder(e)
		}
	}
	for _, e := range c.entries {
		read := readers[e.typ]
		if read == nil {
			continue
		}
		if read(c, e) {
			c.chart.Read[e.typ]++
		} else {
			c.chart.Ignored++
		}
	}
	c.mapPrescriber()
	c.settleAttribution()
}

// readers map each resource type the mapping reads to its reader, which
// reports whether the resource gave a fact. One file per family of resources
// holds the readers (observation.go, condition.go, products.go …).
var readers = map[string]func(*mapCall, *entry) bool{
	"Observation": func(c *mapCall, e *entry) bool { return c.mapObservation(e, e.res.GetObservation()) },
	"Condition":   (*mapCall).mapCondition,
	"QuestionnaireResponse": func(c *mapCall, e *entry) bool {
		return c.mapQuestionnaireResponse(e, e.res.GetQuestionnaireResponse())
	},
	"MedicationRequest":        (*mapCall).mapMedication,
	"MedicationStatement":      (*mapCall).mapMedication,
	"MedicationAdministration": (*mapCall).mapMedication,
	"Procedure":                (*mapCall).mapProcedure,
	"Claim":                    (*mapCall).mapClaim,
	"ExplanationOfBenefit":     (*mapCall).mapClaim,
	"MedicationDispense":       (*mapCall).mapMedication,
}

package mapping

import (
	"fmt"
	"strings"

	bcrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"
	"google.golang.org/protobuf/types/known/anypb"

	"hemopa/rules"
)

type mapCall struct {
	gaps      []Gap // parts of the record that could not be read (WithGaps)
	m         *Mapper
	chart     *Chart
	patientID string
	entries   []*entry
	byKey     map[string]*entry // fullUrl and Type/id
	patient   *entry
	prescribe string // reference of the gene therapy order's requester

	// Contained resources: container → local id → entry, and entry → its container.
	contained map[*entry]map[string]*entry
	container map[*entry]*entry
	// gave records the entries that yielded a value (readable or not), so a
	// report can tell whether its results were read.
	gave map[*entry]bool
}

// maxNesting bounds how deep nested Bundles are followed.
const maxNesting = 4

func (c *mapCall) index(b *bcrpb.Bundle) {
	c.byKey = make(map[string]*entry, len(b.GetEntry())*2)
	c.contained = map[*entry]map[string]*entry{}
	c.container = map[*entry]*entry{}
	c.gave = map[*entry]bool{}
	c.indexBundle(b, 0)
}

// indexBundle indexes a bundle's entries; the entries of a Bundle inside an
// entry are indexed like the outer ones (first key wins), and every entry's
// contained resources are indexed under their container.
func (c *mapCall) indexBundle(b *bcrpb.Bundle, depth int) {
	for _, be := range b.GetEntry() {
		res := be.GetResource()
		if res == nil {
			continue
		}
		if nb := res.GetBundle(); nb != nil {
			if depth < maxNesting {
				c.indexBundle(nb, depth+1)
			}
			continue
		}
		e := &entry{fullURL: be.GetFullUrl().GetValue(), res: res}
		e.typ, e.id = typeAndID(e.res)
		c.entries = append(c.entries, e)
		if e.fullURL != "" && c.byKey[e.fullURL] == nil {
			c.byKey[e.fullURL] = e
		}
		if e.id != "" && c.byKey[e.typ+"/"+e.id] == nil {
			c.byKey[e.typ+"/"+e.id] = e
		}
		c.indexContained(e)
	}
}

// indexContained indexes a resource's contained resources. They are read like
// entries; their source is the container's reference plus "#id", and "#id"
// references resolve within the container.
func (c *mapCall) indexContained(parent *entry) {
	for _, cr := range containedOf(parent.res) {
		typ, id := typeAndID(cr)
		if typ == "" {
			continue
		}
		e := &entry{fullURL: parent.ref() + "#" + id, typ: typ, res: cr}
		if c.contained[parent] == nil {
			c.contained[parent] = map[string]*entry{}
		}
		c.contained[parent][id] = e
		c.container[e] = parent
		c.entries = append(c.entries, e)
	}
}

// resolve finds a referenced entry: by fullUrl (urn:uuid or absolute), by
// relative Type/id, or by the Type/id tail of an absolute URL.
func (c *mapCall) resolve(ref string) *entry {
	if ref == "" || strings.HasPrefix(ref, "#") {
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

// resolveFrom resolves a reference written in from: "#id" is a resource
// contained in from (or in from's container), "#" the container itself; any
// other reference as resolve.
func (c *mapCall) resolveFrom(from *entry, ref string) *entry {
	if !strings.HasPrefix(ref, "#") {
		return c.resolve(ref)
	}
	owner := from
	if p := c.container[from]; p != nil {
		owner = p
	}
	if ref == "#" {
		return owner
	}
	return c.contained[owner][ref[1:]]
}

func (c *mapCall) pickPatient() error {
	var patients []*entry
	seen := map[string]bool{}
	for _, e := range c.entries {
		if e.typ != "Patient" || c.container[e] != nil {
			continue
		}
		// The same Patient twice (an outer and a nested bundle) is one patient.
		if e.id != "" && seen[e.id] {
			continue
		}
		seen[e.id] = true
		patients = append(patients, e)
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
	// Reports last: they look at what their results gave.
	for _, late := range []bool{false, true} {
		for _, e := range c.entries {
			read := readers[e.typ]
			if read == nil && !late && c.m.unreadType(e.typ) {
				read = (*mapCall).mapOther
			}
			if read == nil || lateReaders[e.typ] != late {
				continue
			}
			if read(c, e) {
				c.chart.Read[e.typ]++
			} else {
				c.chart.Ignored++
			}
		}
	}
	c.mapPrescriber()
	c.settleAttribution()
	c.addGaps()
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
	"DiagnosticReport":         (*mapCall).mapDiagnosticReport,
	"DocumentReference":        (*mapCall).mapDocumentReference,
	"MedicationDispense":       (*mapCall).mapMedication,
}

// lateReaders run after every other reader.
var lateReaders = map[string]bool{"DiagnosticReport": true}

// containedOf unpacks a resource's contained resources (each an Any holding a
// ContainedResource).
func containedOf(cr *bcrpb.ContainedResource) []*bcrpb.ContainedResource {
	m := cr.ProtoReflect()
	od := m.Descriptor().Oneofs().ByName("oneof_resource")
	if od == nil {
		return nil
	}
	f := m.WhichOneof(od)
	if f == nil {
		return nil
	}
	res := m.Get(f).Message()
	cf := res.Descriptor().Fields().ByName("contained")
	if cf == nil || !cf.IsList() {
		return nil
	}
	list := res.Get(cf).List()
	var out []*bcrpb.ContainedResource
	for i := 0; i < list.Len(); i++ {
		a, ok := list.Get(i).Message().Interface().(*anypb.Any)
		if !ok {
			continue
		}
		inner := &bcrpb.ContainedResource{}
		if err := a.UnmarshalTo(inner); err == nil {
			out = append(out, inner)
		}
	}
	return out
}

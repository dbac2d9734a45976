package mapping

import (
	"slices"
	"strconv"
	"strings"
	"unicode"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"hemopa/rules"
)

// Attribution (issue 7, "the record is about this patient"). Every resource
// that belongs to a patient names them in subject, patient or beneficiary.
// Only resources that name our patient count:
//
//   - a reference decides when it has one: it must resolve to our Patient entry,
//     or end in Patient/<our id>; any other target (another Patient, a Group, a
//     contained resource) excludes the resource;
//   - an identifier-only reference must carry one of the patient's identifiers
//     (system and value);
//   - a display-only reference must spell one of the patient's names (the same
//     words, any order and case); a display that contradicts a matching
//     reference or identifier makes the resource unattributable;
//   - no reference at all is the patient's in a bundle of one patient, and
//     unattributable in a bundle of several.
//
// Excluded resources are listed in Chart.Excluded ("Observation/x: subject is
// Patient/other"; identifiers and names, being PHI, are never printed).
// Unattributable resources that gave facts become unreadable for those facts
// ("cannot be attributed to this patient"); those that gave none are excluded.

type attribution int8

const (
	ours attribution = iota
	notOurs
	unattributed
)

// subjectFields are the fields that name a resource's patient, by priority.
var subjectFields = []protoreflect.Name{"subject", "patient", "beneficiary"}

// subjectOf finds the reference naming the resource's patient. has reports
// whether the resource type has such a field at all (Medication, Practitioner
// and the like do not belong to a patient).
func subjectOf(e *entry) (ref *dtpb.Reference, has bool) {
	m := e.res.ProtoReflect()
	od := m.Descriptor().Oneofs().ByName("oneof_resource")
	if od == nil {
		return nil, false
	}
	f := m.WhichOneof(od)
	if f == nil {
		return nil, false
	}
	res := m.Get(f).Message()
	for _, name := range subjectFields {
		fd := res.Descriptor().Fields().ByName(name)
		if fd == nil || fd.Kind() != protoreflect.MessageKind || fd.IsList() {
			continue
		}
		if string(fd.Message().Name()) != "Reference" {
			continue
		}
		if !res.Has(fd) {
			return nil, true
		}
		r, _ := res.Get(fd).Message().Interface().(*dtpb.Reference)
		return r, true
	}
	return nil, false
}

// about reports whether a subject/patient reference may be read as our
// patient's: a reference naming someone else is not. A missing reference, or
// one whose display contradicts it, is read here and settled afterwards by
// settleAttribution, which knows the entry.
func (c *mapCall) about(r *dtpb.Reference) bool {
	a, _ := c.attribute(r)
	return a != notOurs
}

// attribute decides whom a reference names, with the reason when it is not
// (plainly) our patient. A nil or empty reference is unattributed here; the
// caller decides what a missing subject means.
func (c *mapCall) attribute(r *dtpb.Reference) (attribution, string) {
	s := refString(r)
	display := r.GetDisplay().GetValue()
	id := r.GetIdentifier()
	switch {
	case s != "":
		if strings.HasPrefix(s, "#") {
			return notOurs, "subject is a contained resource"
		}
		target := ""
		if e := c.resolve(s); e != nil {
			if e != c.patient {
				return notOurs, "subject is " + e.ref()
			}
		} else {
			base := s
			if i := strings.Index(base, "/_history/"); i > 0 {
				base = base[:i]
			}
			parts := strings.Split(strings.TrimRight(base, "/"), "/")
			if len(parts) < 2 || parts[len(parts)-2] != "Patient" || c.patient.id == "" || parts[len(parts)-1] != c.patient.id {
				if len(parts) >= 2 {
					target = parts[len(parts)-2] + "/" + parts[len(parts)-1]
				} else {
					target = "an unknown resource"
				}
				return notOurs, "subject is " + target
			}
		}
	case id != nil && id.GetValue().GetValue() != "":
		if !c.patientHasIdentifier(id) {
			return notOurs, "subject identifier is not one of this patient's identifiers"
		}
	case display != "":
		switch c.matchesName(display) {
		case nameMatches:
			return ours, ""
		case nameDiffers:
			return notOurs, "subject display is not this patient's name"
		case namePartly:
			return unattributed, "subject is named only by a display that is close to, but not, this patient's name"
		default:
			return unattributed, "subject is named only by a display and the patient has no name to compare"
		}
	default:
		return unattributed, "no subject"
	}
	if display != "" && c.matchesName(display) == nameDiffers {
		return unattributed, "subject display contradicts its reference"
	}
	return ours, ""
}

func (c *mapCall) patientHasIdentifier(id *dtpb.Identifier) bool {
	sys, val := id.GetSystem().GetValue(), strings.TrimSpace(id.GetValue().GetValue())
	for _, pid := range c.patient.res.GetPatient().GetIdentifier() {
		if strings.TrimSpace(pid.GetValue().GetValue()) == val && (sys == "" || pid.GetSystem().GetValue() == "" || pid.GetSystem().GetValue() == sys) {
			return true
		}
	}
	return false
}

type nameMatch int8

const (
	noNameToCompare nameMatch = iota
	nameMatches
	namePartly // shares a name word ("D. Okafor", "Daniel J Okafor (MRN …)")
	nameDiffers
)

// matchesName compares a display with the patient's names: the same words
// (letters and digits, any case and order) as a name's text, or as its given
// names and family name (prefixes and suffixes optional).
func (c *mapCall) matchesName(display string) nameMatch {
	want := nameWords(display)
	names := c.patient.res.GetPatient().GetName()
	compared, partly := false, false
	for _, n := range names {
		var core, full []string
		for _, g := range n.GetGiven() {
			core = append(core, nameWords(g.GetValue())...)
		}
		core = append(core, nameWords(n.GetFamily().GetValue())...)
		full = append(full, core...)
		for _, p := range n.GetPrefix() {
			full = append(full, nameWords(p.GetValue())...)
		}
		for _, s := range n.GetSuffix() {
			full = append(full, nameWords(s.GetValue())...)
		}
		for _, cand := range [][]string{nameWords(n.GetText().GetValue()), core, full} {
			if len(cand) == 0 {
				continue
			}
			compared = true
			if sameWords(want, cand) {
				return nameMatches
			}
			partly = partly || shareWord(want, cand)
		}
	}
	switch {
	case !compared:
		return noNameToCompare
	case partly:
		return namePartly
	}
	return nameDiffers
}

// shareWord reports whether a and b have a word of two letters or more in common.
func shareWord(a, b []string) bool {
	for _, x := range a {
		if len(x) > 1 && slices.Contains(b, x) {
			return true
		}
	}
	return false
}

func nameWords(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
}

func sameWords(a, b []string) bool {
	if len(a) != len(b) || len(a) == 0 {
		return false
	}
	count := map[string]int{}
	for _, w := range a {
		count[w]++
	}
	for _, w := range b {
		if count[w]--; count[w] < 0 {
			return false
		}
	}
	return true
}

// settleAttribution runs after every reader: it drops values taken from
// resources that name someone else (whatever their reader did), turns the
// values of unattributable resources into unreadable ones, and lists the
// excluded resources.
func (c *mapCall) settleAttribution() {
	patients := 0
	for _, e := range c.entries {
		if e.typ == "Patient" {
			patients++
		}
	}
	drop := map[string]string{}     // source → reason
	unattrib := map[string]string{} // source → reason
	var order []string              // sources in bundle order, for stable output
	for _, e := range c.entries {
		if e == c.patient || e.typ == "Patient" {
			continue
		}
		ref, has := subjectOf(e)
		if !has {
			continue
		}
		a, why := c.attribute(ref)
		if a == unattributed && why == "no subject" {
			if patients <= 1 {
				continue // a single-patient bundle: the resource is the patient's
			}
			why = "no subject in a bundle of " + strconv.Itoa(patients) + " patients"
		}
		switch a {
		case notOurs:
			drop[e.ref()] = why
		case unattributed:
			unattrib[e.ref()] = why
		default:
			continue
		}
		order = append(order, e.ref())
	}
	if len(order) == 0 {
		return
	}
	gave, counted := map[string]bool{}, map[string]bool{}
	for fact, vs := range c.chart.Facts {
		kept := vs[:0]
		for _, v := range vs {
			if _, ok := drop[v.Source]; ok {
				continue
			}
			if why, ok := unattrib[v.Source]; ok {
				gave[v.Source] = true
				if v.Readable() {
					if !counted[v.Source] {
						counted[v.Source] = true
						c.chart.Unreadable++
					}
					v = rules.Value{Source: v.Source, Text: v.Text, Date: v.Date,
						Problem: "cannot be attributed to this patient (" + why + ") — correct its subject"}
				}
			}
			kept = append(kept, v)
		}
		if len(kept) == 0 {
			delete(c.chart.Facts, fact)
			continue
		}
		c.chart.Facts[fact] = kept
	}
	for _, src := range order {
		if why, ok := drop[src]; ok {
			c.chart.Excluded = append(c.chart.Excluded, src+": "+why)
		} else if !gave[src] {
			c.chart.Excluded = append(c.chart.Excluded, src+": "+unattrib[src])
		}
	}
}

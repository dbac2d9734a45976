package mapping

import (
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/google/fhir/go/jsonformat"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	bcrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"
)

// entry is one resource of the bundle with the keys it can be referenced by.
type entry struct {
	fullURL string
	typ     string
	id      string
	res     *bcrpb.ContainedResource
}

// ref is how evidence names the resource: "Type/id", else its fullUrl.
func (e *entry) ref() string {
	if e.id != "" {
		return e.typ + "/" + e.id
	}
	if e.fullURL != "" {
		return e.fullURL
	}
	return e.typ
}

// typeAndID reads the resource type and logical id of a contained resource.
func typeAndID(cr *bcrpb.ContainedResource) (string, string) {
	m := cr.ProtoReflect()
	od := m.Descriptor().Oneofs().ByName("oneof_resource")
	if od == nil {
		return "", ""
	}
	f := m.WhichOneof(od)
	if f == nil {
		return "", ""
	}
	res := m.Get(f).Message()
	typ := string(res.Descriptor().Name())
	idf := res.Descriptor().Fields().ByName("id")
	id := ""
	if idf != nil && res.Has(idf) {
		if idMsg, ok := res.Get(idf).Message().Interface().(*dtpb.Id); ok {
			id = idMsg.GetValue()
		}
	}
	return typ, id
}

// refString renders a Reference as written in JSON ("Patient/1", "urn:uuid:…").
func refString(r *dtpb.Reference) string {
	if r == nil {
		return ""
	}
	if u := r.GetUri().GetValue(); u != "" {
		return u
	}
	if f := r.GetFragment().GetValue(); f != "" {
		return "#" + f
	}
	c := proto.Clone(r).(*dtpb.Reference)
	if err := jsonformat.DenormalizeReference(c); err != nil {
		return ""
	}
	return c.GetUri().GetValue()
}

// status renders a FHIR code enum ("ENTERED_IN_ERROR") as written ("entered-in-error").
func status(s fmt.Stringer) string {
	return strings.ToLower(strings.ReplaceAll(s.String(), "_", "-"))
}

// day is the calendar day of a FHIR date/dateTime/instant in its own time zone.
func day(us int64, tz string) time.Time {
	t := time.UnixMicro(us).In(location(tz))
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

func location(tz string) *time.Location {
	switch tz {
	case "", "Z", "UTC":
		return time.UTC
	}
	if l, err := time.LoadLocation(tz); err == nil {
		return l
	}
	if t, err := time.Parse("-07:00", tz); err == nil {
		_, off := t.Zone()
		return time.FixedZone(tz, off)
	}
	return time.UTC
}

func dateTime(d *dtpb.DateTime) time.Time {
	if d == nil || d.GetValueUs() == 0 && d.GetTimezone() == "" {
		return time.Time{}
	}
	return day(d.GetValueUs(), d.GetTimezone())
}

func dateOf(d *dtpb.Date) time.Time {
	if d == nil || d.GetValueUs() == 0 && d.GetTimezone() == "" {
		return time.Time{}
	}
	return day(d.GetValueUs(), d.GetTimezone())
}

func instant(d *dtpb.Instant) time.Time {
	if d == nil || d.GetValueUs() == 0 && d.GetTimezone() == "" {
		return time.Time{}
	}
	return day(d.GetValueUs(), d.GetTimezone())
}

// periodDay is a period's end, else its start.
func periodDay(p *dtpb.Period) time.Time {
	if p == nil {
		return time.Time{}
	}
	if t := dateTime(p.GetEnd()); !t.IsZero() {
		return t
	}
	return dateTime(p.GetStart())
}

func firstDate(ts ...time.Time) time.Time {
	for _, t := range ts {
		if !t.IsZero() {
			return t
		}
	}
	return time.Time{}
}

// codings flattens a CodeableConcept into (system, code, display) triples.
type coding struct{ system, code, display string }

func codingsOf(cc *dtpb.CodeableConcept) []coding {
	if cc == nil {
		return nil
	}
	out := make([]coding, 0, len(cc.GetCoding()))
	for _, c := range cc.GetCoding() {
		out = append(out, coding{c.GetSystem().GetValue(), c.GetCode().GetValue(), c.GetDisplay().GetValue()})
	}
	return out
}

// textOf is everything human-readable in a CodeableConcept, lower-cased.
func textOf(cc *dtpb.CodeableConcept) string {
	if cc == nil {
		return ""
	}
	var b strings.Builder
	b.WriteString(strings.ToLower(cc.GetText().GetValue()))
	for _, c := range cc.GetCoding() {
		b.WriteByte(' ')
		b.WriteString(strings.ToLower(c.GetDisplay().GetValue()))
	}
	return b.String()
}

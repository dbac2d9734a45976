package mapping

import (
	"strings"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
)

// about reports whether a subject/patient reference points at our patient. A
// missing reference is taken as the bundle's patient.
func (c *mapCall) about(r *dtpb.Reference) bool {
	s := refString(r)
	if s == "" {
		return true
	}
	if e := c.resolve(s); e != nil {
		return e == c.patient
	}
	// A reference to a patient outside the bundle: compare the id.
	parts := strings.Split(s, "/")
	return len(parts) >= 2 && parts[len(parts)-2] == "Patient" && parts[len(parts)-1] == c.patient.id && c.patient.id != ""
}

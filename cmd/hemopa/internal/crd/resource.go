package crd

import (
	"encoding/json"

	"hemopa/cmd/hemopa/internal/serve/cdshooks"
)

// resource is a raw FHIR resource as a request carries it.
type resource = cdshooks.Resource

// stubPatient stands in for a Patient the request does not hold.
func stubPatient(id string) resource {
	return resource{Type: "Patient", ID: id, Raw: json.RawMessage(`{"resourceType":"Patient","id":"` + id + `"}`)}
}

// resourceSet collects the record a policy is evaluated on, in order, each
// resource once: a Type/id seen before is left out (the first wins);
// resources without an id are all kept.
type resourceSet struct {
	seen map[string]bool
	list []resource
}

// add appends the resources not yet in the set.
func (s *resourceSet) add(rs ...resource) {
	if s.seen == nil {
		s.seen = map[string]bool{}
	}
	for _, r := range rs {
		if r.ID != "" {
			if s.seen[r.Ref()] {
				continue
			}
			s.seen[r.Ref()] = true
		}
		s.list = append(s.list, r)
	}
}

// skip keeps ref out of the set (the order as sent, once its evaluated form
// is in).
func (s *resourceSet) skip(ref string) {
	if s.seen == nil {
		s.seen = map[string]bool{}
	}
	s.seen[ref] = true
}

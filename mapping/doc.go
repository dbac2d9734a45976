// Package mapping turns one patient's FHIR R4 resources (google/fhir protos)
// into the criteria model of package rules: typed facts with value, UCUM unit,
// date, upper limit of normal and the FHIR reference each came from.
//
// Every resource is accounted for: mapped to a fact, known irrelevant, or
// relevant but unreadable. Relevant means a code the tables know, or — the
// safety net — a word of vocabulary.yaml in its text and displays, or a value
// shape (Bethesda units, kPa); types with no reader go through the net on all
// their text unless vocabulary.yaml lists them as irrelevant. A relevant
// resource that cannot be read becomes an unreadable value (rules.Value.Problem)
// of every fact it could affect, so the criteria reading them are unknown and
// the missing line names it. Parts of the record that could not be fetched are
// gaps (WithGaps) and work the same way.
//
// The codes, units, qualitative words, drug products and safety-net words are
// data (codes.yaml, products.yaml, vocabulary.yaml, embedded), extended per
// site with a code map (WithCodeMap). Units are converted, never assumed.
// Entered-in-error, cancelled and refuted resources are ignored; resources
// about another patient are excluded (Chart.Excluded).
package mapping

// Package mapping turns one patient's FHIR R4 resources (google/fhir protos)
// into the criteria model of package rules: typed facts with value, UCUM unit,
// date, upper limit of normal and the FHIR reference each came from.
//
// The codes, units, qualitative words and drug products it recognises are data
// (codes.yaml, products.yaml, embedded), extended per site with a code map
// (WithCodeMap). Units are converted, never assumed: a unit the tables do not
// know makes the value unreadable, and the criterion that needs it unknown.
// Entered-in-error, cancelled and refuted resources are ignored.
package mapping

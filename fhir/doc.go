// Package fhir talks FHIR R4: it decodes Bundles into google/fhir protos
// (DecodeBundle) and reads and writes a FHIR server over HTTP (Client).
//
// Decoding follows the data that matters: every entry is peeked at cheaply
// (resourceType, id, code) and only the entries a Filter keeps are decoded
// and validated in full with jsonformat. Errors name the FHIR path, e.g.
// `Bundle.entry[3].resource (Observation/fix-1): error at "Observation.status": …`.
package fhir

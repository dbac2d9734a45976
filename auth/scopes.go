package auth

import (
	"regexp"
	"slices"
)

// ScopeVersion selects SMART v1 (".read"/".write") or v2 (".rs"/".cu")
// scope syntax.
type ScopeVersion int

const (
	// ScopesV2 is SMART App Launch 2.x syntax: system/Observation.rs.
	ScopesV2 ScopeVersion = iota
	// ScopesV1 is SMART App Launch 1.0 syntax: system/Observation.read.
	ScopesV1
)

func (v ScopeVersion) String() string {
	if v == ScopesV1 {
		return "v1"
	}
	return "v2"
}

// ReadResourceTypes are the resource types hemopa reads to decide a prior
// authorization.
var ReadResourceTypes = []string{
	"Patient", "Observation", "Condition", "MedicationRequest", "MedicationStatement",
	"MedicationAdministration", "Procedure", "Claim", "ExplanationOfBenefit",
	"QuestionnaireResponse", "PractitionerRole", "Practitioner", "Coverage",
}

// WriteResourceTypes are the resource types hemopa creates or updates when
// it writes a determination back.
var WriteResourceTypes = []string{"ClaimResponse", "QuestionnaireResponse", "Task"}

// SystemScopes builds system-level scopes: read (v2 ".rs", v1 ".read") for
// each of readTypes and, when writeBack is set, write (v2 ".cu", v1 ".write")
// for each of WriteResourceTypes. A nil readTypes means ReadResourceTypes.
func SystemScopes(v ScopeVersion, readTypes []string, writeBack bool) []string {
	if readTypes == nil {
		readTypes = ReadResourceTypes
	}
	read, write := ".rs", ".cu"
	if v == ScopesV1 {
		read, write = ".read", ".write"
	}
	var out []string
	add := func(s string) {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	for _, t := range readTypes {
		add("system/" + t + read)
	}
	if writeBack {
		for _, t := range WriteResourceTypes {
			add("system/" + t + write)
		}
	}
	return out
}

var (
	scopeV1 = regexp.MustCompile(`^(system|user|patient)/(\*|[A-Za-z]+)\.(read|write|\*)$`)
	scopeV2 = regexp.MustCompile(`^(system|user|patient)/(\*|[A-Za-z]+)\.c?r?u?d?s?(\?.*)?$`)
)

// DetectScopeVersion picks the scope syntax from a server's scopes_supported:
// v1 only when the list holds v1 resource scopes and no v2 ones, else v2
// (also when the list is empty or holds no resource scopes).
func DetectScopeVersion(scopesSupported []string) ScopeVersion {
	v1, v2 := false, false
	for _, s := range scopesSupported {
		switch {
		case scopeV1.MatchString(s):
			v1 = true
		case scopeV2.MatchString(s) && !isBareContext(s):
			v2 = true
		}
	}
	if v1 && !v2 {
		return ScopesV1
	}
	return ScopesV2
}

// isBareContext rejects "system/Patient." style strings with no permissions,
// which the v2 pattern would otherwise accept.
func isBareContext(s string) bool { return s[len(s)-1] == '.' }

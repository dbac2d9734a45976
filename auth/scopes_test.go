package auth

import (
	"slices"
	"testing"
)

func TestSystemScopes(t *testing.T) {
	for _, tc := range []struct {
		name  string
		v     ScopeVersion
		types []string
		write bool
		want  []string
	}{
		{"v2 read", ScopesV2, []string{"Patient", "Observation"}, false,
			[]string{"system/Patient.rs", "system/Observation.rs"}},
		{"v1 read", ScopesV1, []string{"Patient"}, false, []string{"system/Patient.read"}},
		{"v2 write", ScopesV2, []string{"Patient"}, true,
			[]string{"system/Patient.rs", "system/ClaimResponse.cu", "system/QuestionnaireResponse.cu", "system/Task.cu"}},
		{"v1 write", ScopesV1, []string{}, true,
			[]string{"system/ClaimResponse.write", "system/QuestionnaireResponse.write", "system/Task.write"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := SystemScopes(tc.v, tc.types, tc.write); !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
	all := SystemScopes(ScopesV2, nil, false)
	if len(all) != 13 || !slices.Contains(all, "system/ExplanationOfBenefit.rs") || !slices.Contains(all, "system/Coverage.rs") {
		t.Errorf("default read scopes = %v", all)
	}
}

func TestDetectScopeVersion(t *testing.T) {
	for _, tc := range []struct {
		name      string
		supported []string
		want      ScopeVersion
	}{
		{"none", nil, ScopesV2},
		{"v2", []string{"system/Observation.rs", "system/*.cruds"}, ScopesV2},
		{"v1 only", []string{"openid", "system/Observation.read", "system/*.write", "launch"}, ScopesV1},
		{"both (Oracle)", []string{"system/Observation.read", "system/Observation.rs"}, ScopesV2},
		{"v1 wildcard", []string{"system/*.*"}, ScopesV1},
		{"no resource scopes", []string{"openid", "fhirUser", "launch/patient"}, ScopesV2},
		{"v2 with query", []string{"system/Observation.rs?category=laboratory", "system/Patient.read"}, ScopesV2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := DetectScopeVersion(tc.supported); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

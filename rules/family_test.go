package rules

import (
	"slices"
	"testing"
)

// TestFamilies pins which family answers each test on each fact kind: the
// table the compiler used before the families registered themselves.
func TestFamilies(t *testing.T) {
	all := []Kind{KindQuantity, KindTiter, KindResult, KindCode, KindCondition, KindEvent, KindDate, KindAge}
	labs := []Kind{KindQuantity, KindTiter, KindResult}
	events := []Kind{KindCondition, KindEvent}
	for _, tc := range []struct {
		test   test
		family string
		kinds  []Kind // the kinds it applies to; nil: a check that reads no fact
	}{
		{testAlways, "always", nil},
		{testDose, "dose", nil},
		{testAttest, "attestation", nil},
		{testOp, "numeric", []Kind{KindQuantity, KindTiter}},
		{testOp, "age", []Kind{KindAge}},
		{testEquals, "coded", []Kind{KindCode}},
		{isTest(IsPresent), "presence", []Kind{KindQuantity, KindTiter, KindResult, KindCondition, KindEvent, KindCode}},
		{isTest(IsAbsent), "presence", events},
		{isTest(IsUndocumented), "presence", events},
		{isTest(IsNegative), "qualitative", labs},
		{isTest(IsPositive), "qualitative", labs},
		{isTest(IsNotDetected), "qualitative", []Kind{KindQuantity}},
		{isTest(IsNeverPositive), "qualitative", labs},
		{isTest(IsPolicyDrug), "policy-drug", []Kind{KindCode}},
	} {
		if tc.kinds == nil {
			if f := familyFor(tc.test, ""); f == nil || f.name != tc.family {
				t.Errorf("%s: family %v, want %s", tc.test, f, tc.family)
			}
			continue
		}
		for _, k := range tc.kinds {
			if f := familyFor(tc.test, k); f == nil || f.name != tc.family {
				t.Errorf("%s on %s: family %v, want %s", tc.test, k, f, tc.family)
			}
		}
		for _, k := range all {
			if f := familyFor(tc.test, k); f != nil && f.name == tc.family && !slices.Contains(tc.kinds, k) {
				t.Errorf("%s on %s: %s answers it, want no family", tc.test, k, f.name)
			}
		}
	}
	for _, is := range factIs {
		if !answersIs(is) {
			t.Errorf("no family answers is: %s", is)
		}
	}
	for _, fs := range families {
		for _, f := range fs {
			if f.eval == nil {
				t.Errorf("family %s has no eval", f.name)
			}
		}
	}
}

// TestRegisterClash: two families answering one test on one kind is a
// programming error, caught when the second registers.
func TestRegisterClash(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic")
		}
	}()
	register(&family{name: "clash", answers: map[test][]Kind{testOp: {KindAge}}})
}

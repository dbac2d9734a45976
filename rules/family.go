package rules

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// A family is one kind of leaf check: the tests it answers, the compile
// step particular to it and its evaluation. Each family lives in its own
// file and registers itself there (func init() { register(...) }); the
// compiler picks a check's family once, and the evaluator calls it through
// Check.family — an indirect call that allocates nothing.
type family struct {
	name string
	// answers maps each test the family answers to the fact kinds it
	// applies to; a check that reads no fact (always, dose, attest) has no
	// kinds. No two families answer the same test for the same kind.
	answers map[test][]Kind
	// compile checks what is particular to the family, after the rules
	// every check follows (checkCompiler.check); nil when there is nothing more.
	compile func(cc *checkCompiler, ck *Check, n *yaml.Node)
	// eval evaluates a compiled check of the family.
	eval func(e *evaluator, ck *Check) out
	// reads reports the facts a check reads and over what window, for
	// FactWindows; nil: its fact over its window.
	reads func(ck *Check, read func(fact string, w Window))
}

// A test is what a check asks: one of its keys (op, equals/in) or an is:
// value of a fact check, or the key of a check that reads no fact.
type test string

// The tests that are keys; isTest names the others.
const (
	testOp     test = "op"
	testEquals test = "equals/in"
	testAlways test = "always"
	testDose   test = "dose"
	testAttest test = "attest"
)

func isTest(is Is) test { return test("is: " + is) }

// families are the registered families by the tests they answer.
var families = map[test][]*family{}

// register adds a family; a test and kind two families answer is a
// programming error.
func register(f *family) {
	for t, kinds := range f.answers {
		for _, other := range families[t] {
			if len(kinds) == 0 && len(other.answers[t]) == 0 {
				panic(fmt.Sprintf("rules: families %s and %s both answer %s", f.name, other.name, t))
			}
			for _, k := range kinds {
				if slices.Contains(other.answers[t], k) {
					panic(fmt.Sprintf("rules: families %s and %s both answer %s on %s facts", f.name, other.name, t, k))
				}
			}
		}
		families[t] = append(families[t], f)
	}
}

// familyFor is the family that answers t for a fact of kind k ("" for a
// check that reads no fact), or nil.
func familyFor(t test, k Kind) *family {
	for _, f := range families[t] {
		kinds := f.answers[t]
		if (k == "" && len(kinds) == 0) || slices.Contains(kinds, k) {
			return f
		}
	}
	return nil
}

// answersIs reports whether some family answers is.
func answersIs(is Is) bool { return len(families[isTest(is)]) > 0 }

// isValues lists the is: values of fact checks for lint messages: the
// built-in ones in their order (factIs), then any other family's.
func isValues() string {
	list := make([]string, 0, len(factIs))
	for _, is := range factIs {
		list = append(list, string(is))
	}
	var more []string
	for t := range families {
		if is, ok := strings.CutPrefix(string(t), "is: "); ok && !slices.Contains(factIs, Is(is)) {
			more = append(more, is)
		}
	}
	sort.Strings(more)
	return strings.Join(append(list, more...), ", ")
}

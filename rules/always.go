package rules

import "gopkg.in/yaml.v3"

// The always family is a policy's exclusion: "always: not-met" covers no
// case, whatever the record holds.
func init() {
	register(&family{name: "always", answers: map[test][]Kind{testAlways: nil}, compile: compileAlways, eval: evalAlways})
}

func compileAlways(cc *checkCompiler, ck *Check, n *yaml.Node) {
	if ck.Always != "not-met" {
		cc.errorf(n.Line, "always must be not-met")
	}
}

func evalAlways(*evaluator, *Check) out {
	return out{res: NotMet, reason: "the policy does not cover this therapy"}
}

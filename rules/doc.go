// Package rules holds the criteria model (typed facts about one patient), the
// declarative payer policies built from the documents in shared/policies, and the
// three-valued engine that evaluates one against the other.
//
// A policy directory is compiled once (Load, or Load(Builtin()) for the one in
// the binary; Lint reports the same problems as "file:line: message") and its
// policies are evaluated many times:
//
//	cat, err := rules.Load(rules.Builtin())
//	p, err := cat.Lookup("ucare-hemgenix")
//	det := rules.Evaluate(p, facts, rules.AsOf(day))
//
// Each criterion is met, not met or unknown. Missing, stale or unreadable data is
// unknown and leads to a pend with the exact documentation still needed; a
// documented current value that fails a threshold is not met and leads to a deny.
// An unknown caused by the record itself — a value that cannot be read (also
// undated: it counts as the newest), a reading that contradicts itself, results
// of one day that disagree, a range straddling the threshold — is "blocked": it
// outranks an attestation and a passing alternative of a rule-out (screen), and
// its missing line names the resource (`<id>: <Source> "<Text>" <Problem>`).
// Every policy also carries the record guards of record.yaml (not deceased; the
// order is for the policy's drug).
// Decision precedence is not-covered > deny > pend > approve. The package imports
// no FHIR or HTTP code: mapping/ turns FHIR into Facts, cmd/ renders the result.
//
// # Layout
//
// As google/cql separates parser, model and interpreter, the package keeps
// the policy language's model, its compiler and its evaluator apart, and
// gives each kind of leaf check (a family) a file of its own:
//
//   - model.go: the patient side (Facts, Value) and the results (Result,
//     Determination, CriterionResult, Need, Dose).
//   - policy.go: the compiled policy (Policy, Criterion, Check, DoseRule) and
//     the vocabulary types (FactInfo, Attestation, KitTable).
//   - enums.go: the policy language's words as typed strings (below).
//   - load.go: policy directories (Load, Lint, Builtin, Named, Catalog) and
//     the vocabulary files facts.yaml, attestations.yaml, kits.yaml, record.yaml.
//   - compile.go: policy and criterion compilation, and the rules every check
//     follows (one test, known fact, keys that go together); lint.go: the
//     "file:line: message" error list and YAML node helpers.
//   - family.go: the family registry; window.go: look-back windows (parsing,
//     the as-of day's start, FactWindows for fetchers, asking each family
//     what its checks read); checks.go: what the families' evaluations
//     share (the newest value in a window, unknown and blocked outcomes with
//     their needs).
//   - evaluate.go: the driver — Evaluate, a criterion's composite logic (all,
//     any, screen, not), merging needs, the decision.
//   - reasons.go: reason texts (composite prefixes, numbers, dates, values,
//     units as facts.yaml's unit_text says).
//   - the families, each with its tests, compile step and evaluation:
//     numeric.go (op on a quantity or titer), age.go (op on age),
//     qualitative.go (is: negative, positive, not-detected, never-positive),
//     presence.go (is: present, absent, undocumented), coded.go (equals, in),
//     policydrug.go (is: policy-drug), attestation.go (attest, with evidence),
//     dose.go (dose: the weight-based dose and kit), always.go (always: not-met).
//
// # Families
//
// A family registers itself in its file's init with the tests it answers (a
// key such as op or equals/in, or an is: value) and, for each, the fact kinds
// it applies to; no two families answer one test on one kind. The compiler
// (checkCompiler.check) finds the family once per check and runs its compile
// step; Evaluate calls its eval through the compiled check, with no switch on
// the check's shape and no allocation; FactWindows asks its reads which facts
// it reads over what window (by default its fact over its window). Adding a
// family is one new file — its register call, compile step, eval and reads —
// plus its tests; a new is: value's constant can live in that file too
// (enums.go holds the built-in ones, in the order lint lists them). Nothing
// else dispatches on checks: family_add_test.go adds a test-only family that
// way, family_test.go pins which family answers what.
//
// # Typed words
//
// Op (all, any, screen, not, check), Comparison (<, <=, >, >=), Kind (a fact's
// kind), Select (latest, lowest) and Is (a check's qualitative test) are
// string types with named constants: YAML and JSON read and write the words
// unchanged, a value from another enum or a misspelt constant does not compile,
// and consumers (mapping, cmd) compare against the constants. Unknown words in
// a policy file are lint errors, so a compiled policy holds only known ones.
package rules

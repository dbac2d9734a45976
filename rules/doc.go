// Package rules holds the criteria model (typed facts about one patient), the
// declarative payer policies built from the documents in shared/policies, and the
// three-valued engine that evaluates one against the other.
//
// A policy is compiled once (Policies, Lookup) and evaluated many times:
//
//	det := rules.Evaluate(policy, facts, rules.AsOf(day))
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
package rules

package crd

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"hemopa/cmd/hemopa/internal/davinci"
	"hemopa/rules"

	"github.com/google/uuid"
)

// CRD card topic (CRD temp code system, card type coverage-info).
const (
	crdTempSystem = "http://hl7.org/fhir/us/davinci-crd/CodeSystem/temp"
)

// cardInput is what one card says about one order.
type cardInput struct {
	Order    *Order
	Dec      *decision
	Payer    string // the insurer as the card names it (see insurer)
	Coverage string // Coverage reference
	Primary  bool   // order-sign / order-dispatch: documentation may be asked for
	// Satisfied is the authorization recorded at order time ("" none): the
	// card then says the PA is on file, as the coverage information does.
	Satisfied string
}

// card renders the clinician's card for one determination.
func (s *Service) card(in cardInput) *davinci.Object {
	det := in.Dec.Det
	drug := in.Order.Drug
	var summary, indicator string
	switch {
	case det.Decision == rules.Approve && in.Satisfied != "":
		summary, indicator = drug+": prior authorization on file — "+in.Satisfied, "info"
	case det.Decision == rules.Approve:
		summary, indicator = drug+": PA needed — criteria met, submit for approval", "info"
	case det.Decision == rules.Pend:
		summary, indicator = drug+": PA needed — "+count(len(det.Missing), "item")+" missing", "warning"
	case det.Decision == rules.Deny:
		summary, indicator = drug+": PA needed — likely denial, "+count(len(davinci.Failed(det)), "criterion")+" not met", "warning"
	default:
		summary, indicator = drug+": not covered under "+det.Policy, "critical"
	}
	label := in.Payer
	// DTR is launched from the coverage information (doc-needed + the
	// Questionnaire), not from a SMART link on the card: CRD 2.x says SMART
	// links are no longer to be used for launching DTR.
	links := []any{davinci.O("label", "Policy: "+det.Title, "url", s.link(det.Policy), "type", "absolute")}
	return davinci.O(
		"uuid", newUUID(),
		"summary", clip(summary, 139),
		"indicator", indicator,
		"detail", cardDetail(det, in.Primary, in.Satisfied),
		"source", davinci.O("label", label, "topic",
			davinci.O("system", crdTempSystem, "code", "coverage-info", "display", "Coverage Information")),
		"links", links)
}

// insurer is the card's source.label — the insurer, not the product (CRD
// resp-4): the configured payer's name, else the Coverage's first payor
// display, else the payor reference.
func insurer(configured string, cv *coverage) string {
	if configured != "" {
		return configured
	}
	for _, p := range cv.Payor {
		if p.Display != "" {
			return p.Display
		}
	}
	for _, p := range cv.Payor {
		if p.Reference != "" {
			return p.Reference
		}
	}
	return "The patient's payer"
}

// cardDetail is the markdown a clinician reads.
func cardDetail(det *rules.Determination, primary bool, satisfied string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "**%s** — %s (revised %s), as of %s.\n\n", det.Drug, det.Title, det.PolicyVersion, det.AsOf)
	switch det.Decision {
	case rules.Approve:
		if satisfied != "" {
			b.WriteString("The record meets every criterion and the payer authorizes at order time: prior authorization " + satisfied + " is on file for this order.\n")
		} else {
			b.WriteString("The record meets every criterion. Prior authorization is still required: submit it and it is expected to be approved.\n")
		}
		if d := det.Dose; d != nil {
			fmt.Fprintf(&b, "\nDose for %.1f kg: %.3g vector genomes (%.1f mL)", d.WeightKg, d.VectorGenomes, d.VolumeML)
			if d.Kit != nil {
				fmt.Fprintf(&b, "; kit NDC %s, %d vials", d.Kit.NDC, d.Kit.Vials)
			}
			b.WriteString(".\n")
		}
	case rules.Pend:
		if primary {
			b.WriteString("Prior authorization is required and cannot be decided yet. Missing:\n\n")
		} else {
			b.WriteString("Prior authorization is required and cannot be decided yet. Still needed:\n\n")
		}
		for _, m := range det.Missing {
			b.WriteString("- " + mdEscape(m) + "\n")
		}
		if primary {
			b.WriteString("\nComplete the documentation form (DTR, launched from this order's coverage information); it is pre-filled with what the record already answers.\n")
		}
	case rules.Deny:
		b.WriteString("Prior authorization is required and, on the current record, would be denied. Not met:\n\n")
		for _, f := range davinci.Failed(det) {
			b.WriteString("- " + mdEscape(f.ID+" "+f.Text+" — "+f.Reason) + "\n")
		}
		for _, m := range det.Missing {
			b.WriteString("- Also missing: " + mdEscape(m) + "\n")
		}
	default:
		b.WriteString("The policy does not cover this request:\n\n")
		for _, f := range davinci.Failed(det) {
			b.WriteString("- " + mdEscape(f.ID+" "+f.Text+" — "+f.Reason) + "\n")
		}
	}
	return b.String()
}

// mdEscape keeps criteria text from turning into markdown.
func mdEscape(s string) string {
	r := strings.NewReplacer("*", `\*`, "_", `\_`, "`", "\\`", "[", `\[`, "]", `\]`, "<", "&lt;", ">", "&gt;")
	return r.Replace(s)
}

func count(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	if word == "criterion" {
		return fmt.Sprintf("%d criteria", n)
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// clip shortens s to at most n runes, ending with an ellipsis.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// newUUID is a random (version 4) UUID.
func newUUID() string { return uuid.NewString() }

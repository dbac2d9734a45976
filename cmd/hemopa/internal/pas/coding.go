package pas

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"hemopa/cmd/hemopa/internal/davinci"
)

// The billing and coding rules of policy 003 (Hemgenix billing/coding
// reference), applied to every PAS Claim that requests a hemophilia gene
// therapy. 003 writes them for Hemgenix; the product-code, administration and
// place-of-service rules hold for all three one-time AAV infusions, so they
// apply to any gene therapy claim, while the unit rule is J1411's and the
// primary-diagnosis rule is for the hemophilia B therapies (Hemgenix, Beqvez).
//
// A violation is reported as a ClaimResponse.error on the line; it does not
// change the clinical decision, but the outcome becomes partial so the
// submitter corrects the claim before billing.
var (
	// geneTherapyCodes is each drug's HCPCS code.
	geneTherapyCodes = map[string]string{"Hemgenix": "J1411", "Roctavian": "J1412", "Beqvez": "J1414"}
	// unlistedCodes are the unclassified drug codes not to be used when a
	// specific J-code exists.
	unlistedCodes = []string{"J3490", "J3590", "C9399"}
	// infusionAdmin is the administration CPT for the infusion (initial hour,
	// each additional hour).
	infusionAdmin = []string{"96365", "96366"}
	// wrongAdmin are administration codes that do not describe a gene therapy
	// infusion: chemotherapy (96413/96415/96417), radiopharmaceutical (79101),
	// IV push (96374).
	wrongAdmin = map[string]string{
		"96413": "chemotherapy IV infusion", "96415": "chemotherapy IV infusion, additional hour",
		"96417": "chemotherapy IV infusion, sequential", "79101": "radiopharmaceutical therapy",
		"96374": "IV push",
	}
	wrongAdminCodes = slices.Sorted(maps.Keys(wrongAdmin))
	// allowedPOS are the HTC hospital settings: inpatient (21), on-campus
	// outpatient (22), off-campus outpatient (19).
	allowedPOS = []string{"21", "22", "19"}
	// hemophiliaBDrugs need ICD-10-CM D67 as the primary diagnosis.
	hemophiliaBDrugs = []string{"Hemgenix", "Beqvez"}
)

type codeableConcept struct {
	Coding []struct {
		System string `json:"system"`
		Code   string `json:"code"`
	} `json:"coding"`
	Text string `json:"text"`
}

// codes returns the concept's codes, upper-cased and trimmed.
func (cc *codeableConcept) codes() []string {
	if cc == nil {
		return nil
	}
	var out []string
	for _, c := range cc.Coding {
		if code := strings.ToUpper(strings.TrimSpace(c.Code)); code != "" {
			out = append(out, code)
		}
	}
	return out
}

// claimView is the part of the Claim the coding rules and the response read.
type claimView struct {
	Type       json.RawMessage   `json:"type"`
	Identifier []json.RawMessage `json:"identifier"`
	Diagnosis  []struct {
		Sequence                 int              `json:"sequence"`
		DiagnosisCodeableConcept *codeableConcept `json:"diagnosisCodeableConcept"`
		DiagnosisReference       *struct {
			Reference string `json:"reference"`
		} `json:"diagnosisReference"`
	} `json:"diagnosis"`
	Item []claimItem `json:"item"`
}

type claimItem struct {
	Sequence         int              `json:"sequence"`
	ProductOrService *codeableConcept `json:"productOrService"`
	Quantity         *struct {
		Value json.Number `json:"value"`
	} `json:"quantity"`
	LocationCodeableConcept *codeableConcept  `json:"locationCodeableConcept"`
	Extension               []json.RawMessage `json:"extension"`
}

// lineInfo is one claim line as the rules see it.
type lineInfo struct {
	index int
	item  *claimItem
	drug  string // gene therapy named by the line ("" if none)
	codes []string
}

func (l lineInfo) has(codes ...string) string {
	for _, c := range l.codes {
		if slices.Contains(codes, c) {
			return c
		}
	}
	return ""
}

// checkCoding returns the 003 coding problems of a claim that requests a gene
// therapy (none for other claims). institutional picks the X12 service
// segment (SV2 for institutional claims, SV1 otherwise).
func checkCoding(r *request, cv *claimView, lines []lineInfo, institutional bool) []davinci.PASError {
	var drugs []string
	for _, l := range lines {
		if l.drug != "" && !slices.Contains(drugs, l.drug) {
			drugs = append(drugs, l.drug)
		}
	}
	if len(drugs) == 0 {
		return nil
	}
	sv := "2000F-SV1"
	if institutional {
		sv = "2000F-SV2"
	}
	var errs []davinci.PASError
	add := func(l lineInfo, reason, reasonText, rule, element, field, text string) {
		errs = append(errs, davinci.PASError{
			ItemSequence: l.item.Sequence, Reason: reason, ReasonText: reasonText, Rule: rule,
			Element: element, Path: fmt.Sprintf("%s.item[%d].%s", claimPath, l.index, field), Text: text,
		})
	}
	for _, l := range lines {
		if c := l.has(unlistedCodes...); c != "" {
			want := "J1411 (Hemgenix), J1412 (Roctavian) or J1414 (Beqvez)"
			if l.drug != "" {
				want = geneTherapyCodes[l.drug] + " (" + l.drug + ")"
			}
			add(l, "AG", "Invalid/Missing Procedure Code(s)", "unlisted-drug-code", sv, "productOrService",
				c+" is an unclassified drug code; bill the gene therapy with its own HCPCS code "+want)
		}
		if c := l.has(wrongAdminCodes...); c != "" {
			add(l, "AG", "Invalid/Missing Procedure Code(s)", "administration-code", sv, "productOrService",
				c+" ("+wrongAdmin[c]+") does not describe a gene therapy infusion; bill CPT 96365 (therapeutic IV infusion, initial hour; 96366 each additional hour)")
		}
		if l.has("J1411") != "" && l.item.Quantity != nil && l.item.Quantity.Value != "" {
			if q := string(l.item.Quantity.Value); !isOne(q) {
				add(l, "33", "Input Errors", "units", sv, "quantity",
					"J1411 is billed as 1 unit per therapeutic dose (not per vial or vector genome); the line has "+clip(q)+" units")
			}
		}
		if pos := posCodes(l.item.LocationCodeableConcept); len(pos) > 0 && !slices.ContainsFunc(pos, func(c string) bool { return slices.Contains(allowedPOS, c) }) {
			add(l, "33", "Input Errors", "place-of-service", "2000F-UM04", "locationCodeableConcept",
				"place of service "+clip(strings.Join(pos, ","))+" is not a hemophilia treatment center hospital setting; gene therapy is given at POS 21 (inpatient), 22 (on-campus outpatient) or 19 (off-campus outpatient), not in an office (11), infusion center (49) or the home (12)")
		}
	}
	if slices.ContainsFunc(drugs, func(d string) bool { return slices.Contains(hemophiliaBDrugs, d) }) {
		if e, ok := primaryDiagnosis(r, cv); !ok {
			for _, l := range lines {
				if slices.Contains(hemophiliaBDrugs, l.drug) {
					errs = append(errs, davinci.PASError{
						ItemSequence: l.item.Sequence, Reason: "AF", ReasonText: "Invalid/Missing Diagnosis Code(s)", Rule: "primary-diagnosis",
						Element: "2000E-HI", Path: e,
						Text: l.drug + " needs ICD-10-CM D67 (hereditary factor IX deficiency) as the primary diagnosis (diagnosis sequence 1)",
					})
					break
				}
			}
		}
	}
	return errs
}

// isOne reports whether a FHIR decimal is 1 (1, 1.0, 1e0 …).
func isOne(q string) bool {
	v, err := strconv.ParseFloat(strings.TrimSpace(q), 64)
	return err == nil && v == 1
}

// posCodes reads place-of-service codes: codings whose system is a place of
// service code system (or has none); any coding if none is marked so.
func posCodes(cc *codeableConcept) []string {
	if cc == nil {
		return nil
	}
	var marked, all []string
	for _, c := range cc.Coding {
		code := strings.TrimSpace(c.Code)
		if code == "" {
			continue
		}
		all = append(all, code)
		s := strings.ToLower(c.System)
		if s == "" || strings.Contains(s, "place-of-service") || strings.Contains(s, "placeofservice") || strings.Contains(s, "place_of_service") {
			marked = append(marked, code)
		}
	}
	if len(marked) > 0 {
		return marked
	}
	return all
}

// primaryDiagnosis checks that the diagnosis with sequence 1 (else the lowest
// sequence) is ICD-10-CM D67, read from diagnosisCodeableConcept or the
// referenced Condition's code. It returns the path to report when not.
func primaryDiagnosis(r *request, cv *claimView) (string, bool) {
	best := -1
	for i, d := range cv.Diagnosis {
		if best < 0 || d.Sequence < cv.Diagnosis[best].Sequence {
			best = i
		}
	}
	if best < 0 {
		return claimPath + ".diagnosis", false
	}
	d := cv.Diagnosis[best]
	path := fmt.Sprintf("%s.diagnosis[%d]", claimPath, best)
	cc := d.DiagnosisCodeableConcept
	if cc != nil {
		path += ".diagnosisCodeableConcept"
	} else if d.DiagnosisReference != nil {
		path += ".diagnosisReference"
		if e := r.resolve(d.DiagnosisReference.Reference); e != nil && e.typ == "Condition" {
			var cond struct {
				Code *codeableConcept `json:"code"`
			}
			if json.Unmarshal(e.resource, &cond) == nil {
				cc = cond.Code
			}
		}
	}
	if cc == nil {
		return path, false
	}
	for _, c := range cc.Coding {
		s := strings.ToLower(c.System)
		if !strings.Contains(s, "icd-10") && s != "urn:oid:2.16.840.1.113883.6.90" {
			continue
		}
		if strings.ReplaceAll(strings.ToUpper(strings.TrimSpace(c.Code)), ".", "") == "D67" {
			return path, true
		}
	}
	return path, false
}

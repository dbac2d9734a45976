package pas

import (
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"hemopa/cmd/hemopa/internal/davinci"
	"hemopa/cmd/hemopa/internal/router"
	"hemopa/cmd/hemopa/internal/testenv"
	"hemopa/rules"
)

var update = flag.Bool("update", false, "rewrite testdata/pas from the sample patients")

// sampleAsOf is the review day of the sample patients' golden files.
const sampleAsOf = "2026-11-24"

func fixedClock() time.Time { return time.Date(2026, 11, 24, 15, 4, 5, 0, time.UTC) }

// repoRoot is the folder holding go.mod.
func repoRoot(t testing.TB) string { t.Helper(); return testenv.RepoRoot(t) }

// infernoFixture reads a PAS fixture of the shared folder beside the repository.
func infernoFixture(t testing.TB, name string) []byte {
	t.Helper()
	return testenv.ReadShared(t, "fixtures", "inferno-pas", name)
}

func samplePatients(t testing.TB) []string { t.Helper(); return testenv.SamplePatients(t) }

func patientName(file string) string { return strings.TrimSuffix(filepath.Base(file), ".json") }

func newTestService(t testing.TB, opts ...Option) (*Service, *MemStore) {
	t.Helper()
	st := NewMemStore()
	s, err := NewService(append([]Option{WithStore(st), WithClock(fixedClock)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return s, st
}

// routing is the router for cfg over the built-in catalog, with the built-in
// defaults for the drugs cfg.DefaultPolicy does not name ("" there: no
// default for the drug).
func routing(t testing.TB, cfg router.Config) Option {
	t.Helper()
	cat := testenv.Catalog(t)
	defaults := router.BuiltinDefaults(cat)
	for drug, id := range cfg.DefaultPolicy {
		if defaults[drug] = id; id == "" {
			delete(defaults, drug)
		}
	}
	cfg.DefaultPolicy = defaults
	r, err := router.New(cat, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return WithRouter(r)
}

// onlyPolicy routes every drug pol is written for to pol.
func onlyPolicy(t testing.TB, pol *rules.Policy) Option {
	t.Helper()
	r, err := router.ForPolicy(testenv.Catalog(t), pol)
	if err != nil {
		t.Fatal(err)
	}
	return WithRouter(r)
}

// pasLine is one claim line of a generated PAS bundle.
type pasLine struct {
	system, code, text string
	extra              [][2]string // more codings: system, code
	qty                string      // JSON number; "" for none
	pos                string      // place of service; "" for none
}

// pasSpec describes the PAS Claim wrapped around a sample patient.
type pasSpec struct {
	drug       string    // gene therapy of line 1 (default: the MedicationRequest's)
	lines      []pasLine // default: the drug's HCPCS line and CPT 96365, POS 22
	diagnoses  []string  // ICD-10-CM codes by sequence (default D67, or D66 for Roctavian)
	identifier string    // Claim.identifier value (default PAS-<name>)
	extraInfo  []string  // more supportingInfo references
}

const (
	base      = "http://ehr.example.org/fhir/"
	hcpcsSys  = "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
	cptSys    = "http://www.ama-assn.org/go/cpt"
	posSys    = "https://www.cms.gov/Medicare/Coding/place-of-service-codes/Place_of_Service_Code_Set"
	icd10Sys  = "http://hl7.org/fhir/sid/icd-10-cm"
	ndcSys    = "http://hl7.org/fhir/sid/ndc"
	traceSys  = "http://ehr.example.org/fhir/sid/pas-trace"
	payerName = "Example Health Plan"
)

var drugLine = map[string]pasLine{
	"Hemgenix":  {system: hcpcsSys, code: "J1411", text: "Hemgenix (etranacogene dezaparvovec-drlb), per therapeutic dose", qty: "1", pos: "22"},
	"Beqvez":    {system: hcpcsSys, code: "J1414", text: "Beqvez (fidanacogene elaparvovec-dzkt), per therapeutic dose", qty: "1", pos: "22"},
	"Roctavian": {system: hcpcsSys, code: "J1412", text: "Roctavian (valoctocogene roxaparvovec-rvox)", qty: "1", pos: "22"},
}

var adminLine = pasLine{system: cptSys, code: "96365", text: "IV infusion, therapy, initial hour", qty: "1", pos: "22"}

type sampleBundle struct {
	Entry []struct {
		FullURL  string          `json:"fullUrl"`
		Resource json.RawMessage `json:"resource"`
	} `json:"entry"`
}

// wrapPatient turns a sample patient's collection bundle into a PAS request
// bundle: a preauthorization Claim first (the gene therapy line and its
// administration, the attestations QuestionnaireResponse as supportingInfo,
// a Coverage and the payer), then every resource of the sample.
func wrapPatient(t testing.TB, file string, spec pasSpec) []byte {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var sb sampleBundle
	if err := json.Unmarshal(raw, &sb); err != nil {
		t.Fatal(err)
	}
	name := patientName(file)
	var patientID, requester, qrID, mrCode string
	for _, e := range sb.Entry {
		var r struct {
			ResourceType string `json:"resourceType"`
			ID           string `json:"id"`
			Requester    struct {
				Reference string `json:"reference"`
			} `json:"requester"`
			Medication struct {
				Coding []struct {
					Code string `json:"code"`
				} `json:"coding"`
			} `json:"medicationCodeableConcept"`
		}
		if err := json.Unmarshal(e.Resource, &r); err != nil {
			t.Fatal(err)
		}
		switch r.ResourceType {
		case "Patient":
			patientID = r.ID
		case "MedicationRequest":
			requester = r.Requester.Reference
			if len(r.Medication.Coding) > 0 {
				mrCode = r.Medication.Coding[0].Code
			}
		case "QuestionnaireResponse":
			qrID = r.ID
		}
	}
	if spec.drug == "" {
		for d, l := range drugLine {
			if l.code == mrCode {
				spec.drug = d
			}
		}
	}
	if spec.lines == nil {
		spec.lines = []pasLine{drugLine[spec.drug], adminLine}
	}
	if spec.diagnoses == nil {
		spec.diagnoses = []string{"D67"}
		if spec.drug == "Roctavian" {
			spec.diagnoses = []string{"D66"}
		}
	}
	if spec.identifier == "" {
		spec.identifier = "PAS-" + name
	}
	var info []any
	if qrID != "" {
		spec.extraInfo = append([]string{"QuestionnaireResponse/" + qrID}, spec.extraInfo...)
	}
	for i, ref := range spec.extraInfo {
		info = append(info, davinci.O("sequence", i+1,
			"category", davinci.O("coding", davinci.A(davinci.O("system", "http://terminology.hl7.org/CodeSystem/claiminformationcategory", "code", "info"))),
			"valueReference", davinci.O("reference", ref)))
	}
	var dx []any
	for i, code := range spec.diagnoses {
		dx = append(dx, davinci.O("sequence", i+1, "diagnosisCodeableConcept",
			davinci.O("coding", davinci.A(davinci.O("system", icd10Sys, "code", code)))))
	}
	var items []any
	for i, l := range spec.lines {
		codings := davinci.A(davinci.O("system", l.system, "code", l.code))
		for _, x := range l.extra {
			codings = append(codings, davinci.O("system", x[0], "code", x[1]))
		}
		it := davinci.O("extension", davinci.A(davinci.O("url", davinci.ItemTraceNumberURL,
			"valueIdentifier", davinci.O("system", traceSys+"-item", "value", spec.identifier+"-"+itoa(i+1)))),
			"sequence", i+1,
			"diagnosisSequence", davinci.A(1),
			"productOrService", davinci.O("coding", codings, "text", nonEmptyOr(l.text)),
			"servicedDate", "2026-12-01")
		if l.pos != "" {
			it.Set("locationCodeableConcept", davinci.O("coding", davinci.A(davinci.O("system", posSys, "code", l.pos))))
		}
		if l.qty != "" {
			it.Set("quantity", davinci.O("value", json.Number(l.qty)))
		}
		items = append(items, it)
	}
	claimID, covID, payerID := "pas-"+name, "cov-"+name, "payer-example"
	claim := davinci.O("resourceType", "Claim", "id", claimID,
		"meta", davinci.O("profile", davinci.A("http://hl7.org/fhir/us/davinci-pas/StructureDefinition/profile-claim")),
		"identifier", davinci.A(davinci.O("system", traceSys, "value", spec.identifier)),
		"status", "active",
		"type", davinci.O("coding", davinci.A(davinci.O("system", "http://terminology.hl7.org/CodeSystem/claim-type", "code", "institutional"))),
		"use", "preauthorization",
		"patient", davinci.O("reference", "Patient/"+patientID),
		"created", "2026-11-20T10:00:00Z",
		"insurer", davinci.O("reference", "Organization/"+payerID),
		"provider", davinci.O("reference", requester),
		"priority", davinci.O("coding", davinci.A(davinci.O("system", "http://terminology.hl7.org/CodeSystem/processpriority", "code", "normal"))),
		"supportingInfo", nilIfNone(info),
		"diagnosis", nilIfNone(dx),
		"insurance", davinci.A(davinci.O("sequence", 1, "focal", true, "coverage", davinci.O("reference", "Coverage/"+covID))),
		"item", items)
	entries := davinci.A(davinci.O("fullUrl", base+"Claim/"+claimID, "resource", claim))
	for _, e := range sb.Entry {
		entries = append(entries, davinci.O("fullUrl", e.FullURL, "resource", e.Resource))
	}
	entries = append(entries,
		davinci.O("fullUrl", base+"Coverage/"+covID, "resource", davinci.O("resourceType", "Coverage", "id", covID,
			"status", "active", "subscriberId", "SUB-"+name, "beneficiary", davinci.O("reference", "Patient/"+patientID),
			"payor", davinci.A(davinci.O("reference", "Organization/"+payerID)))),
		davinci.O("fullUrl", base+"Organization/"+payerID, "resource", davinci.O("resourceType", "Organization", "id", payerID,
			"identifier", davinci.A(davinci.O("system", "http://hl7.org/fhir/sid/us-npi", "value", "1234567893")),
			"active", true, "name", payerName)))
	b := davinci.O("resourceType", "Bundle", "id", "pas-"+name,
		"meta", davinci.O("profile", davinci.A("http://hl7.org/fhir/us/davinci-pas/StructureDefinition/profile-pas-request-bundle")),
		"identifier", davinci.O("system", traceSys+"-bundle", "value", "B-"+name),
		"type", "collection", "timestamp", "2026-11-20T10:00:00Z", "entry", entries)
	out, err := davinci.JSON(b, true)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// inquiryFor builds a PAS inquiry bundle: a Claim with the identifier and the
// patient (a copy of the submitted Patient), nothing else.
func inquiryFor(t testing.TB, submitted []byte, identifier string) []byte {
	t.Helper()
	var sb sampleBundle
	if err := json.Unmarshal(submitted, &sb); err != nil {
		t.Fatal(err)
	}
	var patient json.RawMessage
	var patientURL, patientID string
	for _, e := range sb.Entry {
		var p struct{ ResourceType, ID string }
		json.Unmarshal(e.Resource, &p)
		if p.ResourceType == "Patient" {
			patient, patientURL, patientID = e.Resource, e.FullURL, p.ID
			break
		}
	}
	claim := davinci.O("resourceType", "Claim", "id", "inq-1",
		"identifier", davinci.A(davinci.O("system", traceSys, "value", identifier)),
		"status", "active", "use", "preauthorization",
		"patient", davinci.O("reference", "Patient/"+patientID),
		"created", "2026-11-25T10:00:00Z")
	b := davinci.O("resourceType", "Bundle", "type", "collection", "entry", davinci.A(
		davinci.O("fullUrl", base+"Claim/inq-1", "resource", claim),
		davinci.O("fullUrl", patientURL, "resource", patient)))
	out, err := davinci.JSON(b, false)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func nilIfNone(xs []any) any {
	if len(xs) == 0 {
		return nil
	}
	return xs
}

func nonEmptyOr(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

// parsed response views

type respBundle struct {
	ResourceType string `json:"resourceType"`
	Type         string `json:"type"`
	Entry        []struct {
		FullURL  string          `json:"fullUrl"`
		Resource json.RawMessage `json:"resource"`
	} `json:"entry"`
}

type crView struct {
	ResourceType  string `json:"resourceType"`
	Use           string `json:"use"`
	Outcome       string `json:"outcome"`
	PreAuthRef    string `json:"preAuthRef"`
	PreAuthPeriod *struct {
		Start, End string
	} `json:"preAuthPeriod"`
	Patient   struct{ Reference string } `json:"patient"`
	Insurer   struct{ Reference string } `json:"insurer"`
	Requestor struct{ Reference string } `json:"requestor"`
	Item      []struct {
		ItemSequence int   `json:"itemSequence"`
		NoteNumber   []int `json:"noteNumber"`
		Adjudication []struct {
			Extension []struct {
				URL       string `json:"url"`
				Extension []struct {
					URL                  string `json:"url"`
					ValueString          string `json:"valueString"`
					ValueCodeableConcept struct {
						Coding []struct{ System, Code string }
					} `json:"valueCodeableConcept"`
				} `json:"extension"`
			} `json:"extension"`
		} `json:"adjudication"`
	} `json:"item"`
	Error []struct {
		ItemSequence int `json:"itemSequence"`
		Extension    []struct {
			URL         string `json:"url"`
			ValueString string `json:"valueString"`
		} `json:"extension"`
		Code struct {
			Coding []struct{ System, Code string }
			Text   string
		} `json:"code"`
	} `json:"error"`
	ProcessNote []struct {
		Number int
		Text   string
	} `json:"processNote"`
}

// reviewActions maps itemSequence → X12 306 code.
func (c *crView) reviewActions() map[int]string {
	out := map[int]string{}
	for _, it := range c.Item {
		for _, adj := range it.Adjudication {
			for _, x := range adj.Extension {
				if x.URL != davinci.ReviewActionURL {
					continue
				}
				for _, sub := range x.Extension {
					if sub.URL == davinci.ReviewActionCode {
						for _, c := range sub.ValueCodeableConcept.Coding {
							if c.System == davinci.X12ReviewAction {
								out[it.ItemSequence] = c.Code
							}
						}
					}
				}
			}
		}
	}
	return out
}

func parseResponse(t testing.TB, body []byte) (*respBundle, *crView) {
	t.Helper()
	var b respBundle
	if err := json.Unmarshal(body, &b); err != nil {
		t.Fatalf("response is not JSON: %v\n%s", err, body)
	}
	if b.ResourceType != "Bundle" || b.Type != "collection" || len(b.Entry) == 0 {
		t.Fatalf("response is not a collection Bundle with entries: %.300s", body)
	}
	var cr crView
	if err := json.Unmarshal(b.Entry[0].Resource, &cr); err != nil {
		t.Fatal(err)
	}
	if cr.ResourceType != "ClaimResponse" {
		t.Fatalf("first entry is a %s, want ClaimResponse", cr.ResourceType)
	}
	return &b, &cr
}

type ooView struct {
	ResourceType string `json:"resourceType"`
	Issue        []struct {
		Severity, Code, Diagnostics string
		Expression                  []string
	} `json:"issue"`
}

func submit(t testing.TB, s *Service, body []byte) (int, []byte) {
	t.Helper()
	return s.Submit(context.Background(), body)
}

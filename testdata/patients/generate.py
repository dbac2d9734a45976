#!/usr/bin/env python3
"""Writes the synthetic sample patients in this folder (FHIR R4 collection Bundles).

Every patient is invented. Dates are set against the sample as-of day 2026-11-24
(the day `make run` and the golden tests evaluate on). Run from the repo root:
    python3 testdata/patients/generate.py
then refresh the goldens with `go test ./cmd/hemopa -run Golden -update`.
"""
import copy, json, os

HERE = os.path.dirname(os.path.abspath(__file__))
LOINC = "http://loinc.org"
LOCAL = "http://hemopa.org/fhir/CodeSystem/lab-local"
UCUM = "http://unitsofmeasure.org"
HCPCS = "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
SCT = "http://snomed.info/sct"
ICD = "http://hl7.org/fhir/sid/icd-10-cm"
NEG = {"coding": [{"system": SCT, "code": "260385009", "display": "Negative"}], "text": "Negative"}
POS = {"coding": [{"system": SCT, "code": "10828004", "display": "Positive"}], "text": "Positive"}
ND = {"coding": [{"system": SCT, "code": "260415000", "display": "Not detected"}], "text": "Not detected"}
DET = {"coding": [{"system": SCT, "code": "260373001", "display": "Detected"}], "text": "Detected"}


class Chart:
    def __init__(self, pid, family, given, birth, birthsex="M", gender="male"):
        self.pid = pid
        self.res = []
        pat = {"resourceType": "Patient", "id": pid,
               "meta": {"profile": ["http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient"]},
               "identifier": [{"system": "http://ehr.example.org/mrn", "value": "MRN-" + pid[-6:]}],
               "name": [{"family": family, "given": [given]}], "gender": gender, "birthDate": birth}
        if birthsex:
            pat["extension"] = [{"url": "http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex", "valueCode": birthsex}]
        self.res.append(pat)

    def subj(self):
        return {"reference": "Patient/" + self.pid}

    def add(self, r):
        self.res.append(r)
        return r

    def drop(self, rid):
        self.res = [r for r in self.res if r.get("id") != rid]

    def get(self, rid):
        return next(r for r in self.res if r.get("id") == rid)

    def condition(self, rid, icd, icd_display, sct=None, onset="2001-05-01", clinical="active", verification="confirmed"):
        coding = [{"system": ICD, "code": icd, "display": icd_display}]
        if sct:
            coding.append({"system": SCT, "code": sct})
        return self.add({"resourceType": "Condition", "id": rid,
                         "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": clinical}]},
                         "verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": verification}]},
                         "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-category", "code": "problem-list-item"}]}],
                         "code": {"coding": coding, "text": icd_display}, "subject": self.subj(), "onsetDateTime": onset})

    def obs(self, rid, code, display, date, value=None, unit=None, ucum=None, high=None, comparator=None,
            string=None, concept=None, system=LOINC, category="laboratory", interpretation=None, status="final"):
        o = {"resourceType": "Observation", "id": rid, "status": status,
             "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": category}]}],
             "code": {"coding": [{"system": system, "code": code, "display": display}], "text": display},
             "subject": self.subj(), "effectiveDateTime": date}
        if value is not None:
            q = {"value": value, "unit": unit, "system": UCUM, "code": ucum or unit}
            if comparator:
                q["comparator"] = comparator
            o["valueQuantity"] = q
            if high is not None:
                o["referenceRange"] = [{"high": {"value": high, "unit": unit, "system": UCUM, "code": ucum or unit}}]
        if string is not None:
            o["valueString"] = string
        if concept is not None:
            o["valueCodeableConcept"] = concept
        if interpretation:
            o["interpretation"] = [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", "code": interpretation}]}]
        return self.add(o)

    def prescriber(self, taxonomy="207RH0000X", display="Hematology"):
        self.add({"resourceType": "Practitioner", "id": "prac-" + self.pid, "name": [{"family": "Lindqvist", "given": ["Maria"], "prefix": ["Dr."]}],
                  "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": "1234567893"}]})
        self.add({"resourceType": "PractitionerRole", "id": "role-" + self.pid,
                  "practitioner": {"reference": "Practitioner/prac-" + self.pid},
                  "organization": {"display": "Regional Hemophilia Treatment Center"},
                  "specialty": [{"coding": [{"system": "http://nucc.org/provider-taxonomy", "code": taxonomy, "display": display}]}]})

    def order(self, hcpcs, name, authored="2026-11-20"):
        self.add({"resourceType": "MedicationRequest", "id": "mr-" + self.pid, "status": "draft", "intent": "order",
                  "medicationCodeableConcept": {"coding": [{"system": HCPCS, "code": hcpcs}], "text": name},
                  "subject": self.subj(), "authoredOn": authored, "requester": {"reference": "PractitionerRole/role-" + self.pid}})

    def attest(self, answers, authored="2026-11-18T15:00:00Z", rid=None):
        self.add({"resourceType": "QuestionnaireResponse", "id": rid or ("qr-" + self.pid), "status": "completed",
                  "questionnaire": "http://hemopa.org/fhir/Questionnaire/hemopa-attestations",
                  "subject": self.subj(), "authored": authored, "author": {"reference": "PractitionerRole/role-" + self.pid},
                  "item": [{"linkId": k, "answer": [{"valueBoolean": v}]} for k, v in answers.items()]})

    def write(self, name):
        # Ids are unique across patients so every sample can live on one FHIR server.
        suffix = self.pid[len("pat-"):]
        renames = {}
        for r in self.res:
            if r["resourceType"] != "Patient" and not r["id"].endswith(suffix):
                renames[r["resourceType"] + "/" + r["id"]] = r["resourceType"] + "/" + r["id"] + "-" + suffix
                r["id"] = r["id"] + "-" + suffix
        text = json.dumps(self.res)
        for old, new in renames.items():
            text = text.replace('"' + old + '"', '"' + new + '"')
        self.res = json.loads(text)
        b = {"resourceType": "Bundle", "id": name, "type": "collection",
             "entry": [{"fullUrl": "http://ehr.example.org/fhir/%s/%s" % (r["resourceType"], r["id"]), "resource": r} for r in self.res]}
        with open(os.path.join(HERE, name + ".json"), "w") as f:
            json.dump(b, f, indent=2)
            f.write("\n")


GOOD_ATTEST = {
    "prior-gene-therapy": False, "factor-exposure-days-150": True, "life-threatening-hemorrhage": False,
    "on-demand-factor-for-hemorrhage": False, "repeated-spontaneous-bleeds": True,
    "on-demand-factor-for-spontaneous-bleeds": True, "continuous-prophylaxis": True, "current-factor-prophylaxis": True,
    "hiv-uncontrolled": False, "antiviral-therapy-hbv-hcv": False, "advanced-liver-disease": False,
    "other-coagulation-disorder": False, "prescriber-hemophilia-specialist": True, "prescriber-htc-hematologist": True,
    "requested-for-convenience": False,
}


def common_labs(c, day="2026-11-10", serology="2026-10-28"):
    t = day + "T08:30:00Z"
    c.obs("obs-alt", "1742-6", "Alanine aminotransferase [Enzymatic activity/volume] in Serum or Plasma", t, 31, "U/L", high=41)
    c.obs("obs-ast", "1920-8", "Aspartate aminotransferase [Enzymatic activity/volume] in Serum or Plasma", t, 28, "U/L", high=40)
    c.obs("obs-bili", "14631-6", "Bilirubin.total [Moles/volume] in Serum or Plasma", t, 12, "umol/L", high=21)
    c.obs("obs-alp", "6768-6", "Alkaline phosphatase [Enzymatic activity/volume] in Serum or Plasma", t, 88, "U/L", high=129)
    c.obs("obs-plt", "777-3", "Platelets [#/volume] in Blood by Automated count", t, 212, "10*3/uL")
    c.obs("obs-creat", "2160-0", "Creatinine [Mass/volume] in Serum or Plasma", t, 0.92, "mg/dL", high=1.27)
    c.obs("obs-crcl", "2164-2", "Creatinine renal clearance in 24 hour Urine and Serum or Plasma", t, 112, "mL/min")
    s = serology + "T08:30:00Z"
    c.obs("obs-hbsag", "5196-1", "Hepatitis B virus surface Ag [Presence] in Serum", s, concept=NEG)
    c.obs("obs-antihcv", "13955-0", "Hepatitis C virus Ab [Presence] in Serum", s, concept=NEG)
    c.obs("obs-hiv", "56888-1", "HIV 1+2 Ab + HIV1 p24 Ag [Presence] in Serum", s, concept=NEG)
    c.obs("obs-cd4", "24467-3", "CD3+CD4+ (T4 helper) cells [#/volume] in Blood", s, 810, "/uL")
    c.obs("obs-fibroscan", "liver-stiffness-kpa", "Liver stiffness by transient elastography (FibroScan)", "2026-09-15T11:00:00Z", 5.2, "kPa",
          system=LOCAL, category="imaging")


def hemophilia_b(pid, family, given, birth, **kw):
    c = Chart(pid, family, given, birth, **kw)
    c.condition("cond-hemb-" + pid, "D67", "Hereditary factor IX deficiency", sct="41788008", onset="1990-01-20")
    c.obs("obs-fix-baseline", "3187-2", "Coagulation factor IX activity actual/normal in Platelet poor plasma by Coagulation assay",
          "2019-06-03T09:10:00Z", 1, "%", comparator="<")
    c.obs("obs-fix-recent", "3187-2", "Coagulation factor IX activity actual/normal in Platelet poor plasma by Coagulation assay",
          "2026-11-02T09:10:00Z", 0.18, "IU/mL", ucum="[IU]/mL")
    c.obs("obs-fix-inh", "3185-6", "Coagulation factor IX inhibitor [Units/volume] in Platelet poor plasma by Coagulation assay",
          "2026-11-10T08:30:00Z", 0.3, "BU/mL", ucum="[beth'U]/mL", comparator="<", interpretation="N")
    common_labs(c)
    c.obs("obs-weight", "29463-7", "Body weight", "2026-11-12T10:00:00Z", 159.6, "lb", ucum="[lb_av]", category="vital-signs")
    c.obs("obs-aav5", "aav5-antibody", "Anti-AAV5 total antibody titer", "2026-11-05T08:30:00Z", string="1:50", system=LOCAL)
    c.obs("obs-aavrh74", "aavrh74var-nab", "Anti-AAVRh74var neutralizing antibody (nAbCyte)", "2026-11-05T08:30:00Z", concept=ND, system=LOCAL)
    c.add({"resourceType": "MedicationStatement", "id": "ms-fix-" + pid, "status": "active",
           "medicationCodeableConcept": {"coding": [{"system": HCPCS, "code": "J7195"}],
                                         "text": "BeneFIX (coagulation factor IX, recombinant) 50 IU/kg twice weekly"},
           "subject": c.subj(), "effectivePeriod": {"start": "2015-04-01"}})
    c.prescriber()
    c.order("J1411", "Hemgenix (etranacogene dezaparvovec-drlb) one-time IV infusion")
    c.attest(dict(GOOD_ATTEST))
    return c


def hemophilia_a(pid, family, given, birth):
    c = Chart(pid, family, given, birth)
    c.condition("cond-hema-" + pid, "D66", "Hereditary factor VIII deficiency", sct="28293008", onset="1988-02-11")
    c.obs("obs-fviii-baseline", "3209-4", "Coagulation factor VIII activity actual/normal in Platelet poor plasma by Coagulation assay",
          "2018-02-20T09:00:00Z", 0.5, "%", comparator="<")
    c.obs("obs-fviii-inh", "3204-5", "Coagulation factor VIII inhibitor [Units/volume] in Platelet poor plasma by Coagulation assay",
          "2026-10-20T08:30:00Z", 0.2, "B.E", ucum="B.E", comparator="<")
    common_labs(c)
    c.obs("obs-weight", "29463-7", "Body weight", "2026-11-12T10:00:00Z", 81.3, "kg", category="vital-signs")
    c.obs("obs-aav5", "aav5-antibody", "AAV5 DetectCDx total antibody", "2026-10-30T08:30:00Z", concept=ND, system=LOCAL)
    c.add({"resourceType": "MedicationStatement", "id": "ms-fviii-" + pid, "status": "active",
           "medicationCodeableConcept": {"text": "Eloctate (antihemophilic factor, Fc fusion protein) 50 IU/kg every 4 days"},
           "subject": c.subj(), "effectivePeriod": {"start": "2016-09-01"}})
    c.prescriber("207RH0003X", "Hematology & Oncology")
    c.order("J1412", "Roctavian (valoctocogene roxaparvovec-rvox) one-time IV infusion")
    a = dict(GOOD_ATTEST)
    a.update({"life-threatening-hemorrhage": True, "on-demand-factor-for-hemorrhage": True})
    c.attest(a)
    c.condition("cond-ich-" + pid, "I61.9", "Nontraumatic intracerebral hemorrhage", sct="1386000", onset="2019-03-07", clinical="resolved")
    return c


def main():
    # 1. Hemophilia B, everything documented and current.
    hemophilia_b("pat-b-approve", "Okafor", "Daniel", "1989-03-14").write("b-approve")

    # 2. Hemophilia B, current labs that fail thresholds (documented, not missing).
    c = hemophilia_b("pat-b-deny-labs", "Marsh", "Terrence", "1978-07-02")
    c.drop("obs-plt")
    c.obs("obs-plt", "777-3", "Platelets [#/volume] in Blood by Automated count", "2026-11-10T08:30:00Z", 38000, "/uL")
    c.get("obs-alt")["valueQuantity"]["value"] = 120
    c.get("obs-aav5")["valueString"] = "1:900"
    c.get("obs-aavrh74")["valueCodeableConcept"] = DET
    c.write("b-deny-labs")

    # 3. Hemophilia B, labs too old for 30-day windows and no prescriber attestations.
    c = hemophilia_b("pat-b-pend-stale", "Iverson", "Paul", "1995-12-30")
    for r in c.res:
        if r["resourceType"] == "Observation" and r["effectiveDateTime"] >= "2026-09-01":
            r["effectiveDateTime"] = "2026-09-01T08:30:00Z"
    c.drop("qr-pat-b-pend-stale")
    c.drop("obs-aavrh74")
    c.write("b-pend-stale")

    # 4. Hemophilia B, Hemgenix already paid in 2024 (claims history) although the attestation says no.
    c = hemophilia_b("pat-b-prior-gene", "Delgado", "Ruben", "1984-10-09")
    c.add({"resourceType": "ExplanationOfBenefit", "id": "eob-hemgenix-2024", "status": "active",
           "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": "institutional"}]},
           "use": "claim", "patient": c.subj(), "created": "2024-05-20",
           "insurer": {"display": "Sample Health Plan"}, "provider": {"display": "Regional Hemophilia Treatment Center"},
           "outcome": "complete", "billablePeriod": {"start": "2024-05-14", "end": "2024-05-14"},
           "insurance": [{"focal": True, "coverage": {"display": "Sample Health Plan PPO"}}],
           "item": [{"sequence": 1, "productOrService": {"coding": [{"system": HCPCS, "code": "J1411"}]}, "servicedDate": "2024-05-14"}]})
    c.write("b-prior-gene")

    # 5. Hemophilia B with a factor IX inhibitor in 2021, negative today.
    c = hemophilia_b("pat-b-inhibitor-history", "Nakamura", "Kenji", "1991-04-22")
    c.obs("obs-fix-inh-2021", "3185-6", "Coagulation factor IX inhibitor [Units/volume] in Platelet poor plasma by Coagulation assay",
          "2021-03-09T08:30:00Z", 2.4, "BU/mL", ucum="[beth'U]/mL", interpretation="H")
    c.write("b-inhibitor-history")

    # 6. Hemophilia B, female sex assigned at birth (gender identity male): UCare 1.A defines male by biology.
    hemophilia_b("pat-b-birthsex-f", "Adeyemi", "Sam", "1993-08-17", birthsex="F", gender="male").write("b-birthsex-female")

    # 7. Hemophilia B with readings the product must not guess: creatinine in an unknown unit and no
    #    clearance, an HCV antibody that is positive with no RNA test, an entered-in-error positive inhibitor.
    c = hemophilia_b("pat-b-unreadable", "Brennan", "Liam", "1987-01-05")
    c.drop("obs-crcl")
    c.get("obs-creat")["valueQuantity"].update({"unit": "mg/mmol", "code": "mg/mmol", "value": 9.2})
    c.get("obs-creat")["referenceRange"][0]["high"].update({"unit": "mg/mmol", "code": "mg/mmol", "value": 12})
    c.get("obs-antihcv")["valueCodeableConcept"] = POS
    c.obs("obs-fix-inh-error", "3185-6", "Coagulation factor IX inhibitor [Units/volume] in Platelet poor plasma by Coagulation assay",
          "2026-11-11T08:30:00Z", 5.1, "BU/mL", ucum="[beth'U]/mL", status="entered-in-error")
    c.write("b-unreadable")

    # 8. Severe hemophilia A, everything documented.
    hemophilia_a("pat-a-approve", "Whitfield", "Aaron", "1982-05-27").write("a-approve")

    # 9. Hemophilia A with detectable AAV5 antibodies.
    c = hemophilia_a("pat-a-deny-aav5", "Castillo", "Mateo", "1990-09-12")
    c.drop("obs-aav5")
    c.obs("obs-aav5", "aav5-antibody", "AAV5 DetectCDx total antibody titer", "2026-10-30T08:30:00Z", 20, "{titer}", system=LOCAL)
    c.write("a-deny-aav5")

    # 10. Hemophilia A, labs older than 3 months.
    c = hemophilia_a("pat-a-pend", "Haddad", "Omar", "1976-11-30")
    for r in c.res:
        if r["resourceType"] == "Observation" and r["effectiveDateTime"] >= "2026-06-01":
            r["effectiveDateTime"] = "2026-06-15T08:30:00Z"
    c.write("a-pend-stale")

    # 11. Hemophilia A, Roctavian given in 2024 (administration record).
    c = hemophilia_a("pat-a-prior-gene", "Kowalski", "Adam", "1985-02-03")
    c.add({"resourceType": "MedicationAdministration", "id": "ma-roctavian-2024", "status": "completed",
           "medicationCodeableConcept": {"coding": [{"system": HCPCS, "code": "J1412"}], "text": "Roctavian"},
           "subject": c.subj(), "effectiveDateTime": "2024-08-02T10:00:00Z"})
    c.write("a-prior-gene")

    # 12–14. Hemophilia B ordering Beqvez (label-aligned-beqvez): documented; AAVRh74var NAb detected; NAb missing.
    def beqvez(pid, family, given, birth):
        c = hemophilia_b(pid, family, given, birth)
        c.drop("mr-" + pid)
        c.order("J1414", "Beqvez (fidanacogene elaparvovec-dzkt) one-time IV infusion")
        return c

    beqvez("pat-b-beqvez", "Lindqvist", "Erik", "1984-10-09").write("b-beqvez-approve")
    c = beqvez("pat-b-beqvez-nab", "Osei", "Kwame", "1991-04-22")
    c.get("obs-aavrh74")["valueCodeableConcept"] = DET
    c.write("b-beqvez-deny-nab")
    c = beqvez("pat-b-beqvez-pend", "Moreau", "Luc", "1979-12-01")
    c.drop("obs-aavrh74")
    c.write("b-beqvez-pend-nab")


if __name__ == "__main__":
    main()

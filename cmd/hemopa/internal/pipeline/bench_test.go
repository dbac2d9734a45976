package pipeline

import (
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"

	"hemopa/fhir"
	"hemopa/rules"
)

var benchAsOf = time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)

func sample(b testing.TB) []byte {
	data, err := os.ReadFile("../../../../testdata/patients/b-approve.json")
	if err != nil {
		b.Fatal(err)
	}
	return data
}

// bigChart pads the sample patient with the kind of resources a real chart
// ($everything) is mostly made of — vital signs, encounters, immunizations,
// unrelated labs — to n resources, keeping the sample's few dozen relevant ones.
func bigChart(b testing.TB, n int) []byte {
	var bundle struct {
		ResourceType string            `json:"resourceType"`
		Type         string            `json:"type"`
		Entry        []json.RawMessage `json:"entry"`
	}
	if err := json.Unmarshal(sample(b), &bundle); err != nil {
		b.Fatal(err)
	}
	vitals := []struct{ code, display, unit string }{{"8867-4", "Heart rate", "/min"}, {"8310-5", "Body temperature", "Cel"},
		{"9279-1", "Respiratory rate", "/min"}, {"2339-0", "Glucose", "mg/dL"}, {"2951-2", "Sodium", "mmol/L"}, {"718-7", "Hemoglobin", "g/dL"}}
	for i := 0; len(bundle.Entry) < n; i++ {
		var r string
		switch i % 4 {
		case 0, 1:
			v := vitals[i%len(vitals)]
			r = fmt.Sprintf(`{"resourceType":"Observation","id":"filler-%d","status":"final","category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"vital-signs"}]}],"code":{"coding":[{"system":"http://loinc.org","code":"%s","display":"%s"}],"text":"%s"},"subject":{"reference":"Patient/pat-b-approve"},"effectiveDateTime":"2025-%02d-%02dT10:00:00Z","valueQuantity":{"value":%d,"unit":"%s","system":"http://unitsofmeasure.org","code":"%s"},"referenceRange":[{"low":{"value":1},"high":{"value":200}}]}`,
				i, v.code, v.display, v.display, 1+i%12, 1+i%28, 60+i%40, v.unit, v.unit)
		case 2:
			r = fmt.Sprintf(`{"resourceType":"Encounter","id":"enc-%d","status":"finished","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"AMB","display":"ambulatory"},"type":[{"coding":[{"system":"http://snomed.info/sct","code":"185349003","display":"Encounter for check up"}]}],"subject":{"reference":"Patient/pat-b-approve"},"period":{"start":"2024-%02d-%02dT09:00:00Z","end":"2024-%02d-%02dT09:30:00Z"},"reasonCode":[{"text":"Hemophilia follow-up visit"}]}`,
				i, 1+i%12, 1+i%28, 1+i%12, 1+i%28)
		default:
			r = fmt.Sprintf(`{"resourceType":"Immunization","id":"imm-%d","status":"completed","vaccineCode":{"coding":[{"system":"http://hl7.org/fhir/sid/cvx","code":"140","display":"Influenza, seasonal, injectable, preservative free"}]},"patient":{"reference":"Patient/pat-b-approve"},"occurrenceDateTime":"2023-10-%02d","primarySource":true,"lotNumber":"LOT-%d"}`,
				i, 1+i%28, i)
		}
		bundle.Entry = append(bundle.Entry, json.RawMessage(`{"fullUrl":"urn:uuid:filler-`+fmt.Sprint(i)+`","resource":`+r+`}`))
	}
	out, err := json.Marshal(bundle)
	if err != nil {
		b.Fatal(err)
	}
	return out
}

// benchPipeline measures cold decoding (no resource cache) unless warm.
func benchPipeline(b *testing.B, data []byte, warm bool) {
	p, err := New()
	if err != nil {
		b.Fatal(err)
	}
	if !warm {
		m := p.Mapper
		if p.Decoder, err = fhir.NewDecoder(fhir.WithFilter(func(pk fhir.Peek) bool { return m.Wants(pk.ResourceType, pk.Raw) })); err != nil {
			b.Fatal(err)
		}
	}
	pol, err := p.Catalog.Lookup("ucare-hemgenix")
	if err != nil {
		b.Fatal(err)
	}
	policies := []*rules.Policy{pol}
	dets, _, err := p.DecideJSON(data, policies, benchAsOf, "")
	if err != nil || dets[0].Decision != rules.Approve {
		b.Fatalf("decision %v, err %v", dets, err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := p.DecideJSON(data, policies, benchAsOf, ""); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecideSample: decode + map + evaluate the 30-resource sample
// patient, every resource decoded afresh.
func BenchmarkDecideSample(b *testing.B) { benchPipeline(b, sample(b), false) }

// BenchmarkDecideSampleWarm: the same with the pipeline's resource cache warm
// (the service's case when the same resources arrive again).
func BenchmarkDecideSampleWarm(b *testing.B) { benchPipeline(b, sample(b), true) }

// BenchmarkDecideChart2000 and BenchmarkMapAnyChart2000 run on the same bytes:
// the target is that deciding costs no more than encoding/json decoding the
// chart into map[string]any (compare MB/s).
func BenchmarkDecideChart2000(b *testing.B) { benchPipeline(b, bigChart(b, 2000), false) }

func BenchmarkMapAnyChart2000(b *testing.B) {
	data := bigChart(b, 2000)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFullDecodeSample is the baseline the peek filter avoids: every
// resource of the sample decoded with jsonformat.
func BenchmarkFullDecodeSample(b *testing.B) {
	d, err := fhir.NewDecoder()
	if err != nil {
		b.Fatal(err)
	}
	data := sample(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.DecodeBundle(data); err != nil {
			b.Fatal(err)
		}
	}
}

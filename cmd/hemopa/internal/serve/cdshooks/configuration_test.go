package cdshooks

import (
	"strings"
	"testing"
)

func TestConfigurationDecode(t *testing.T) {
	const head = `{"hook":"order-sign","hookInstance":"h","context":{"patientId":"p","draftOrders":{"resourceType":"Bundle"}}`
	def := DefaultConfiguration()
	for _, tc := range []struct {
		name, ext string
		want      Configuration
		err       string // substring of the 400 message; "" for none
	}{
		{"absent", ``, def, ""},
		{"empty", `,"extension":{"davinci-crd.configuration":{}}`, def, ""},
		{"other extensions only", `,"extension":{"x.y":1}`, def, ""},
		{"all set", `,"extension":{"davinci-crd.configuration":{"coverage-info":false,"dtr-clin":false,"max-cards":3}}`,
			Configuration{MaxCards: 3}, ""},
		{"unsupported codes ignored (dev-17)", `,"extension":{"davinci-crd.configuration":{"cost":true,"guideline":"x"}}`, def, ""},
		{"not an object", `,"extension":{"davinci-crd.configuration":[]}`, def, "davinci-crd.configuration: expected object"},
		{"coverage-info not boolean", `,"extension":{"davinci-crd.configuration":{"coverage-info":"false"}}`, def, "coverage-info: expected boolean"},
		{"max-cards not integer", `,"extension":{"davinci-crd.configuration":{"max-cards":2.5}}`, def, "max-cards: expected a non-negative integer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := Decode([]byte(head+tc.ext+`}`), OrderSign)
			switch {
			case tc.err != "":
				ce, ok := err.(*Error)
				if !ok || ce.Status != 400 || !strings.Contains(ce.Msg, tc.err) {
					t.Fatalf("error %v, want a 400 naming %q", err, tc.err)
				}
			case err != nil:
				t.Fatal(err)
			case req.Configuration != tc.want:
				t.Errorf("configuration %+v, want %+v", req.Configuration, tc.want)
			}
		})
	}
}

func TestDispatchedRefs(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    Context
		want string
	}{
		{"context.order (CRD)", Context{Order: "MedicationRequest/1"}, "MedicationRequest/1"},
		{"dispatchedOrders (CDS Hooks)", Context{DispatchedOrders: []string{"ServiceRequest/2"}}, "ServiceRequest/2"},
		{"both, once each", Context{Order: "MedicationRequest/1", DispatchedOrders: []string{"MedicationRequest/1", "ServiceRequest/2"}},
			"MedicationRequest/1,ServiceRequest/2"},
		{"neither", Context{}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := strings.Join(tc.c.DispatchedRefs(), ","); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

package auth_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"

	"hemopa/auth"
)

func ExampleNew() {
	ctx := context.Background()
	// A stand-in EHR: smart-configuration with a relative token URL, a
	// token endpoint and a FHIR endpoint.
	mux := http.NewServeMux()
	mux.HandleFunc("/fhir/.well-known/smart-configuration", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"token_endpoint": "/oauth2/token"})
	})
	mux.HandleFunc("/oauth2/token", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"access_token":"opaque","token_type":"bearer","expires_in":"300"}`)
	})
	mux.HandleFunc("/fhir/Patient/1", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s", r.Header.Get("Authorization"))
	})
	ehr := httptest.NewServer(mux)
	defer ehr.Close()

	key, err := auth.GenerateKey(auth.ES384)
	if err != nil {
		log.Fatal(err)
	}
	c, err := auth.New(ctx, "my-client", key, auth.WithFHIRBase(ehr.URL+"/fhir"))
	if err != nil {
		log.Fatal(err)
	}
	hc := c.HTTPClient(nil)
	for range 3 {
		resp, err := hc.Get(ehr.URL + "/fhir/Patient/1")
		if err != nil {
			log.Fatal(err)
		}
		resp.Body.Close()
	}
	fmt.Println("token requests:", c.TokenRequests())
	fmt.Println("first scope:", c.Scopes()[0])
	// Output:
	// token requests: 1
	// first scope: system/Patient.rs
}

func ExampleSystemScopes() {
	fmt.Println(auth.SystemScopes(auth.ScopesV2, []string{"Patient", "Observation"}, true))
	v := auth.DetectScopeVersion([]string{"system/*.read", "launch"})
	fmt.Println(v, auth.SystemScopes(v, []string{"Observation"}, false))
	// Output:
	// [system/Patient.rs system/Observation.rs system/ClaimResponse.cu system/QuestionnaireResponse.cu system/Task.cu]
	// v1 [system/Observation.read]
}

func ExampleGenerateKey() {
	dir, _ := os.MkdirTemp("", "keys")
	defer os.RemoveAll(dir)

	key, err := auth.GenerateKey(auth.ES384)
	if err != nil {
		log.Fatal(err)
	}
	if err := key.WritePEM(filepath.Join(dir, key.KID+".pem")); err != nil {
		log.Fatal(err)
	}
	jwks := filepath.Join(dir, "jwks.json")
	if err := auth.AppendJWKS(jwks, key.Public()); err != nil {
		log.Fatal(err)
	}
	// Rotation: a second key joins the first in the published JWKS.
	next, _ := auth.GenerateKey(auth.ES384)
	if err := auth.AppendJWKS(jwks, next.Public()); err != nil {
		log.Fatal(err)
	}
	set, _ := auth.ReadJWKS(jwks)
	loaded, _ := auth.LoadKey(filepath.Join(dir, key.KID+".pem"))
	fmt.Println(len(set.Keys), set.Keys[0].Use, set.Keys[0].Alg, loaded.KID == key.KID)
	// Output: 2 sig ES384 true
}

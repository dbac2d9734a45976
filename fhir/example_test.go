package fhir_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"time"

	"hemopa/fhir"
)

// exampleServer stands in for HAPI: a two-page Observation search, a batch
// endpoint, conditional create and a missing Patient.
func exampleServer() *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", fhir.MIMEType)
		switch {
		case r.URL.Path == "/fhir/Observation":
			io.WriteString(w, `{"resourceType":"Bundle","type":"searchset",
			  "link":[{"relation":"next","url":"http://`+r.Host+`/fhir?_getpages=s1&_getpagesoffset=1"}],
			  "entry":[{"resource":{"resourceType":"Observation","id":"o1"}}]}`)
		case r.URL.Path == "/fhir" && r.Method == http.MethodGet:
			io.WriteString(w, `{"resourceType":"Bundle","type":"searchset","entry":[{"resource":{"resourceType":"Observation","id":"o2"}}]}`)
		case r.URL.Path == "/fhir" && r.Method == http.MethodPost:
			body, _ := io.ReadAll(r.Body)
			n := strings.Count(string(body), `"method":"GET"`)
			entries := make([]string, n)
			for i := range entries {
				entries[i] = `{"response":{"status":"200 OK"},"resource":{"resourceType":"Bundle","type":"searchset",
				  "entry":[{"resource":{"resourceType":"Condition","id":"c` + fmt.Sprint(i) + `"}}]}}`
			}
			io.WriteString(w, `{"resourceType":"Bundle","type":"batch-response","entry":[`+strings.Join(entries, ",")+`]}`)
		case r.URL.Path == "/fhir/Task" && r.Method == http.MethodPost:
			w.Header().Set("Location", "http://"+r.Host+"/fhir/Task/t1/_history/1")
			w.WriteHeader(http.StatusCreated)
			io.WriteString(w, `{"resourceType":"Task","id":"t1"}`)
		default:
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"not-found",
			  "diagnostics":"HAPI-2001: Resource Patient/nobody is not known"}]}`)
		}
	}))
}

func ExampleNewClient() {
	// Usually the HTTP client comes from the auth package and carries SMART
	// tokens; a nil one means a pooled default.
	var authed *http.Client
	c, err := fhir.NewClient("https://ehr.example/fhir",
		fhir.WithHTTPClient(authed),
		fhir.WithRetryMax(3),
		fhir.WithRetryWait(200*time.Millisecond, 5*time.Second),
		fhir.WithTimeout(30*time.Second),
		fhir.WithMaxPages(50),
		fhir.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, nil))),
	)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(c.BaseURL())
	// Output: https://ehr.example/fhir
}

func ExampleClient_Search() {
	srv := exampleServer()
	defer srv.Close()
	c, err := fhir.NewClient(srv.URL + "/fhir")
	if err != nil {
		log.Fatal(err)
	}
	// Count the round trips of one evaluation.
	ctx, tally := fhir.Track(context.Background())
	entries, err := c.Search(ctx, "Observation?patient=p1&code=http://loinc.org|3187-2&_count=1")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d resources in %d round trips\n", len(entries), tally.RoundTrips())
	// Output: 2 resources in 2 round trips
}

func ExampleClient_Batch() {
	srv := exampleServer()
	defer srv.Close()
	c, err := fhir.NewClient(srv.URL + "/fhir")
	if err != nil {
		log.Fatal(err)
	}
	results, err := c.Batch(context.Background(), []string{
		"Condition?patient=p1&code=http://snomed.info/sct|28293008&_count=1000",
		"Condition?patient=p1&code=http://snomed.info/sct|1563006&_count=1000",
		"MedicationRequest?patient=p1&status=active&_count=1000",
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d searches, %d round trip\n", len(results), c.RoundTrips())
	// Output: 3 searches, 1 round trip
}

func ExampleClient_ConditionalCreate() {
	srv := exampleServer()
	defer srv.Close()
	c, err := fhir.NewClient(srv.URL + "/fhir")
	if err != nil {
		log.Fatal(err)
	}
	res, err := c.ConditionalCreate(context.Background(), "Task",
		[]byte(`{"resourceType":"Task","identifier":[{"system":"urn:hemopa:pa","value":"d-42"}]}`),
		"identifier=urn:hemopa:pa|d-42")
	switch {
	case fhir.IsPreconditionFailed(err):
		fmt.Println("several Tasks carry that identifier")
	case err != nil:
		log.Fatal(err)
	default:
		fmt.Println(res.Status, res.Created, strings.TrimPrefix(res.Location, srv.URL))
	}
	// Output: 201 true /fhir/Task/t1/_history/1
}

func ExampleIsNotFound() {
	srv := exampleServer()
	defer srv.Close()
	c, err := fhir.NewClient(srv.URL + "/fhir")
	if err != nil {
		log.Fatal(err)
	}
	_, err = c.Read(context.Background(), "Patient", "nobody")
	fmt.Println(fhir.IsNotFound(err))
	var fe *fhir.Error
	if errors.As(err, &fe) {
		fmt.Println(fe.Status, fe.Outcome.Issues[0].Code)
		fmt.Println(fe)
	}
	// Output:
	// true
	// 404 not-found
	// GET Patient/nobody: 404 Not Found: HAPI-2001: Resource Patient/nobody is not known
}

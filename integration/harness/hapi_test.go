package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	code := m.Run()
	Shutdown()
	os.Exit(code)
}

// TestHAPIStartWriteRestartRead starts a private server, writes through a transaction, checks the
// search features the project relies on, restarts it and reads the data back, then checks Close
// leaves no java process behind.
func TestHAPIStartWriteRestartRead(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	begin := time.Now()
	h, err := StartHAPI(ctx)
	if err != nil {
		if InCI() {
			t.Fatalf("StartHAPI: %v", err)
		}
		t.Skipf("no HAPI server here: %v", err)
	}
	defer h.Close()
	t.Logf("backend %s, base %s, started in %s", h.Backend(), h.BaseURL(), time.Since(begin).Round(time.Second))
	base := h.BaseURL()

	// metadata
	status, md := fhirDo(t, http.MethodGet, base+"/metadata", nil, nil)
	if status != 200 || md["fhirVersion"] != "4.0.1" {
		t.Fatalf("metadata: status %d fhirVersion %v", status, md["fhirVersion"])
	}

	// transaction: client-assigned alphanumeric id + 45 Observations referencing it
	pid := fmt.Sprintf("pat-harness-%d", time.Now().UnixNano())
	entries := []any{map[string]any{
		"resource": map[string]any{"resourceType": "Patient", "id": pid,
			"identifier": []any{map[string]any{"system": "urn:hemopa:test", "value": pid}}},
		"request": map[string]any{"method": "PUT", "url": "Patient/" + pid},
	}}
	for i := 0; i < 45; i++ {
		entries = append(entries, map[string]any{
			"fullUrl": fmt.Sprintf("urn:uuid:00000000-0000-4000-8000-%012d", i),
			"resource": map[string]any{
				"resourceType": "Observation", "status": "final",
				"code": map[string]any{"coding": []any{map[string]any{
					"system": "http://loinc.org", "code": "3209-7"}}},
				"subject":           map[string]any{"reference": "Patient/" + pid},
				"effectiveDateTime": fmt.Sprintf("2024-02-%02dT10:00:00Z", 1+i%28),
			},
			"request": map[string]any{"method": "POST", "url": "Observation"},
		})
	}
	status, resp := fhirDo(t, http.MethodPost, base,
		map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": entries}, nil)
	if status != 200 || resp["type"] != "transaction-response" || len(resp["entry"].([]any)) != 46 {
		t.Fatalf("transaction: status %d type %v", status, resp["type"])
	}

	// conditional create: 201 then 200 with the same resource
	cond := map[string]any{"resourceType": "Patient",
		"identifier": []any{map[string]any{"system": "urn:hemopa:cond", "value": pid}}}
	hdr := map[string]string{"If-None-Exist": "identifier=urn:hemopa:cond|" + pid}
	if s, _ := fhirDo(t, http.MethodPost, base+"/Patient", cond, hdr); s != 201 {
		t.Fatalf("first conditional create: %d, want 201", s)
	}
	if s, _ := fhirDo(t, http.MethodPost, base+"/Patient", cond, hdr); s != 200 {
		t.Fatalf("second conditional create: %d, want 200", s)
	}

	// referential integrity on write
	if s, _ := fhirDo(t, http.MethodPost, base+"/Observation", map[string]any{
		"resourceType": "Observation", "status": "final", "code": map[string]any{"text": "x"},
		"subject": map[string]any{"reference": "Patient/does-not-exist"}}, nil); s != 400 {
		t.Fatalf("dangling reference accepted: %d, want 400", s)
	}

	// searches with paging through Bundle.link[next]
	checkCount := func(query string, want, wantPages int) {
		t.Helper()
		n, pages := searchAll(t, base+"/"+query)
		if n != want || (wantPages > 0 && pages != wantPages) {
			t.Fatalf("%s: %d results in %d pages, want %d in %d", query, n, pages, want, wantPages)
		}
	}
	checkCount("Observation?patient="+pid+"&_count=20", 45, 3)
	checkCount("Observation?patient="+pid+"&code=http://loinc.org|3209-7&date=ge2024-02-10&_lastUpdated=gt2000-01-01&_count=1000", 27, 1)
	checkCount("Patient?identifier=urn:hemopa:test|"+pid, 1, 1)
	checkCount("Patient/"+pid+"/$everything", 46, 3)

	if h.Backend() == "external" {
		t.Log("external server: Restart/Close not exercised")
		return
	}

	// restart keeps data and the base URL
	begin = time.Now()
	if err := h.Restart(ctx); err != nil {
		t.Fatalf("Restart: %v", err)
	}
	t.Logf("restarted in %s", time.Since(begin).Round(time.Second))
	if h.BaseURL() != base {
		t.Fatalf("base URL changed on restart: %s -> %s", base, h.BaseURL())
	}
	if s, _ := fhirDo(t, http.MethodGet, base+"/Patient/"+pid, nil, nil); s != 200 {
		t.Fatalf("read after restart: %d", s)
	}
	checkCount("Observation?patient="+pid+"&_count=20", 45, 3)

	if h.Backend() != "process" {
		return
	}
	javaPid := h.cmd.Process.Pid
	dir := h.dir
	if err := h.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := h.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if alive := processesWithArg("--server.port=" + strconv.Itoa(h.port)); len(alive) > 0 || processAlive(javaPid) {
		t.Fatalf("java still running after Close: pid %d, matching %v", javaPid, alive)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("temp dir %s not removed: %v", dir, err)
	}
	if err := h.Restart(ctx); err == nil {
		t.Fatal("Restart after Close succeeded")
	}
}

// TestHAPIRequireShared checks the shared server and that a second call returns the same one.
func TestHAPIRequireShared(t *testing.T) {
	h := RequireHAPI(t)
	if h2 := RequireHAPI(t); h2 != h {
		t.Fatal("RequireHAPI returned two different servers")
	}
	if s, md := fhirDo(t, http.MethodGet, h.BaseURL()+"/metadata", nil, nil); s != 200 || md["resourceType"] != "CapabilityStatement" {
		t.Fatalf("metadata: %d %v", s, md["resourceType"])
	}
}

func fhirDo(t *testing.T, method, url string, body any, headers map[string]string) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/fhir+json")
	req.Header.Set("Cache-Control", "no-cache") // HAPI reuses identical searches for 60 s otherwise
	if body != nil {
		req.Header.Set("Content-Type", "application/fhir+json")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := (&http.Client{Timeout: 2 * time.Minute}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	var out map[string]any
	b, _ := io.ReadAll(resp.Body)
	if len(b) > 0 {
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("%s %s: %d, body not JSON: %.300s", method, url, resp.StatusCode, b)
		}
	}
	return resp.StatusCode, out
}

// searchAll follows Bundle.link[next] and returns the number of entries and pages.
func searchAll(t *testing.T, url string) (entries, pages int) {
	t.Helper()
	for url != "" && pages < 100 {
		s, b := fhirDo(t, http.MethodGet, url, nil, nil)
		if s != 200 || b["resourceType"] != "Bundle" {
			t.Fatalf("GET %s: %d %v", url, s, b)
		}
		pages++
		if e, ok := b["entry"].([]any); ok {
			entries += len(e)
		}
		url = ""
		links, _ := b["link"].([]any)
		for _, l := range links {
			if m, _ := l.(map[string]any); m["relation"] == "next" {
				url, _ = m["url"].(string)
			}
		}
	}
	return entries, pages
}

func processAlive(pid int) bool {
	_, err := os.Stat(filepath.Join("/proc", strconv.Itoa(pid)))
	return err == nil
}

// processesWithArg lists the pids (from /proc) whose command line contains arg.
func processesWithArg(arg string) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(b), arg) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// TestHAPIStartFailureShowsLog checks that a server that cannot start is reported with its log tail
// and leaves nothing behind.
func TestHAPIStartFailureShowsLog(t *testing.T) {
	if os.Getenv(EnvFHIRTestURL) != "" {
		if InCI() {
			t.Fatalf("%s is set: this test starts its own server; unset it in CI", EnvFHIRTestURL)
		}
		t.Skip("external server in use")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	h, err := StartHAPI(ctx, WithHAPILocalProcess(), WithHAPISetting("hapi.fhir.client_id_strategy", "NOT_A_STRATEGY"))
	if err == nil {
		h.Close()
		t.Fatal("StartHAPI succeeded with an invalid setting")
	}
	t.Logf("reported: %.400s...", err)
	if !strings.Contains(err.Error(), "NOT_A_STRATEGY") || !strings.Contains(err.Error(), "last 30 lines") {
		t.Fatalf("error lacks the log tail: %v", err)
	}
	if alive := processesWithArg("NOT_A_STRATEGY"); len(alive) > 0 {
		t.Fatalf("java left running: %v", alive)
	}
}

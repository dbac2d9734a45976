package serve

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"hemopa/cmd/hemopa/internal/pas"
	"hemopa/cmd/hemopa/internal/testenv"
)

// Issuers of the test tokens: one whose JWKS is a file (RS384), one served
// at a URL (ES384, through keyfunc's HTTP storage).
const (
	issFile = "https://ehr-file.example.org"
	issURL  = "https://ehr-url.example.org"
	asOf    = "2026-11-24"
)

var (
	keysOnce sync.Once
	rsaKey   *rsa.PrivateKey
	ecKey    *ecdsa.PrivateKey
	otherRSA *rsa.PrivateKey // signs with a kid nobody published
	weakRSA  *rsa.PrivateKey // 1024 bits, published as rsa-weak: refused
)

func testKeys(t testing.TB) {
	keysOnce.Do(func() {
		var err error
		if rsaKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if otherRSA, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if weakRSA, err = rsa.GenerateKey(rand.Reader, 1024); err != nil {
			panic(err)
		}
		if ecKey, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader); err != nil {
			panic(err)
		}
	})
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func rsaJWK(k *rsa.PublicKey, kid string) map[string]string {
	return map[string]string{"kty": "RSA", "kid": kid, "alg": "RS384", "use": "sig",
		"n": b64(k.N.Bytes()), "e": b64(big.NewInt(int64(k.E)).Bytes())}
}

func ecJWK(k *ecdsa.PublicKey, kid string) map[string]string {
	pub, _ := k.ECDH()
	raw := pub.Bytes() // 0x04 || X || Y
	n := (len(raw) - 1) / 2
	return map[string]string{"kty": "EC", "kid": kid, "alg": "ES384", "use": "sig", "crv": "P-384",
		"x": b64(raw[1 : 1+n]), "y": b64(raw[1+n:])}
}

func jwksJSON(keys ...map[string]string) []byte {
	b, _ := json.Marshal(map[string]any{"keys": keys})
	return b
}

// repoRoot is the folder holding go.mod.
func repoRoot(t testing.TB) string { t.Helper(); return testenv.RepoRoot(t) }

func infernoFixture(t testing.TB, name string) []byte {
	t.Helper()
	return testenv.ReadShared(t, "fixtures", "inferno-crd", name)
}

// testConfigYAML is the server config of the tests (paths filled in).
const testConfigYAML = `
public_base_url: %s
issuers:
  - iss: ` + issFile + `
    jwks_file: %s
  - iss: ` + issURL + `
    jwks_url: %s
payers:
  - name: UCare
    match: {system: http://hemopa.org/fhir/sid/payer, value: ucare}
    policy: ucare-hemgenix
  - name: NY Medicaid
    match: {reference: Organization/ny-medicaid}
    policies: [ny-pharmacy-109-hemgenix, ny-pharmacy-109-roctavian]
  - name: BCBS Mississippi
    match: {display: Blue Cross & Blue Shield of Mississippi}
    policies: [bcbsms-hemophilia-b-gene-therapy]
default_policy:
  Hemgenix: label-aligned-hemgenix
  Beqvez: label-aligned-beqvez
  Roctavian: ny-pharmacy-109-roctavian
policy_links:
  ucare-hemgenix: https://www.ucare.org/policies/hemgenix.pdf
jwks_file: %s
as_of: ` + asOf + `
rate_limit: {per_second: %d, burst: %d}
body_limit: %d
`

type testServer struct {
	*Server
	URL    string
	client *http.Client
	logs   *syncBuffer
}

type serverOpts struct {
	rate      int // per second (default 10000)
	burst     int
	bodyLimit int64
	cache     bool // keep the decision caches (default off in tests: every request maps and evaluates afresh)
	dev       bool
	pas       pasService
	// discoveryAuth sets discovery_auth: GET /cds-services needs a JWT.
	discoveryAuth bool
	// authorizeAtOrder lists the "example" payer (label-aligned-hemgenix,
	// authorize_at_order) and mounts a real PAS service on a MemStore, its
	// store wired in as the CRD authorizations.
	authorizeAtOrder bool
}

// newTestServer starts the server on a loopback httptest listener with the
// test issuers; logs go to a buffer the test can inspect.
func newTestServer(t testing.TB, o serverOpts) *testServer {
	t.Helper()
	testKeys(t)
	dir := t.TempDir()
	fileJWKS := filepath.Join(dir, "ehr-jwks.json")
	if err := os.WriteFile(fileJWKS, jwksJSON(rsaJWK(&rsaKey.PublicKey, "rsa-1"), rsaJWK(&weakRSA.PublicKey, "rsa-weak")), 0o600); err != nil {
		t.Fatal(err)
	}
	jwksSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(jwksJSON(ecJWK(&ecKey.PublicKey, "ec-1")))
	}))
	t.Cleanup(jwksSrv.Close)
	ownJWKS := filepath.Join(dir, "jwks.json")
	if err := os.WriteFile(ownJWKS, jwksJSON(rsaJWK(&otherRSA.PublicKey, "hemopa-1")), 0o600); err != nil {
		t.Fatal(err)
	}
	if o.rate == 0 {
		o.rate, o.burst = 10000, 10000
	}
	if o.bodyLimit == 0 {
		o.bodyLimit = 5 << 20
	}
	ts := httptest.NewUnstartedServer(nil)
	base := "http://" + ts.Listener.Addr().String()
	yml := testConfigYAML
	if o.authorizeAtOrder {
		yml = strings.Replace(yml, "payers:\n", "payers:\n  - name: Example\n    match: {reference: Organization/payer-example}\n    policy: label-aligned-hemgenix\n    authorize_at_order: true\n", 1)
	}
	cfg, err := ParseConfig(fmt.Appendf(nil, yml, base, fileJWKS, jwksSrv.URL+"/jwks.json", ownJWKS, o.rate, o.burst, o.bodyLimit), dir)
	if err != nil {
		t.Fatal(err)
	}
	if !o.cache {
		cfg.Cache.Decisions = -1
	}
	cfg.DiscoveryAuth = o.discoveryAuth
	logs := &syncBuffer{}
	opts := []Option{WithLogger(slog.New(slog.NewJSONHandler(logs, nil))), WithPipeline(testPipeline(t))}
	if o.dev {
		opts = append(opts, WithInsecureDev())
	}
	if o.pas != nil {
		opts = append(opts, WithPAS(o.pas))
	}
	if o.authorizeAtOrder {
		day, _ := cfg.FixedDay()
		claims, err := pas.NewService(pas.WithPipeline(testPipeline(t)), pas.WithRouter(cfg.Router()),
			pas.WithStore(pas.NewMemStore()), pas.WithClock(func() time.Time { return day }))
		if err != nil {
			t.Fatal(err)
		}
		opts = append(opts, WithPAS(claims), WithAuthorizations(claims))
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	s, err := New(ctx, cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ts.Config.Handler = s.Handler()
	ts.Start()
	t.Cleanup(ts.Close)
	return &testServer{Server: s, URL: base, client: ts.Client(), logs: logs}
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// token is a test JWT; zero fields take valid defaults.
type token struct {
	alg, kid, iss, jti string
	aud                any           // string or []string
	exp, iat           time.Duration // from now; iat < 0 is in the past
	noIat, noExp       bool
	key                crypto.Signer
	hmac               []byte
	none               bool
}

func (ts *testServer) sign(t testing.TB, path string, tk token) string {
	t.Helper()
	if tk.alg == "" {
		tk.alg = "RS384"
	}
	if tk.iss == "" {
		tk.iss = issFile
		if tk.alg == "ES384" {
			tk.iss = issURL
		}
	}
	if tk.kid == "" {
		tk.kid = map[string]string{"RS384": "rsa-1", "ES384": "ec-1"}[tk.alg]
	}
	if tk.aud == nil {
		tk.aud = ts.URL + path
	}
	if tk.jti == "" {
		tk.jti = newUUID()
	}
	if tk.exp == 0 {
		tk.exp = time.Minute
	}
	claims := jwt.MapClaims{"iss": tk.iss, "sub": tk.iss, "aud": tk.aud, "jti": tk.jti}
	now := time.Now()
	if !tk.noExp {
		claims["exp"] = now.Add(tk.exp).Unix()
	}
	if !tk.noIat {
		claims["iat"] = now.Add(tk.iat).Unix()
	}
	var method jwt.SigningMethod
	var key any
	switch {
	case tk.none:
		method, key = jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType
	case tk.hmac != nil:
		method, key = jwt.SigningMethodHS256, tk.hmac
	case tk.alg == "ES384":
		method, key = jwt.SigningMethodES384, ecKey
	default:
		method, key = jwt.SigningMethodRS384, rsaKey
	}
	if tk.key != nil {
		key = tk.key
	}
	j := jwt.NewWithClaims(method, claims)
	j.Header["kid"] = tk.kid
	if tk.kid == "-" {
		delete(j.Header, "kid")
	}
	s, err := j.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// do sends a request with a fresh valid RS384 token (unless bearer is given:
// "-" for none).
func (ts *testServer) do(t testing.TB, method, path string, body []byte, bearer string) (int, []byte, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, ts.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	switch bearer {
	case "":
		req.Header.Set("Authorization", "Bearer "+ts.sign(t, path, token{}))
	case "-":
	default:
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := ts.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header
}

// --- sample patients as hook requests ---

// payers of the test config, as Coverage.payor entries.
var testPayors = map[string]map[string]any{
	"ucare":  {"identifier": map[string]string{"system": "http://hemopa.org/fhir/sid/payer", "value": "ucare"}, "display": "UCare"},
	"ny":     {"reference": "Organization/ny-medicaid", "display": "NY Medicaid"},
	"bcbsms": {"display": "Blue Cross & Blue Shield of Mississippi"},
	"other":  {"display": "Some Other Health Plan"},
	// example is listed only with serverOpts.authorizeAtOrder (the payor of testdata/pas).
	"example": {"reference": "Organization/payer-example", "display": "Example Payer"},
}

// payerPolicy is the policy the test config picks per payer and drug.
func payerPolicy(payer, drug string) string {
	switch {
	case payer == "ucare" && drug == "Hemgenix":
		return "ucare-hemgenix"
	case payer == "ny" && drug != "Beqvez":
		return map[string]string{"Hemgenix": "ny-pharmacy-109-hemgenix", "Roctavian": "ny-pharmacy-109-roctavian"}[drug]
	case payer == "bcbsms" && drug != "Roctavian":
		return "bcbsms-hemophilia-b-gene-therapy"
	}
	return map[string]string{"Hemgenix": "label-aligned-hemgenix", "Beqvez": "label-aligned-beqvez", "Roctavian": "ny-pharmacy-109-roctavian"}[drug]
}

type sampleBundle struct {
	Entry []struct {
		Resource json.RawMessage `json:"resource"`
	} `json:"entry"`
}

// prefetchKeyOf files a sample resource under a prefetch key.
var prefetchKeyOf = map[string]string{
	"Observation": "observations", "Condition": "conditions", "MedicationStatement": "medicationStatements",
	"MedicationRequest": "medicationRequests", "MedicationAdministration": "medicationAdministrations",
	"Procedure": "procedures", "ExplanationOfBenefit": "claims", "Claim": "claims",
	"QuestionnaireResponse": "questionnaireResponses", "PractitionerRole": "practitionerRoles", "Practitioner": "practitionerRoles",
}

// hookRequest builds a hook request from a sample patient: the draft
// gene therapy order in context (naming a Coverage of the payer), the rest of
// the record as prefetch searchsets (an empty search as null).
func hookRequest(t testing.TB, patient, hook, payer string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "testdata", "patients", patient+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var b sampleBundle
	if err := json.Unmarshal(data, &b); err != nil {
		t.Fatal(err)
	}
	var pid string
	var draft map[string]any
	byKey := map[string][]json.RawMessage{}
	for _, e := range b.Entry {
		var head struct {
			ResourceType, ID, Status string
		}
		_ = json.Unmarshal(e.Resource, &head)
		switch {
		case head.ResourceType == "Patient":
			pid = head.ID
			byKey["patient"] = append(byKey["patient"], e.Resource)
		case head.ResourceType == "MedicationRequest" && head.Status == "draft":
			if err := json.Unmarshal(e.Resource, &draft); err != nil {
				t.Fatal(err)
			}
		default:
			k := prefetchKeyOf[head.ResourceType]
			if k == "" {
				t.Fatalf("%s: no prefetch key for %s", patient, head.ResourceType)
			}
			byKey[k] = append(byKey[k], e.Resource)
		}
	}
	covID := "cov-" + pid
	draft["insurance"] = []map[string]string{{"reference": "Coverage/" + covID}}
	cov := map[string]any{"resourceType": "Coverage", "id": covID, "status": "active",
		"beneficiary": map[string]string{"reference": "Patient/" + pid}, "payor": []any{testPayors[payer]}}
	covRaw, _ := json.Marshal(cov)
	byKey["coverage"] = []json.RawMessage{covRaw}
	prefetch := map[string]any{}
	for _, k := range prefetchKeys(nil) { // names only
		rs := byKey[k.Name]
		switch {
		case k.Name == "patient":
			prefetch[k.Name] = rs[0]
		case len(rs) == 0:
			prefetch[k.Name] = nil
		default:
			var entries []map[string]any
			for _, r := range rs {
				entries = append(entries, map[string]any{"resource": r})
			}
			prefetch[k.Name] = map[string]any{"resourceType": "Bundle", "type": "searchset", "total": len(rs), "entry": entries}
		}
	}
	draftID, _ := draft["id"].(string)
	ctx := map[string]any{"userId": "PractitionerRole/role-" + pid, "patientId": pid,
		"draftOrders": map[string]any{"resourceType": "Bundle", "type": "collection", "entry": []any{map[string]any{"resource": draft}}}}
	if hook == hookOrderSelect {
		ctx["selections"] = []string{"MedicationRequest/" + draftID}
	}
	req := map[string]any{"hookInstance": "2a7d0f36-9c4e-4a1d-8d6b-" + fmt.Sprintf("%012x", len(patient)), "hook": hook,
		"fhirServer": "https://ehr.example.org/fhir", "context": ctx, "prefetch": prefetch}
	out, err := json.MarshalIndent(req, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(out, '\n')
}

func samplePatients(t testing.TB) []string { t.Helper(); return testenv.SampleNames(t) }

// --- reading responses ---

type hookResponse struct {
	Cards []struct {
		UUID      string `json:"uuid"`
		Summary   string `json:"summary"`
		Indicator string `json:"indicator"`
		Detail    string `json:"detail"`
		Source    struct {
			Label string `json:"label"`
			Topic struct {
				System, Code string
			} `json:"topic"`
		} `json:"source"`
		Links []struct {
			Label, URL, Type string
			AppContext       string `json:"appContext"`
		} `json:"links"`
	} `json:"cards"`
	SystemActions []struct {
		Type        string          `json:"type"`
		Description string          `json:"description"`
		Resource    json.RawMessage `json:"resource"`
	} `json:"systemActions"`
}

// coverageInfo reads the sub-extensions of the first coverage-information
// extension of a systemAction's resource: url → values.
func coverageInfo(t testing.TB, res json.RawMessage) map[string][]string {
	t.Helper()
	var r struct {
		Extension []struct {
			URL       string `json:"url"`
			Extension []map[string]any
		} `json:"extension"`
	}
	if err := json.Unmarshal(res, &r); err != nil {
		t.Fatal(err)
	}
	for _, e := range r.Extension {
		if e.URL != "http://hl7.org/fhir/us/davinci-crd/StructureDefinition/ext-coverage-information" {
			continue
		}
		out := map[string][]string{}
		for _, sub := range e.Extension {
			url, _ := sub["url"].(string)
			for k, v := range sub {
				if k == "url" {
					continue
				}
				switch x := v.(type) {
				case string:
					out[url] = append(out[url], x)
				case map[string]any:
					if s, ok := x["reference"].(string); ok {
						out[url] = append(out[url], s)
					} else if s, ok := x["text"].(string); ok {
						out[url] = append(out[url], s)
					}
				}
			}
		}
		return out
	}
	t.Fatalf("no coverage-information extension in %s", res)
	return nil
}

// newUUID is a random (version 4) UUID, for token ids.
func newUUID() string { return uuid.NewString() }

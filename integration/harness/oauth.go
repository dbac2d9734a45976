// Package harness starts the real servers hemopa's integration tests run
// against.
package harness

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

// OAuthServer is a running oidc-provider authorization server
// (integration/oauth/server.js) that issues client_credentials tokens to
// clients authenticating with private_key_jwt (RS384 or ES384).
type OAuthServer struct {
	issuer           string
	tokenURL         string
	introspectionURL string
	scopes           []string
	introID          string
	introSecret      string

	cmd  *exec.Cmd
	tmp  string
	done chan struct{} // closed when the process has exited
	logs *oauthLogs

	closeOnce sync.Once
}

// OAuthClient registers a client with the server.
type OAuthClient struct {
	ID string
	// Keys are the client's public JWKs (for example auth.PublicKey values);
	// or set JWKSURI to a URL serving them (127.0.0.1 is allowed).
	Keys    []any
	JWKSURI string
	// Scopes the client may be granted; default all the server's scopes.
	Scopes []string
}

// OAuthOption configures StartOAuth.
type OAuthOption func(*oauthSettings)

type oauthSettings struct {
	clients        []OAuthClient
	scopes         []string
	ttl            time.Duration
	startupTimeout time.Duration
	log            io.Writer
	dir            string
}

// WithOAuthClient registers a client; give one option per client.
func WithOAuthClient(c OAuthClient) OAuthOption {
	return func(s *oauthSettings) { s.clients = append(s.clients, c) }
}

// WithOAuthScopes lists the scopes the server knows. oidc-provider silently
// drops requested scopes it does not know, so list every scope a test asks
// for. Default: OAuthDefaultScopes.
func WithOAuthScopes(scopes ...string) OAuthOption {
	return func(s *oauthSettings) { s.scopes = scopes }
}

// WithOAuthTokenTTL sets the access token lifetime, in whole seconds (at
// least 1 s). Default 300 s.
func WithOAuthTokenTTL(d time.Duration) OAuthOption { return func(s *oauthSettings) { s.ttl = d } }

// WithOAuthStartupTimeout bounds the wait for the server to accept
// requests, after any npm install (default 30 s).
func WithOAuthStartupTimeout(d time.Duration) OAuthOption {
	return func(s *oauthSettings) { s.startupTimeout = d }
}

// WithOAuthLog copies the server's stdout and stderr to w (e.g. a
// testing.T writer).
func WithOAuthLog(w io.Writer) OAuthOption { return func(s *oauthSettings) { s.log = w } }

// WithOAuthDir sets the directory holding server.js (default
// integration/oauth next to this package).
func WithOAuthDir(dir string) OAuthOption { return func(s *oauthSettings) { s.dir = dir } }

// OAuthDefaultScopes are SMART v2 system scopes for everything hemopa reads
// and writes.
var OAuthDefaultScopes = []string{
	"system/Patient.rs", "system/Observation.rs", "system/Condition.rs", "system/MedicationRequest.rs",
	"system/MedicationStatement.rs", "system/MedicationAdministration.rs", "system/Procedure.rs",
	"system/Claim.rs", "system/ExplanationOfBenefit.rs", "system/QuestionnaireResponse.rs",
	"system/PractitionerRole.rs", "system/Practitioner.rs", "system/Coverage.rs",
	"system/ClaimResponse.cu", "system/QuestionnaireResponse.cu", "system/Task.cu",
}

// oauthDir is integration/oauth, found from this source file.
func oauthDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "oauth")
}

var oauthInstallMu sync.Mutex

// OAuthInstall runs integration/scripts/oauth-install.sh, which runs npm ci
// only when node_modules is missing or older than package-lock.json.
func OAuthInstall(ctx context.Context, dir string) error {
	oauthInstallMu.Lock()
	defer oauthInstallMu.Unlock()
	script := filepath.Join(dir, "..", "scripts", "oauth-install.sh")
	cmd := exec.CommandContext(ctx, "bash", script)
	// On cancellation stop npm too, not just bash.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("harness: oauth install (%s): %w: %s", script, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// StartOAuth installs the server's npm dependencies if needed, starts
// `node server.js` on a free 127.0.0.1 port and waits until it serves its
// discovery document. ctx bounds the start only; the server runs until
// Close. On error the partly started server is already stopped.
func StartOAuth(ctx context.Context, opts ...OAuthOption) (*OAuthServer, error) {
	s := oauthSettings{scopes: OAuthDefaultScopes, ttl: 300 * time.Second, startupTimeout: 30 * time.Second, dir: oauthDir()}
	for _, o := range opts {
		o(&s)
	}
	if len(s.clients) == 0 {
		return nil, errors.New("harness: StartOAuth needs at least one WithOAuthClient")
	}
	if s.ttl < time.Second || s.ttl%time.Second != 0 {
		return nil, fmt.Errorf("harness: token TTL %v must be whole seconds, at least 1 s", s.ttl)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, fmt.Errorf("harness: oauth server needs Node.js: %w", err)
	}
	if err := OAuthInstall(ctx, s.dir); err != nil {
		return nil, err
	}

	cfg := map[string]any{
		"host":     "127.0.0.1",
		"port":     0, // the server picks a free port and reports it: no race
		"tokenTTL": int(s.ttl / time.Second),
		"scopes":   s.scopes,
	}
	var clients []map[string]any
	for _, c := range s.clients {
		if c.ID == "" || (len(c.Keys) == 0 && c.JWKSURI == "") {
			return nil, fmt.Errorf("harness: OAuth client %q needs an ID and Keys or JWKSURI", c.ID)
		}
		m := map[string]any{"client_id": c.ID}
		if len(c.Keys) > 0 {
			m["jwks"] = map[string]any{"keys": c.Keys}
		}
		if c.JWKSURI != "" {
			m["jwks_uri"] = c.JWKSURI
		}
		if len(c.Scopes) > 0 {
			m["scope"] = strings.Join(c.Scopes, " ")
		}
		clients = append(clients, m)
	}
	cfg["clients"] = clients
	srv := &OAuthServer{
		scopes:      s.scopes,
		introID:     "harness-introspection",
		introSecret: rand.Text() + rand.Text(),
		done:        make(chan struct{}),
		logs:        &oauthLogs{},
	}
	cfg["introspection"] = map[string]string{"client_id": srv.introID, "client_secret": srv.introSecret}

	srv.tmp, err = os.MkdirTemp("", "hemopa-oauth-")
	if err != nil {
		return nil, fmt.Errorf("harness: %w", err)
	}
	cfgPath := filepath.Join(srv.tmp, "config.json")
	data, err := json.Marshal(cfg)
	if err != nil {
		os.RemoveAll(srv.tmp)
		return nil, fmt.Errorf("harness: oauth config: %w", err)
	}
	if err := os.WriteFile(cfgPath, data, 0o600); err != nil {
		os.RemoveAll(srv.tmp)
		return nil, fmt.Errorf("harness: %w", err)
	}

	cmd := exec.Command(node, "server.js", cfgPath)
	cmd.Dir = s.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // Close kills the group
	cmd.Env = append(os.Environ(), "NODE_ENV=test")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		os.RemoveAll(srv.tmp)
		return nil, fmt.Errorf("harness: %w", err)
	}
	var logw io.Writer = srv.logs
	if s.log != nil {
		logw = io.MultiWriter(srv.logs, s.log)
	}
	cmd.Stderr = logw
	start := time.Now()
	if err := cmd.Start(); err != nil {
		os.RemoveAll(srv.tmp)
		return nil, fmt.Errorf("harness: start oauth server: %w", err)
	}
	srv.cmd = cmd
	ready := make(chan string, 1)
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logw, line)
			if u, ok := strings.CutPrefix(line, "listening "); ok {
				select {
				case ready <- strings.TrimSpace(u):
				default:
				}
			}
		}
	}()
	go func() {
		<-scanned // all reads from the pipe must end before Wait
		cmd.Wait()
		close(srv.done)
	}()

	fail := func(err error) (*OAuthServer, error) {
		srv.Close()
		return nil, fmt.Errorf("harness: oauth server: %w; server output:\n%s", err, srv.Logs())
	}
	timer := time.NewTimer(s.startupTimeout)
	defer timer.Stop()
	select {
	case srv.issuer = <-ready:
	case <-srv.done:
		return fail(fmt.Errorf("exited during startup: %v", cmd.ProcessState))
	case <-timer.C:
		return fail(fmt.Errorf("not listening after %v", s.startupTimeout))
	case <-ctx.Done():
		return fail(ctx.Err())
	}
	// Readiness: the discovery document names the endpoints.
	var disc struct {
		TokenEndpoint         string `json:"token_endpoint"`
		IntrospectionEndpoint string `json:"introspection_endpoint"`
	}
	dctx, cancel := context.WithTimeout(ctx, s.startupTimeout)
	defer cancel()
	if err := oauthGetJSON(dctx, srv.issuer+"/.well-known/openid-configuration", &disc); err != nil {
		return fail(err)
	}
	if disc.TokenEndpoint == "" || disc.IntrospectionEndpoint == "" {
		return fail(errors.New("discovery lacks token_endpoint or introspection_endpoint"))
	}
	srv.tokenURL, srv.introspectionURL = disc.TokenEndpoint, disc.IntrospectionEndpoint
	fmt.Fprintf(logw, "harness: oauth server ready at %s in %v\n", srv.issuer, time.Since(start).Round(time.Millisecond))
	return srv, nil
}

func oauthGetJSON(ctx context.Context, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: HTTP %d", u, resp.StatusCode)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// Issuer is the server's issuer URL, http://127.0.0.1:PORT.
func (s *OAuthServer) Issuer() string { return s.issuer }

// TokenURL is the token endpoint.
func (s *OAuthServer) TokenURL() string { return s.tokenURL }

// Scopes are the scopes the server knows.
func (s *OAuthServer) Scopes() []string { return s.scopes }

// Introspect asks the server (RFC 7662) whether token is active, as a
// resource server would, and returns the granted scope.
func (s *OAuthServer) Introspect(ctx context.Context, token string) (active bool, scope string, err error) {
	form := url.Values{"token": {token}, "client_id": {s.introID}, "client_secret": {s.introSecret}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.introspectionURL, strings.NewReader(form.Encode()))
	if err != nil {
		return false, "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, "", fmt.Errorf("harness: introspect: %w", err)
	}
	defer resp.Body.Close()
	var r struct {
		Active bool   `json:"active"`
		Scope  string `json:"scope"`
		Error  string `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return false, "", fmt.Errorf("harness: introspect: HTTP %d: %w", resp.StatusCode, err)
	}
	if resp.StatusCode != http.StatusOK {
		return false, "", fmt.Errorf("harness: introspect: HTTP %d: %s", resp.StatusCode, r.Error)
	}
	return r.Active, r.Scope, nil
}

// TokensIssued counts the tokens the server issued so far (its grant.success
// log lines).
func (s *OAuthServer) TokensIssued() int { return strings.Count(s.Logs(), "grant.success ") }

// Logs returns what the server wrote, including oidc-provider's error_detail
// for each failed grant (which its HTTP responses omit).
func (s *OAuthServer) Logs() string { return s.logs.String() }

// Close stops the server's process group (SIGTERM, then SIGKILL after 5 s)
// and removes its config. It is safe to call more than once.
func (s *OAuthServer) Close() {
	s.closeOnce.Do(func() {
		defer os.RemoveAll(s.tmp)
		if s.cmd == nil || s.cmd.Process == nil {
			return
		}
		pgid := s.cmd.Process.Pid
		syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(5 * time.Second):
			syscall.Kill(-pgid, syscall.SIGKILL)
			<-s.done
		}
	})
}

// SmartConfigHandler returns a handler serving this server as the
// authorization server of a FHIR base: mount it at
// "{fhirBase}/.well-known/smart-configuration".
func (s *OAuthServer) SmartConfigHandler() http.Handler {
	return SmartConfigHandler(s.tokenURL, s.scopes)
}

// SmartConfigHandler serves a SMART App Launch 2.2 smart-configuration
// document naming tokenURL as the token endpoint, private_key_jwt with
// RS384/ES384, the client_credentials grant and scopes. The oidc-provider
// publishes only /.well-known/openid-configuration, so tests put this next
// to their FHIR base.
func SmartConfigHandler(tokenURL string, scopes []string) http.Handler {
	doc, _ := json.Marshal(map[string]any{
		"token_endpoint":                                   tokenURL,
		"token_endpoint_auth_methods_supported":            []string{"private_key_jwt"},
		"token_endpoint_auth_signing_alg_values_supported": []string{"RS384", "ES384"},
		"grant_types_supported":                            []string{"client_credentials"},
		"scopes_supported":                                 scopes,
		"capabilities":                                     []string{"client-confidential-asymmetric", "permission-v2"},
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.Write(doc)
	})
}

// oauthLogs is a bounded, concurrency-safe buffer of server output.
type oauthLogs struct {
	mu  sync.Mutex
	buf []byte
}

const oauthLogsMax = 1 << 20

func (l *oauthLogs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	if over := len(l.buf) - oauthLogsMax; over > 0 {
		l.buf = l.buf[over:]
	}
	return len(p), nil
}

func (l *oauthLogs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.buf)
}

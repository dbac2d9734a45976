package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"
)

const (
	// EnvFHIRTestURL, when set, names an already running FHIR server base URL
	// (e.g. http://127.0.0.1:8080/fhir) that StartHAPI and RequireHAPI use instead of starting one.
	EnvFHIRTestURL = "HEMOPA_FHIR_TEST_URL"

	// HAPIImage is the image started through testcontainers when a Docker engine is available.
	HAPIImage = "hapiproject/hapi:v8.10.0-3"

	hapiLogTailLines = 30
)

// hapiSettings are passed both to the Docker image (as environment variables; Spring reads dotted
// names as they are) and to the local jar (as --key=value), so both servers behave alike.
// Names follow hapi-fhir-jpaserver-starter.
var hapiSettings = map[string]string{
	"hapi.fhir.fhir_version":                            "R4",
	"hapi.fhir.client_id_strategy":                      "ALPHANUMERIC",
	"hapi.fhir.enforce_referential_integrity_on_write":  "true",
	"hapi.fhir.enforce_referential_integrity_on_delete": "true",
	"hapi.fhir.default_page_size":                       "20",
	"hapi.fhir.max_page_size":                           "1000",
	"hapi.fhir.reuse_cached_search_results_millis":      "60000",
	"hapi.fhir.default_encoding":                        "JSON",
	"server.tomcat.relaxed-query-chars":                 "|,[,],{,}",
	"server.tomcat.relaxed-path-chars":                  "|,[,],{,}",
	"spring.jpa.properties.hibernate.search.enabled":    "false",
}

// HAPIOption configures StartHAPI.
type HAPIOption func(*hapiConfig)

type hapiConfig struct {
	startupTimeout time.Duration
	heap           string
	dataDir        string
	noDocker       bool
	settings       map[string]string
}

// WithHAPIStartupTimeout bounds the wait for GET /fhir/metadata to answer 200 once the server has
// been launched: default 6 minutes, 1 minute for an external server (EnvFHIRTestURL). The Maven
// build before a local start is bounded by the context only.
func WithHAPIStartupTimeout(d time.Duration) HAPIOption {
	return func(c *hapiConfig) { c.startupTimeout = d }
}

// WithHAPIHeap sets the local java process's -Xmx (default "1g").
func WithHAPIHeap(xmx string) HAPIOption { return func(c *hapiConfig) { c.heap = xmx } }

// WithHAPIDataDir keeps the local server's H2 database and log in dir, which Close leaves in place.
// By default a temporary directory is used and Close removes it.
func WithHAPIDataDir(dir string) HAPIOption { return func(c *hapiConfig) { c.dataDir = dir } }

// WithHAPISetting overrides or adds one server setting (a hapi.fhir.* or any Spring property).
func WithHAPISetting(key, value string) HAPIOption {
	return func(c *hapiConfig) { c.settings[key] = value }
}

// WithHAPILocalProcess skips Docker even when an engine is available and runs the local jar.
func WithHAPILocalProcess() HAPIOption { return func(c *hapiConfig) { c.noDocker = true } }

// HAPI is a running HAPI FHIR JPA R4 server: an external one (EnvFHIRTestURL), a Docker container or
// a local java process.
type HAPI struct {
	mu      sync.Mutex
	cfg     hapiConfig
	backend string // "external", "docker" or "process"
	baseURL string
	port    int
	running bool
	closed  bool

	// process backend
	dir, logPath, jar string
	ownDir            bool
	cmd               *exec.Cmd
	exited            chan struct{}

	// docker backend
	ctr testcontainers.Container
}

// StartHAPI returns a running server: the one named by EnvFHIRTestURL if set; else a
// hapiproject/hapi container if a Docker engine is healthy; else the jar built by
// integration/scripts/hapi-build.sh, run as a java process on a free 127.0.0.1 port.
// The context bounds the whole start, including the build.
func StartHAPI(ctx context.Context, opts ...HAPIOption) (*HAPI, error) {
	cfg := hapiConfig{heap: "1g", settings: map[string]string{}}
	for k, v := range hapiSettings {
		cfg.settings[k] = v
	}
	for _, o := range opts {
		o(&cfg)
	}
	h := &HAPI{cfg: cfg}

	if u := strings.TrimSpace(os.Getenv(EnvFHIRTestURL)); u != "" {
		h.backend, h.baseURL, h.running = "external", strings.TrimRight(u, "/"), true
		if h.cfg.startupTimeout == 0 {
			h.cfg.startupTimeout = time.Minute
		}
		if err := h.waitReady(ctx, nil); err != nil {
			return nil, fmt.Errorf("harness: %s=%s: %w", EnvFHIRTestURL, u, err)
		}
		return h, nil
	}
	if h.cfg.startupTimeout == 0 {
		h.cfg.startupTimeout = 6 * time.Minute
	}
	if !cfg.noDocker {
		if err := dockerHealthy(ctx); err == nil {
			h.backend = "docker"
			if err := h.startDocker(ctx); err != nil {
				return nil, err
			}
			return h, nil
		}
	}
	h.backend = "process"
	if err := h.prepareProcess(ctx); err != nil {
		return nil, err
	}
	if err := h.startProcess(ctx); err != nil {
		h.cleanupDir()
		return nil, err
	}
	return h, nil
}

// BaseURL is the FHIR base, e.g. http://127.0.0.1:41234/fhir (no trailing slash).
func (h *HAPI) BaseURL() string { return h.baseURL }

// Backend tells how the server runs: "external", "docker" or "process".
func (h *HAPI) Backend() string { return h.backend }

// Stop stops the server, keeping its data for Restart. No-op for an external server.
func (h *HAPI) Stop(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.stopLocked(ctx)
}

// Restart starts the server again on the same port with the same data (stopping it first if it
// runs). An external server cannot be restarted.
func (h *HAPI) Restart(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return errors.New("harness: HAPI server is closed")
	}
	switch h.backend {
	case "external":
		return fmt.Errorf("harness: cannot restart the external FHIR server %s (%s is set)", h.baseURL, EnvFHIRTestURL)
	case "docker":
		if err := h.stopLocked(ctx); err != nil {
			return err
		}
		if err := h.ctr.Start(ctx); err != nil { // runs the wait strategy again
			return fmt.Errorf("harness: restarting HAPI container: %w\n%s", err, h.LogTail(hapiLogTailLines))
		}
		h.running = true
		return nil
	default:
		if err := h.stopLocked(ctx); err != nil {
			return err
		}
		return h.startProcess(ctx)
	}
}

// Close stops the server and removes its temporary data. Safe to call more than once.
func (h *HAPI) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil
	}
	h.closed = true
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	switch h.backend {
	case "docker":
		return h.ctr.Terminate(ctx)
	case "process":
		err := h.stopLocked(ctx)
		h.cleanupDir()
		return err
	}
	return nil
}

// LogTail returns the last n lines of the server's log ("" for an external server).
func (h *HAPI) LogTail(n int) string {
	var data []byte
	switch h.backend {
	case "process":
		data, _ = os.ReadFile(h.logPath)
	case "docker":
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if rc, err := h.ctr.Logs(ctx); err == nil {
			data, _ = io.ReadAll(rc)
			rc.Close()
		}
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func (h *HAPI) stopLocked(ctx context.Context) error {
	if !h.running {
		return nil
	}
	switch h.backend {
	case "docker":
		timeout := 30 * time.Second
		if err := h.ctr.Stop(ctx, &timeout); err != nil {
			return fmt.Errorf("harness: stopping HAPI container: %w", err)
		}
	case "process":
		h.killProcess(ctx)
	}
	h.running = false
	return nil
}

// ---- Docker ----

// dockerHealthy reports whether testcontainers can reach a Docker engine.
func dockerHealthy(ctx context.Context) (err error) {
	defer func() { // testcontainers may panic when no engine is configured at all
		if r := recover(); r != nil {
			err = fmt.Errorf("docker: %v", r)
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	p, err := testcontainers.ProviderDocker.GetProvider()
	if err != nil {
		return err
	}
	defer p.Close()
	return p.Health(ctx)
}

func (h *HAPI) startDocker(ctx context.Context) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	env := map[string]string{
		// H2 on the container's disk: kept across Stop/Start of the container, gone with Terminate.
		"spring.datasource.url": "jdbc:h2:file:/tmp/hemopa-h2/hapi",
	}
	for k, v := range h.cfg.settings {
		env[k] = v
	}
	exposed := network.MustParsePort("8080/tcp")
	ctr, err := testcontainers.Run(ctx, HAPIImage,
		testcontainers.WithExposedPorts("8080/tcp"),
		testcontainers.WithEnv(env),
		// A fixed host port, so Restart (container stop + start) keeps BaseURL.
		testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
			hc.PortBindings = network.PortMap{exposed: {{
				HostIP:   netip.MustParseAddr("127.0.0.1"),
				HostPort: strconv.Itoa(port),
			}}}
		}),
		// Plain WithWaitStrategy caps the whole wait at 60 s, too short for HAPI.
		testcontainers.WithWaitStrategyAndDeadline(h.cfg.startupTimeout,
			wait.ForHTTP("/fhir/metadata").WithPort("8080/tcp").WithStartupTimeout(h.cfg.startupTimeout)),
	)
	if err != nil {
		msg := ""
		if ctr != nil {
			h.ctr = ctr
			msg = "\n" + h.LogTail(hapiLogTailLines)
			_ = ctr.Terminate(context.Background())
		}
		return fmt.Errorf("harness: starting %s: %w%s", HAPIImage, err, msg)
	}
	h.ctr, h.port, h.running = ctr, port, true
	h.baseURL = fmt.Sprintf("http://127.0.0.1:%d/fhir", port)
	return nil
}

// ---- local java process ----

func (h *HAPI) prepareProcess(ctx context.Context) error {
	root, err := repoRoot()
	if err != nil {
		return err
	}
	if _, err := exec.LookPath("java"); err != nil {
		return fmt.Errorf("harness: no Docker engine and no java on PATH: %w", err)
	}
	build := exec.CommandContext(ctx, "bash", filepath.Join(root, "integration", "scripts", "hapi-build.sh"))
	var out bytes.Buffer
	build.Stdout, build.Stderr = &out, &out
	if err := build.Run(); err != nil {
		return fmt.Errorf("harness: hapi-build.sh: %w\n%s", err, tail(out.String(), 60))
	}
	target := filepath.Join(root, "integration", "hapi", "target")
	h.jar = filepath.Join(target, "extracted", "hemopa-hapi.jar") // starts faster than the fat jar
	if _, err := os.Stat(h.jar); err != nil {
		h.jar = filepath.Join(target, "hemopa-hapi.jar")
	}

	if h.cfg.dataDir != "" {
		h.dir = h.cfg.dataDir
		err = os.MkdirAll(h.dir, 0o755)
	} else {
		h.dir, err = os.MkdirTemp("", "hemopa-hapi-")
		h.ownDir = true
	}
	if err != nil {
		return err
	}
	h.logPath = filepath.Join(h.dir, "hapi.log")
	if h.port, err = freePort(); err != nil {
		return err
	}
	h.baseURL = fmt.Sprintf("http://127.0.0.1:%d/fhir", h.port)
	return nil
}

func (h *HAPI) startProcess(ctx context.Context) error {
	logf, err := os.OpenFile(h.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close() // the child keeps its own descriptor
	fmt.Fprintf(logf, "\n==== hemopa harness: starting HAPI on %s at %s ====\n", h.baseURL, time.Now().Format(time.RFC3339))

	args := []string{
		// C1 only and serial GC: half the CPU to start (~27 s instead of ~55 s), which matters on 2 cores.
		"-Xmx" + h.cfg.heap, "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC",
		"-jar", h.jar,
		"--server.port=" + strconv.Itoa(h.port),
		"--server.address=127.0.0.1",
		"--hemopa.db-dir=" + filepath.Join(h.dir, "db"),
		"--hemopa.parent-pid=" + strconv.Itoa(os.Getpid()),
	}
	keys := make([]string, 0, len(h.cfg.settings))
	for k := range h.cfg.settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		args = append(args, "--"+k+"="+h.cfg.settings[k])
	}
	cmd := exec.Command("java", args...)
	cmd.Dir = h.dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // Stop kills the whole process group
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("harness: starting java: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	h.cmd, h.exited, h.running = cmd, exited, true

	if err := h.waitReady(ctx, exited); err != nil {
		h.killProcess(context.Background())
		h.running = false
		return fmt.Errorf("harness: HAPI at %s: %w\n--- last %d lines of the server log ---\n%s",
			h.baseURL, err, hapiLogTailLines, h.LogTail(hapiLogTailLines))
	}
	return nil
}

// killProcess sends SIGTERM to the java process group, then SIGKILL if it is still there after 30 s
// (or when ctx ends).
func (h *HAPI) killProcess(ctx context.Context) {
	if h.cmd == nil || h.cmd.Process == nil {
		return
	}
	pgid := h.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	grace := time.NewTimer(30 * time.Second)
	defer grace.Stop()
	select {
	case <-h.exited:
	case <-grace.C:
	case <-ctx.Done():
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL) // also reaps stragglers of the group
	<-h.exited
	h.cmd = nil
}

func (h *HAPI) cleanupDir() {
	if h.ownDir && h.dir != "" {
		_ = os.RemoveAll(h.dir)
	}
}

// waitReady polls GET {base}/metadata until it answers 200, the process exits, ctx ends or the
// startup timeout passes.
func (h *HAPI) waitReady(ctx context.Context, exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(ctx, h.cfg.startupTimeout)
	defer cancel()
	client := &http.Client{Timeout: 10 * time.Second}
	start := time.Now()
	last := "no answer yet"
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, h.baseURL+"/metadata", nil)
		req.Header.Set("Accept", "application/fhir+json")
		resp, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		select {
		case <-exited:
			return fmt.Errorf("server process exited before answering GET /metadata")
		case <-ctx.Done():
			return fmt.Errorf("GET /metadata not 200 after %s (last: %s): %w",
				time.Since(start).Round(time.Second), last, ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// ---- shared server for tests ----

var sharedHAPI struct {
	mu      sync.Mutex
	started bool
	h       *HAPI
	err     error
}

// RequireHAPI returns the HAPI server shared by all tests of this test binary, starting it on first
// use (this can take minutes: Maven build on a fresh machine, then ~1 min of server startup).
// When no server can be had the test fails if env CI is set, and is skipped otherwise.
//
// Tests must not Stop, Restart or Close the shared server; use StartHAPI for a private one.
// It is stopped by Shutdown (call it from TestMain); if the test binary ends without it, the local
// java process notices its parent is gone and exits within seconds.
func RequireHAPI(tb testing.TB) *HAPI {
	tb.Helper()
	sharedHAPI.mu.Lock()
	defer sharedHAPI.mu.Unlock()
	if !sharedHAPI.started {
		sharedHAPI.started = true
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
		sharedHAPI.h, sharedHAPI.err = StartHAPI(ctx)
		cancel()
		if h := sharedHAPI.h; h != nil {
			onShutdown(h.Close)
		}
	}
	if err := sharedHAPI.err; err != nil {
		if InCI() {
			tb.Fatalf("HAPI FHIR server unavailable (CI is set, so this fails): %v", err)
		}
		tb.Skipf("HAPI FHIR server unavailable: %v", err)
	}
	return sharedHAPI.h
}

// Package harness starts the real servers that hemopa's integration tests talk to.
package harness

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
)

// freePort returns a TCP port that was free on 127.0.0.1 a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// InCI reports whether the tests run in CI (CI set, and not "false" or "0", the same rule as
// cmd/hemopa/internal/testenv): a missing server is then a failure, never a skip.
func InCI() bool {
	v := os.Getenv("CI")
	return v != "" && v != "false" && v != "0"
}

// repoRoot returns the root of the hemopa module (the directory holding its go.mod), found from this
// source file's location or, when built with -trimpath, from the working directory.
func repoRoot() (string, error) {
	var starts []string
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		starts = append(starts, filepath.Dir(file))
	}
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	for _, dir := range starts {
		for d := dir; ; d = filepath.Dir(d) {
			if b, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil && isHemopaModule(b) {
				return d, nil
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	return "", errors.New("harness: cannot find the hemopa repository root (go.mod with module hemopa)")
}

func isHemopaModule(gomod []byte) bool {
	for _, line := range strings.Split(string(gomod), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "module" {
			return f[1] == "hemopa"
		}
	}
	return false
}

var shutdownHooks struct {
	mu    sync.Mutex
	hooks []func() error
}

// onShutdown registers fn to run from Shutdown (last registered runs first). For resources shared by
// all tests of a binary, such as RequireHAPI's server.
func onShutdown(fn func() error) {
	shutdownHooks.mu.Lock()
	defer shutdownHooks.mu.Unlock()
	shutdownHooks.hooks = append(shutdownHooks.hooks, fn)
}

// Shutdown stops every shared resource this package started (e.g. the server behind RequireHAPI).
// Call it from TestMain after m.Run:
//
//	func TestMain(m *testing.M) {
//		code := m.Run()
//		harness.Shutdown()
//		os.Exit(code)
//	}
//
// Without it the local HAPI server still exits on its own once the test binary is gone (it watches
// its parent process), but its temporary directory is left behind.
func Shutdown() {
	shutdownHooks.mu.Lock()
	hooks := shutdownHooks.hooks
	shutdownHooks.hooks = nil
	shutdownHooks.mu.Unlock()
	for i := len(hooks) - 1; i >= 0; i-- {
		if err := hooks[i](); err != nil {
			fmt.Fprintf(os.Stderr, "harness: shutdown: %v\n", err)
		}
	}
}

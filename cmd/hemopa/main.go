// Command hemopa decides prior authorization for hemophilia gene therapies
// (Hemgenix, Beqvez, Roctavian) from an EHR's FHIR R4 data.
//
// Each subcommand lives in its own file as a func(ctx, args, *Env) error.
// Usage and input errors are returned as *exitError and printed as one line
// on stderr with exit code 2; nothing else is printed for them.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"sort"
	"strings"
	"syscall"
)

// Env is what a subcommand may touch of the outside world.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
}

type command struct {
	run     func(ctx context.Context, args []string, env *Env) error
	summary string
}

// commands is filled by each subcommand file's init.
var commands = map[string]command{}

func register(name, summary string, run func(ctx context.Context, args []string, env *Env) error) {
	commands[name] = command{run: run, summary: summary}
}

// exitError carries an exit code and a one-line message.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// usagef reports bad input or usage: exit code 2.
func usagef(format string, args ...any) error {
	return &exitError{code: 2, msg: fmt.Sprintf(format, args...)}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	env := &Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}
	code := run(ctx, os.Args[1:], env)
	stop()
	os.Exit(code)
}

// run executes one invocation and returns the process exit code. A panic in
// a command (a bug) is one line on stderr and exit 1, not a stack trace
// (HEMOPA_DEBUG=1 keeps the trace); runtime errors carry no record content.
func run(ctx context.Context, args []string, env *Env) (code int) {
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		if env.Getenv != nil && env.Getenv("HEMOPA_DEBUG") == "1" {
			panic(r)
		}
		what := "unexpected state"
		if re, ok := r.(runtime.Error); ok {
			what = re.Error()
		}
		fmt.Fprintf(env.Stderr, "hemopa %s: internal error (%s) — a bug, please report it\n", args[0], oneLine(what))
		code = 1
	}()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		printUsage(env.Stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(env.Stderr, "hemopa: unknown command %q (see 'hemopa help')\n", args[0])
		return 2
	}
	err := cmd.run(ctx, args[1:], env)
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.msg != "" {
			fmt.Fprintf(env.Stderr, "hemopa %s: %s\n", args[0], oneLine(ee.msg))
		}
		return ee.code
	}
	fmt.Fprintf(env.Stderr, "hemopa %s: %s\n", args[0], oneLine(err.Error()))
	return 1
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: hemopa <command> [flags]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-14s %s\n", n, commands[n].summary)
	}
}

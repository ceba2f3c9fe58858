// Command httpbench measures Gantry's HTTP enqueue path against a bare
// net/http server: `make bench-http` runs it with the settings of
// docs/benchmarks.md.
//
//	go run ./bench/httpbench --connections 64 --duration 10s --warmup 2s --rate 10000
//
// It starts Gantry in this process with internal/server, as `gantry
// serve` builds it, so the shipped binary carries neither the load
// generator (bench/load) nor the profiling it offers. Run it with --help
// for its flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/gantry-dev/gantry/internal/config"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// env is what the command runs with, explicit so that tests can run it
// in-process.
type env struct {
	getenv func(string) string
	stdout io.Writer
	stderr io.Writer
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], &env{getenv: os.Getenv, stdout: os.Stdout, stderr: os.Stderr})
	stop()
	os.Exit(code)
}

// run runs the benchmark with the command line args and returns the
// process's exit code.
func run(ctx context.Context, args []string, e *env) int {
	err := runBenchHTTP(ctx, e, args)
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return exitOK
	}
	fmt.Fprintf(e.stderr, "error: %v\n", err)
	var ue *config.UsageError
	if errors.As(err, &ue) {
		fmt.Fprintln(e.stderr, "Run 'httpbench --help' for usage.")
		return exitUsage
	}
	return exitFailure
}

// newFlagSet returns the flag set of the command, whose --help prints its
// description and flags to e.stdout.
func newFlagSet(e *env) *flag.FlagSet {
	fs := flag.NewFlagSet("httpbench", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		fmt.Fprint(e.stdout, "Usage:\n  httpbench [FLAGS]\n\n")
		fmt.Fprintln(e.stdout, strings.TrimSpace(benchHTTPHelp))
		fmt.Fprintln(e.stdout, "\nFlags:")
		config.PrintFlags(e.stdout, fs)
	}
	return fs
}

// parse parses args, which name no positional argument, and prints the
// usage for --help.
func parse(fs *flag.FlagSet, args []string) error {
	pos, err := config.ParseArgs(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		fs.Usage()
		return err
	}
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErrorf("unexpected argument %q", pos[0])
	}
	return nil
}

// usageErrorf returns an error that exits with status 2.
func usageErrorf(format string, args ...any) error {
	return &config.UsageError{Err: fmt.Errorf(format, args...)}
}

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/gantry-dev/gantry/internal/config"
)

// Exit codes that scripts can rely on.
const (
	exitOK       = 0
	exitFailure  = 1
	exitUsage    = 2
	exitNotFound = 3
	exitConflict = 4
	exitRejected = 5
	exitJobEnded = 6
)

const exitCodesHelp = `Exit codes:
  0  success
  1  error (the server could not be reached, invalid input it refused, ...)
  2  usage error (unknown command or flag, bad value, bad config file)
  3  not found (404)
  4  conflict: the job's state does not allow it (409)
  5  rejected for now, retry later: queue full (429) or server draining (503)
  6  the job ended failed or cancelled (jobs wait, enqueue --wait)
`

// env is what a command runs with, explicit so that tests can run commands
// in-process.
type env struct {
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// command is one (sub)command.
type command struct {
	name    string // "serve", "jobs ls"
	args    string // positional arguments, for the usage line
	summary string
	run     func(ctx context.Context, e *env, args []string) error
}

func commands() []*command {
	return []*command{
		{name: "serve", summary: "run the job server", run: runServe},
		{name: "enqueue", args: "KIND", summary: "enqueue a job", run: runEnqueue},
		{name: "jobs ls", summary: "list jobs, newest first", run: runJobsList},
		{name: "jobs get", args: "ID", summary: "show a job", run: runJobsGet},
		{name: "jobs wait", args: "ID", summary: "wait until a job is final", run: runJobsWait},
		{name: "jobs cancel", args: "ID", summary: "cancel a job", run: runJobsCancel},
		{name: "jobs retry", args: "ID", summary: "retry a failed or cancelled job", run: runJobsRetry},
		{name: "queues ls", summary: "list queues with their counts per state", run: runQueuesList},
		{name: "queues pause", args: "NAME", summary: "stop claiming jobs of a queue", run: runQueuesPause},
		{name: "queues resume", args: "NAME", summary: "claim jobs of a paused queue again", run: runQueuesResume},
		{name: "migrate status", summary: "show the PostgreSQL schema version", run: runMigrateStatus},
		{name: "migrate up", summary: "apply pending PostgreSQL migrations", run: runMigrateUp},
		{name: "migrate down", summary: "revert PostgreSQL migrations", run: runMigrateDown},
		{name: "health", summary: "probe a running server's /healthz (or /readyz): exit 0 when it answers 200", run: runHealth},
		{name: "version", summary: "print the version", run: runVersion},
	}
}

// run runs the command named by args and returns the process's exit code.
func run(ctx context.Context, args []string, e *env) int {
	if len(args) == 0 {
		printUsage(e.stderr)
		return exitUsage
	}
	switch args[0] {
	case "-h", "-help", "--help":
		printUsage(e.stdout)
		return exitOK
	case "help":
		return help(e, args[1:])
	case "-v", "-version", "--version":
		args = []string{"version"}
	}
	cmd, rest := lookup(args)
	if cmd == nil {
		if group := groupOf(args[0]); group != nil {
			if len(args) == 2 && (args[1] == "-h" || args[1] == "-help" || args[1] == "--help") {
				printGroup(e.stdout, args[0], group)
				return exitOK
			}
			if len(args) > 1 && !strings.HasPrefix(args[1], "-") {
				fmt.Fprintf(e.stderr, "error: unknown command \"%s %s\"\n\n", args[0], args[1])
			} else {
				fmt.Fprintf(e.stderr, "error: %s needs a subcommand\n\n", args[0])
			}
			printGroup(e.stderr, args[0], group)
			return exitUsage
		}
		fmt.Fprintf(e.stderr, "error: unknown command %q\nRun 'gantry --help' for the commands.\n", strings.Join(args[:min(len(args), 2)], " "))
		return exitUsage
	}
	err := cmd.run(ctx, e, rest)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err == nil {
		return exitOK
	}
	code := exitCode(err)
	var silent *silentError
	if !errors.As(err, &silent) {
		fmt.Fprintf(e.stderr, "error: %v\n", err)
	}
	if code == exitUsage {
		fmt.Fprintf(e.stderr, "Run 'gantry %s --help' for usage.\n", cmd.name)
	}
	return code
}

// lookup finds the command named by the first one or two words of args.
func lookup(args []string) (*command, []string) {
	cmds := commands()
	if len(args) >= 2 {
		for _, c := range cmds {
			if c.name == args[0]+" "+args[1] {
				return c, args[2:]
			}
		}
	}
	for _, c := range cmds {
		if c.name == args[0] {
			return c, args[1:]
		}
	}
	return nil, nil
}

// groupOf returns the subcommands of a group such as "jobs".
func groupOf(name string) []*command {
	var out []*command
	for _, c := range commands() {
		if strings.HasPrefix(c.name, name+" ") {
			out = append(out, c)
		}
	}
	return out
}

func help(e *env, args []string) int {
	if len(args) == 0 {
		printUsage(e.stdout)
		return exitOK
	}
	if cmd, _ := lookup(args); cmd != nil {
		return run(context.Background(), append(strings.Fields(cmd.name), "--help"), e)
	}
	if group := groupOf(args[0]); group != nil {
		printGroup(e.stdout, args[0], group)
		return exitOK
	}
	fmt.Fprintf(e.stderr, "error: unknown command %q\n", strings.Join(args, " "))
	return exitUsage
}

func printUsage(w io.Writer) {
	fmt.Fprint(w, `Gantry is a job server for slow, expensive requests: a request becomes a
durable job at once, and a bounded pool of workers runs it.

Usage:
  gantry COMMAND [ARGS] [FLAGS]

Commands:
`)
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	for _, c := range commands() {
		fmt.Fprintf(tw, "  %s %s\t%s\n", c.name, c.args, c.summary)
	}
	tw.Flush()
	fmt.Fprint(w, `
The commands other than serve, migrate and version talk to a running server:
  --server URL    the server (env GANTRY_URL; default http://127.0.0.1:8080)
  --token TOKEN   a bearer token (env GANTRY_TOKEN)
  --json          print the server's JSON instead of a table

Start here:
  gantry serve &
  gantry enqueue gantry.sleep --args '{"ms":2000}' --wait

`+exitCodesHelp+`
Run 'gantry COMMAND --help' for the flags of a command.
`)
}

func printGroup(w io.Writer, name string, group []*command) {
	fmt.Fprintf(w, "Usage:\n  gantry %s SUBCOMMAND\n\nSubcommands:\n", name)
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	for _, c := range group {
		fmt.Fprintf(tw, "  %s %s\t%s\n", c.name, c.args, c.summary)
	}
	tw.Flush()
}

// newFlagSet returns a flag set for cmd whose --help prints the command's
// usage, description and flags to e.stdout.
func newFlagSet(e *env, name, args, description string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		w := e.stdout
		fmt.Fprintf(w, "Usage:\n  gantry %s", name)
		if args != "" {
			fmt.Fprintf(w, " %s", args)
		}
		fmt.Fprint(w, " [FLAGS]\n\n")
		fmt.Fprintln(w, strings.TrimSpace(description))
		fmt.Fprintln(w, "\nFlags:")
		config.PrintFlags(w, fs)
	}
	return fs
}

// parse parses the flags of a command with its positional arguments
// anywhere, prints the usage for --help, and checks the number of
// positional arguments.
func parse(fs *flag.FlagSet, args []string, wantArgs int) ([]string, error) {
	pos, err := config.ParseArgs(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		fs.Usage()
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	if len(pos) != wantArgs {
		if wantArgs == 0 {
			return nil, usageErrorf("unexpected argument %q", pos[0])
		}
		if len(pos) < wantArgs {
			return nil, usageErrorf("missing argument")
		}
		return nil, usageErrorf("too many arguments: %q", pos[wantArgs:])
	}
	return pos, nil
}

// usageErrorf returns an error that exits with status 2.
func usageErrorf(format string, args ...any) error {
	return &config.UsageError{Err: fmt.Errorf(format, args...)}
}

// exitError carries an exit code.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// silentError exits with its code without printing anything more: the
// command already said what happened.
type silentError struct{ code int }

func (e *silentError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// exitCode maps an error to the process's exit code.
func exitCode(err error) int {
	var ue *config.UsageError
	var pe *problemError
	var ee *exitError
	var se *silentError
	switch {
	case errors.As(err, &se):
		return se.code
	case errors.As(err, &ee):
		return ee.code
	case errors.As(err, &ue):
		return exitUsage
	case errors.As(err, &pe):
		return pe.exitCode()
	}
	return exitFailure
}

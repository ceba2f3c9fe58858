package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/server"
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
	// exitCannotStart: gantry serve did not start (the data dir is in use
	// by another process, the address is taken, the store cannot be
	// opened or reached), as opposed to a mistake in its settings.
	exitCannotStart = 7
)

const exitCodesHelp = `Exit codes:
  0  success
  1  error (the server could not be reached, invalid input it refused, ...)
  2  usage error (unknown command or flag, bad value, bad config file)
  3  not found (404)
  4  conflict: the job's state does not allow it (409)
  5  rejected for now, retry later: queue full (429) or server draining (503)
  6  the job ended failed or cancelled (jobs wait, enqueue --wait)
  7  serve cannot start: the data dir is in use by another process, the
     address is taken, the store cannot be opened or reached
`

// env is what a command runs with, explicit so that tests can run commands
// in-process.
type env struct {
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	// progress, when set, receives the progress line that jobs wait and
	// enqueue --wait redraw while they wait: stderr, when it and stdout
	// are a terminal.
	progress io.Writer
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
		{name: "workflows submit", args: "FILE", summary: "submit a workflow (a tree or DAG of jobs) from a JSON file", run: runWorkflowsSubmit},
		{name: "workflows get", args: "ID", summary: "show a workflow and draw its graph with each job's state", run: runWorkflowsGet},
		{name: "workflows wait", args: "ID", summary: "wait until a workflow is final", run: runWorkflowsWait},
		{name: "workflows cancel", args: "ID", summary: "cancel every unfinished job of a workflow", run: runWorkflowsCancel},
		{name: "workflows ls", summary: "list workflows, newest first", run: runWorkflowsList},
		{name: "queues ls", summary: "list queues with their counts per state", run: runQueuesList},
		{name: "queues pause", args: "NAME", summary: "stop claiming jobs of a queue", run: runQueuesPause},
		{name: "queues resume", args: "NAME", summary: "claim jobs of a paused queue again", run: runQueuesResume},
		{name: "queues limits", args: "NAME", summary: "show or set a queue's limits (rate, per key), for every node", run: runQueuesLimits},
		{name: "migrate status", summary: "show the PostgreSQL schema version", run: runMigrateStatus},
		{name: "migrate up", summary: "apply pending PostgreSQL migrations", run: runMigrateUp},
		{name: "migrate down", summary: "revert PostgreSQL migrations", run: runMigrateDown},
		{name: "work", args: "KIND -- COMMAND", summary: "lease jobs of kinds from a server and run a command for each", run: runWork},
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
	args, err := globalsAfterCommand(args)
	if err != nil {
		fmt.Fprintf(e.stderr, "error: %v\nRun 'gantry --help' for the commands.\n", err)
		return exitUsage
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
	err = cmd.run(ctx, e, rest)
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

// globalFlags are the flags of every command that talks to a server
// (clientFlags), which may also come before the command's name. Each
// tells whether it takes a value.
var globalFlags = map[string]bool{"server": true, "token": true, "json": false}

// globalsAfterCommand moves the global flags that come before the
// command's name (gantry --server URL jobs ls) to just after it (gantry
// jobs ls --server URL), where the command parses them; flags given after
// the name still win, being parsed later.
func globalsAfterCommand(args []string) ([]string, error) {
	var globals []string
	for len(args) > 0 && strings.HasPrefix(args[0], "-") && args[0] != "--" {
		name, _, hasValue := strings.Cut(strings.TrimPrefix(args[0][1:], "-"), "=")
		takesValue, ok := globalFlags[name]
		if !ok {
			break
		}
		n := 1
		if takesValue && !hasValue {
			if len(args) < 2 {
				return nil, fmt.Errorf("flag --%s needs an argument", name)
			}
			n = 2
		}
		globals, args = append(globals, args[:n]...), args[n:]
	}
	if len(globals) == 0 {
		return args, nil
	}
	if len(args) == 0 {
		return nil, errors.New("missing command after " + strings.Join(globals, " "))
	}
	words := 1
	if cmd, _ := lookup(args); cmd != nil {
		words = len(strings.Fields(cmd.name))
	} else if len(args) > 1 && groupOf(args[0]) != nil && !strings.HasPrefix(args[1], "-") {
		words = 2
	}
	out := append(slices.Clip(args[:words]), globals...)
	return append(out, args[words:]...), nil
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
The commands other than serve, migrate and version talk to a running server,
with these flags before or after the command (gantry --json jobs ls):
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
// anywhere, prints the usage once for --help, and checks the number of
// positional arguments. A flag it does not know, or one that does not
// parse, is a usage error named as the help names it (--name), without
// the usage: the caller prints a hint to --help.
func parse(fs *flag.FlagSet, args []string, wantArgs int) ([]string, error) {
	if err := checkFlags(fs, args); err != nil {
		return nil, err
	}
	// The flag package calls Usage itself on --help and on any error:
	// silence it, and print the usage here, once.
	usage := fs.Usage
	fs.Usage = func() {}
	pos, err := config.ParseArgs(fs, args)
	fs.Usage = usage
	if errors.Is(err, flag.ErrHelp) {
		usage()
		return nil, err
	}
	if err != nil {
		return nil, gnuFlagError(err)
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

// checkFlags refuses the first flag in args that fs does not define, as
// "unknown flag --name". The flag package would name it "-name" and could
// only be stopped from printing the usage by silencing it altogether.
func checkFlags(fs *flag.FlagSet, args []string) error {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return nil
		}
		if len(a) < 2 || a[0] != '-' {
			continue
		}
		name, _, hasValue := strings.Cut(strings.TrimPrefix(a[1:], "-"), "=")
		if name == "" || name[0] == '-' || name[0] == '=' {
			continue // bad syntax: the flag package says so
		}
		f := fs.Lookup(name)
		if f == nil {
			if name == "h" || name == "help" {
				continue
			}
			if _, global := globalFlags[name]; global {
				return usageErrorf("unknown flag --%s: gantry %s does not talk to a server", name, fs.Name())
			}
			return usageErrorf("unknown flag --%s", name)
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); !hasValue && (!ok || !b.IsBoolFlag()) {
			i++ // its value, whatever it looks like
		}
	}
	return nil
}

// gnuFlagError names the flag in an error of the flag package as the help
// does, with two dashes: "invalid value "x" for flag --limit".
func gnuFlagError(err error) error {
	var ue *config.UsageError
	if !errors.As(err, &ue) {
		return err
	}
	msg := ue.Error()
	for _, phrase := range []string{"for flag -", "for -", "argument: -"} {
		if i := strings.Index(msg, phrase) + len(phrase); i >= len(phrase) && !strings.HasPrefix(msg[i:], "-") {
			msg = msg[:i] + "-" + msg[i:]
			break
		}
	}
	return &config.UsageError{Err: errors.New(msg)}
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
	case errors.Is(err, server.ErrCannotStart):
		return exitCannotStart
	case errors.As(err, &pe):
		return pe.exitCode()
	}
	return exitFailure
}

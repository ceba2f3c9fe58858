package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/gantry-dev/gantry/httpapi"
	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/server"
)

// binary is the gantry binary built once by TestMain for the process
// tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gantry-cmd-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "gantry")
	gobin, err := exec.LookPath("go")
	if err != nil {
		gobin = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	}
	build := exec.Command(gobin, "build", "-o", binary, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building gantry:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	goleak.VerifyTestMain(m, goleak.Cleanup(func(int) { os.RemoveAll(dir) }))
}

// runInProcess runs the command line args in this process, with the
// given environment, and returns its output and exit code.
func runInProcess(t *testing.T, environ map[string]string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	e := &env{
		getenv: func(k string) string { return environ[k] },
		stdin:  strings.NewReader(""),
		stdout: &out,
		stderr: &errOut,
	}
	code = run(context.Background(), args, e)
	return out.String(), errOut.String(), code
}

func TestUsage(t *testing.T) {
	t.Parallel()
	cases := []struct {
		args   []string
		code   int
		stdout string // in stdout
		stderr string // in stderr
	}{
		{nil, exitUsage, "", "Usage:"},
		{[]string{"--help"}, exitOK, "Exit codes:", ""},
		{[]string{"help"}, exitOK, "6  the job ended failed or cancelled", ""},
		{[]string{"help", "jobs"}, exitOK, "jobs wait ID", ""},
		{[]string{"help", "jobs", "wait"}, exitOK, "--timeout DURATION", ""},
		{[]string{"jobs", "wait", "--help"}, exitOK, "Exits 0 when it succeeded, 6", ""},
		{[]string{"enqueue", "-h"}, exitOK, "gantry.sleep", ""},
		{[]string{"serve", "--help"}, exitOK, "--allow-unauthenticated", ""},
		{[]string{"version"}, exitOK, "gantry ", ""},
		{[]string{"--version"}, exitOK, "gantry ", ""},
		{[]string{"nope"}, exitUsage, "", `unknown command "nope"`},
		{[]string{"jobs"}, exitUsage, "", "jobs needs a subcommand"},
		{[]string{"queues", "--help"}, exitOK, "queues pause NAME", ""},
		{[]string{"jobs", "frobnicate"}, exitUsage, "", `unknown command "jobs frobnicate"`},
		{[]string{"jobs", "get"}, exitUsage, "", "missing argument"},
		{[]string{"jobs", "get", "a", "b"}, exitUsage, "", "too many arguments"},
		{[]string{"jobs", "ls", "extra"}, exitUsage, "", `unexpected argument "extra"`},
		{[]string{"jobs", "ls", "--bogus"}, exitUsage, "", "unknown flag --bogus"},
		{[]string{"jobs", "ls", "--limit", "many"}, exitUsage, "", `invalid value "many" for flag --limit`},
		{[]string{"jobs", "ls", "--limit"}, exitUsage, "", "flag needs an argument: --limit"},
		{[]string{"jobs", "ls", "--json=maybe"}, exitUsage, "", `invalid boolean value "maybe" for --json`},
		{[]string{"version", "--json"}, exitUsage, "", "unknown flag --json: gantry version does not talk to a server"},
		{[]string{"--server"}, exitUsage, "", "flag --server needs an argument"},
		{[]string{"--json"}, exitUsage, "", "missing command after --json"},
		{[]string{"enqueue", "k", "--args", "[1]"}, exitUsage, "", "--args must be a JSON object"},
		{[]string{"enqueue", "k", "--server", "ftp://x"}, exitUsage, "", "--server"},
		{[]string{"jobs", "wait", "id", "--timeout", "-1s"}, exitUsage, "", "must not be negative"},
		{[]string{"serve", "--workers", "0"}, exitUsage, "", "--workers 0 must be between"},
		{[]string{"serve", "--addr", "0.0.0.0:0"}, exitUsage, "", "refusing to listen on 0.0.0.0:0 without authentication"},
		{[]string{"migrate", "status", "--store", "embedded"}, exitUsage, "", "must be a postgres:// URL"},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			t.Parallel()
			stdout, stderr, code := runInProcess(t, nil, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, stdout, stderr)
			}
			if !strings.Contains(stdout, tc.stdout) {
				t.Errorf("stdout lacks %q:\n%s", tc.stdout, stdout)
			}
			if !strings.Contains(stderr, tc.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tc.stderr, stderr)
			}
		})
	}
}

// Every command's --help prints its usage once, on stdout.
func TestHelpOnce(t *testing.T) {
	t.Parallel()
	for _, c := range commands() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			stdout, stderr, code := runInProcess(t, nil, append(strings.Fields(c.name), "--help")...)
			if code != exitOK || stderr != "" {
				t.Errorf("exit %d, stderr %q", code, stderr)
			}
			if n := strings.Count(stdout, "Usage:"); n != 1 {
				t.Errorf("the usage is printed %d times:\n%s", n, stdout)
			}
			if n := strings.Count(stdout, "\nFlags:\n"); n != 1 {
				t.Errorf("the flags are listed %d times:\n%s", n, stdout)
			}
		})
	}
}

// An unknown flag is a usage error on stderr that names it as the help
// does, with a hint to --help, and nothing on stdout.
func TestUnknownFlag(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"jobs", "ls", "--bogus"},
		{"jobs", "get", "id", "-bogus"},
		{"enqueue", "k", "--bogus=1", "--args", "{}"},
		{"queues", "pause", "q", "--bogus"},
		{"serve", "--bogus"},
		{"migrate", "up", "--bogus"},
		{"version", "--bogus"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			t.Parallel()
			stdout, stderr, code := runInProcess(t, nil, args...)
			name := args[0]
			if args[0] == "jobs" || args[0] == "queues" || args[0] == "migrate" {
				name += " " + args[1]
			}
			want := "error: unknown flag --bogus\nRun 'gantry " + name + " --help' for usage.\n"
			if code != exitUsage || stdout != "" || stderr != want {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d, no stdout, stderr %q", code, stdout, stderr, exitUsage, want)
			}
		})
	}
	// The value of a flag is not a flag, whatever it looks like.
	if _, stderr, code := runInProcess(t, nil, "jobs", "ls", "--kind", "--bogus", "--server", "ftp://x"); code != exitUsage || !strings.Contains(stderr, "--server") {
		t.Errorf("a value that looks like a flag: exit %d, %s", code, stderr)
	}
}

// --server, --token and --json may come before the command's name or
// after it; after it wins.
func TestGlobalFlags(t *testing.T) {
	t.Parallel()
	type seen struct{ path, auth string }
	got := make(chan seen, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- seen{r.URL.Path, r.Header.Get("Authorization")}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"jobs":[]}`)
	}))
	defer srv.Close()
	environ := map[string]string{"GANTRY_URL": "http://127.0.0.1:1"}
	for _, args := range [][]string{
		{"--server", srv.URL, "--token", "t0k", "--json", "jobs", "ls"},
		{"--server=" + srv.URL, "-token", "t0k", "jobs", "ls", "--json"},
		{"--json", "jobs", "ls", "--token=t0k", "--server", srv.URL},
		{"--server", "http://127.0.0.1:1", "--token", "old", "jobs", "ls", "--json", "--server", srv.URL, "--token", "t0k"},
	} {
		stdout, stderr, code := runInProcess(t, environ, args...)
		if code != exitOK || stdout != `{"jobs":[]}` {
			t.Errorf("gantry %s: exit %d, stdout %q, stderr %q", strings.Join(args, " "), code, stdout, stderr)
			continue
		}
		if s := <-got; s.path != "/v1/jobs" || s.auth != "Bearer t0k" {
			t.Errorf("gantry %s: sent %+v", strings.Join(args, " "), s)
		}
	}
}

// Problems from the server map to the documented exit codes and are
// printed as "error: <detail> (<code>)".
func TestProblemExitCodes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		status int
		code   string
		exit   int
	}{
		{http.StatusNotFound, "not_found", exitNotFound},
		{http.StatusConflict, "conflict", exitConflict},
		{http.StatusTooManyRequests, "queue_full", exitRejected},
		{http.StatusServiceUnavailable, "draining", exitRejected},
		{http.StatusUnauthorized, "unauthorized", exitFailure},
		{http.StatusUnprocessableEntity, "invalid_field", exitFailure},
		{http.StatusInternalServerError, "internal", exitFailure},
	}
	for _, tc := range cases {
		t.Run(tc.code, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/problem+json")
				w.WriteHeader(tc.status)
				fmt.Fprintf(w, `{"type":"https://gantry.dev/problems/%s","title":"t","status":%d,"detail":"it went wrong","code":%q}`, tc.code, tc.status, tc.code)
			}))
			defer srv.Close()
			_, stderr, code := runInProcess(t, map[string]string{"GANTRY_URL": srv.URL}, "jobs", "get", "some-id")
			if code != tc.exit {
				t.Errorf("exit %d, want %d", code, tc.exit)
			}
			if want := fmt.Sprintf("error: it went wrong (%s)\n", tc.code); !strings.HasPrefix(stderr, want) {
				t.Errorf("stderr %q, want %q", stderr, want)
			}
		})
	}
}

func TestNonProblemError(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "<html>bad gateway</html>", http.StatusBadGateway)
	}))
	defer srv.Close()
	_, stderr, code := runInProcess(t, nil, "queues", "ls", "--server", srv.URL)
	if code != exitFailure || !strings.Contains(stderr, "Bad Gateway (HTTP 502)") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

func TestUnreachable(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there any more
	_, stderr, code := runInProcess(t, map[string]string{"GANTRY_URL": url}, "jobs", "ls")
	if code != exitFailure || !strings.Contains(stderr, "cannot reach the Gantry server at "+url) {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

// The CLI sends what it was told: the token, the job, and --server wins
// over GANTRY_URL.
func TestEnqueueRequest(t *testing.T) {
	t.Parallel()
	type seen struct {
		auth, contentType, body, query string
	}
	got := make(chan seen, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b bytes.Buffer
		_, _ = b.ReadFrom(r.Body)
		got <- seen{r.Header.Get("Authorization"), r.Header.Get("Content-Type"), b.String(), r.URL.RawQuery}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprint(w, `{"id":"job-1","kind":"k","queue":"q","state":"scheduled"}`)
	}))
	defer srv.Close()
	environ := map[string]string{"GANTRY_URL": "http://127.0.0.1:1", "GANTRY_TOKEN": "s3cret"}
	stdout, stderr, code := runInProcess(t, environ, "enqueue", "k", "--server", srv.URL,
		"--args", `{"n":1}`, "--queue", "q", "--priority", "2", "--delay", "1m", "--unique-key", "u")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if stdout != "job-1\n" {
		t.Errorf("stdout %q", stdout)
	}
	s := <-got
	if s.auth != "Bearer s3cret" || s.contentType != "application/json" {
		t.Errorf("headers %+v", s)
	}
	want := `{"args":{"n":1},"delay":"1m0s","kind":"k","priority":2,"queue":"q","unique_key":"u"}`
	if s.body != want {
		t.Errorf("body %s\nwant %s", s.body, want)
	}

	// A file is streamed as the body, with its type and the job in the query.
	p := filepath.Join(t.TempDir(), "cat.png")
	if err := os.WriteFile(p, []byte("\x89PNG\r\n\x1a\nfake"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := runInProcess(t, environ, "enqueue", "thumb", "--server", srv.URL, "--file", p, "--args", `{"w":1}`); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	s = <-got
	if s.contentType != "image/png" || s.body != "\x89PNG\r\n\x1a\nfake" || s.query != "args=%7B%22w%22%3A1%7D&kind=thumb" {
		t.Errorf("upload %+v", s)
	}
}

func TestEnqueueFileRefusesJSON(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "payload.json")
	if err := os.WriteFile(p, []byte(`{"a":1}`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := runInProcess(t, map[string]string{"GANTRY_URL": "http://127.0.0.1:1"}, "enqueue", "k", "--file", p)
	if code != exitUsage || !strings.Contains(stderr, "pass JSON with --args") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
	_, stderr, code = runInProcess(t, nil, "enqueue", "k", "--file", filepath.Join(t.TempDir(), "missing"))
	if code != exitUsage || !strings.Contains(stderr, "no such file") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

func TestExitCode(t *testing.T) {
	t.Parallel()
	cases := []struct {
		err  error
		want int
	}{
		{fmt.Errorf("boom"), exitFailure},
		{&config.UsageError{Err: fmt.Errorf("bad")}, exitUsage},
		{fmt.Errorf("wrapped: %w", &problemError{Problem: httpapi.Problem{Status: 404}}), exitNotFound},
		{&silentError{code: exitJobEnded}, exitJobEnded},
		{&exitError{code: 42, err: fmt.Errorf("x")}, 42},
		{fmt.Errorf("%w: %w", server.ErrCannotStart, fmt.Errorf("listen: address already in use")), exitCannotStart},
		{fmt.Errorf("%w: %w", server.ErrCannotStart, &config.UsageError{Err: fmt.Errorf("bad")}), exitUsage},
	}
	for _, tc := range cases {
		if got := exitCode(tc.err); got != tc.want {
			t.Errorf("exitCode(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}

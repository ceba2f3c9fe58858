package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry"
	"github.com/gantry-dev/gantry/httpapi"
)

// A --priority or --max-attempts the command line gives is sent, zero
// included, and the server's refusal names the flag; nothing is enqueued.
func TestEnqueueOutOfRange(t *testing.T) {
	t.Parallel()
	p := startServe(t, nil, "--demo=false")
	file := filepath.Join(t.TempDir(), "payload.bin")
	if err := os.WriteFile(file, []byte("\x00\x01"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--priority", "0"}, "error: --priority: priority must be between 1 and 9, not 0 (invalid_field)"},
		{[]string{"--priority", "10"}, "error: --priority: priority must be between 1 and 9, not 10 (invalid_field)"},
		{[]string{"--priority", "0", "--file", file}, "error: --priority: priority must be between 1 and 9, not 0 (invalid_field)"},
		{[]string{"--max-attempts", "0"}, "error: --max-attempts: max_attempts must be between 1 and "},
		{[]string{"--max-attempts", "-1", "--file", file}, "error: --max-attempts: max_attempts must be between 1 and "},
		{[]string{"--max-attempts", "1000000"}, "error: --max-attempts: max_attempts must be between 1 and "},
	}
	for _, tc := range cases {
		args := append([]string{"enqueue", "k"}, tc.args...)
		stdout, stderr, code := p.cli(args...)
		if code != exitFailure || stdout != "" || !strings.HasPrefix(stderr, tc.want) {
			t.Errorf("gantry %s: exit %d, stdout %q, stderr %q; want exit %d and %q", strings.Join(args, " "), code, stdout, stderr, exitFailure, tc.want)
		}
	}
	if out := p.mustCLI(0, "jobs", "ls"); out != "no jobs\n" {
		t.Errorf("refused enqueues left jobs:\n%s", out)
	}
	p.mustCLI(0, "enqueue", "k", "--priority", "1", "--max-attempts", "1")
	p.mustCLI(0, "enqueue", "k", "--priority", "9", "--file", file)
}

// queues pause and resume refuse a queue that does not exist (exit 3)
// and create nothing; pause --create pauses it in advance.
func TestQueuesPauseUnknown(t *testing.T) {
	t.Parallel()
	p := startServe(t, nil, "--demo=false")
	queues := func() string { return p.mustCLI(0, "queues", "ls") }
	for _, args := range [][]string{{"queues", "pause", "nosuch"}, {"queues", "resume", "nosuch"}} {
		stdout, stderr, code := p.cli(args...)
		if code != exitNotFound || stdout != "" || !strings.HasPrefix(stderr, `error: queue "nosuch" not found`) || !strings.Contains(stderr, "(not_found)") {
			t.Errorf("gantry %s: exit %d, stdout %q, stderr %q", strings.Join(args, " "), code, stdout, stderr)
		}
		if strings.Contains(stderr, "--create") != (args[1] == "pause") {
			t.Errorf("gantry %s: the hint to --create: %q", strings.Join(args, " "), stderr)
		}
	}
	if out := queues(); strings.Contains(out, "nosuch") {
		t.Errorf("a refused pause created the queue:\n%s", out)
	}
	// The configured queue exists without jobs.
	p.mustCLI(0, "queues", "pause", "default")
	p.mustCLI(0, "queues", "resume", "default")
	if out := p.mustCLI(0, "queues", "pause", "nosuch", "--create"); out != "nosuch\tpaused\n" {
		t.Errorf("pause --create: %q", out)
	}
	if out := queues(); !strings.Contains(out, "nosuch") {
		t.Errorf("queues ls after pause --create:\n%s", out)
	}
	p.mustCLI(0, "queues", "resume", "nosuch")
	if _, stderr, code := p.cli("queues", "resume", "nosuch", "--create"); code != exitUsage || !strings.Contains(stderr, "unknown flag --create") {
		t.Errorf("resume --create: exit %d, %s", code, stderr)
	}
}

func TestProgressLine(t *testing.T) {
	t.Parallel()
	cases := []struct {
		state    gantry.State
		progress *httpapi.ProgressResource
		want     string
	}{
		{gantry.StateAvailable, nil, "available [--------------------]    -"},
		{gantry.StateRunning, &httpapi.ProgressResource{Percent: 0}, "running   [--------------------]   0%"},
		{gantry.StateRunning, &httpapi.ProgressResource{Percent: 40, Message: "resizing"}, "running   [########------------]  40% resizing"},
		{gantry.StateRunning, &httpapi.ProgressResource{Percent: 99, Message: "almost\n  there"}, "running   [###################-]  99% almost there"},
		{gantry.StateSucceeded, &httpapi.ProgressResource{Percent: 100}, "succeeded [####################] 100%"},
		{gantry.StateRunning, &httpapi.ProgressResource{Percent: 250}, "running   [####################] 100%"},
		{gantry.StateRunning, &httpapi.ProgressResource{Percent: 50, Message: strings.Repeat("é", 100)},
			"running   [##########----------]  50% " + strings.Repeat("é", progressWidth-len("running   [##########----------]  50% ")-3) + "..."},
	}
	for _, tc := range cases {
		got := progressLine(&httpapi.JobResource{State: tc.state, Progress: tc.progress}, progressWidth)
		if got != tc.want {
			t.Errorf("%s %+v:\n got %q\nwant %q", tc.state, tc.progress, got, tc.want)
		}
		if n := len([]rune(got)); n > progressWidth {
			t.Errorf("%q is %d columns, more than %d", got, n, progressWidth)
		}
	}
}

// Piped, jobs wait and enqueue --wait write nothing but what they always
// did: no progress line, no carriage return.
func TestWaitPipedShowsNoProgress(t *testing.T) {
	t.Parallel()
	p := startServe(t, nil)
	stdout, stderr, code := p.cli("enqueue", "gantry.sleep", "--args", `{"ms":1200}`, "--wait")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	id, _, _ := strings.Cut(strings.TrimPrefix(stdout, "id:"), "\n")
	id = strings.TrimSpace(id)
	if want := "enqueued " + id + ", waiting...\n"; stderr != want {
		t.Errorf("enqueue --wait: stderr %q, want %q", stderr, want)
	}
	if !strings.Contains(stdout, "succeeded") || strings.Contains(stdout, "\r") {
		t.Errorf("enqueue --wait: stdout %q", stdout)
	}
	later := strings.TrimSpace(p.mustCLI(0, "enqueue", "gantry.sleep", "--args", `{"ms":1200}`))
	stdout, stderr, code = p.cli("jobs", "wait", later)
	if code != 0 || stderr != "" || strings.Contains(stdout, "\r") || !strings.Contains(stdout, "succeeded") {
		t.Errorf("jobs wait: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}

	// jobs ls shows the progress the jobs reported.
	p.mustCLI(0, "enqueue", "gantry.echo", "--delay", "1h")
	lines := strings.Split(strings.TrimSpace(p.mustCLI(0, "jobs", "ls")), "\n")
	if len(lines) != 4 || !strings.Contains(lines[0], " PROGRESS ") || !strings.Contains(lines[1], " scheduled  -  ") ||
		!strings.Contains(lines[2], " succeeded  100%  ") || !strings.Contains(lines[3], " succeeded  100%  ") {
		t.Errorf("jobs ls:\n%s", strings.Join(lines, "\n"))
	}
}

// jobs ls has a progress column, aligned like the others.
func TestJobTableProgress(t *testing.T) {
	t.Parallel()
	now := time.Now()
	jobs := []*httpapi.JobResource{
		{ID: "a1", Kind: "k", Queue: "default", State: gantry.StateRunning, Progress: &httpapi.ProgressResource{Percent: 40, Message: "resizing"}, Attempt: 1, MaxAttempts: 5, CreatedAt: now},
		{ID: "b22", Kind: "kind.long", Queue: "q", State: gantry.StateAvailable, MaxAttempts: 20, CreatedAt: now},
		{ID: "c333", Kind: "k", Queue: "q", State: gantry.StateSucceeded, Progress: &httpapi.ProgressResource{Percent: 100}, Attempt: 1, MaxAttempts: 5, CreatedAt: now},
	}
	var b bytes.Buffer
	printJobTable(&b, jobs, now)
	want := `ID    KIND       QUEUE    STATE      PROGRESS  ATTEMPT  CREATED
a1    k          default  running    40%       1/5      just now
b22   kind.long  q        available  -         0/20     just now
c333  k          q        succeeded  100%      1/5      just now
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

// With a terminal to show it on, the wait redraws the job's progress line
// in place as the job reports, clears it, then prints the job.
func TestWaitShowsProgress(t *testing.T) {
	t.Parallel()
	p := startServe(t, nil)
	var out, errOut, progress bytes.Buffer
	e := &env{
		getenv:   func(k string) string { return map[string]string{"GANTRY_URL": p.url}[k] },
		stdin:    strings.NewReader(""),
		stdout:   &out,
		stderr:   &errOut,
		progress: &progress,
	}
	if code := run(context.Background(), []string{"enqueue", "gantry.sleep", "--args", `{"ms":2500}`, "--wait"}, e); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	got := progress.String()
	if !strings.HasPrefix(got, "\rrunning   [") && !strings.HasPrefix(got, "\ravailable [") {
		t.Errorf("the progress line does not start with the job's state: %q", got)
	}
	if !strings.Contains(got, "%") || !strings.Contains(got, "slept") {
		t.Errorf("no progress report was shown: %q", got)
	}
	if !strings.HasSuffix(got, "\r\x1b[K") {
		t.Errorf("the line is not cleared at the end: %q", got)
	}
	if strings.Contains(got, "\n") || strings.Contains(out.String(), "\r") {
		t.Errorf("progress %q, stdout %q: the line must stay on one line and off stdout", got, out.String())
	}
	if !strings.Contains(out.String(), "succeeded") {
		t.Errorf("stdout %q", out.String())
	}
}

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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

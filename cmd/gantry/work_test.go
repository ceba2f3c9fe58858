package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gantry-dev/gantry"
	"github.com/gantry-dev/gantry/httpapi"
)

// script writes a shell script worker and returns its path.
func script(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "worker.sh")
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// waitForFile waits up to 20 s for a file that a worker script creates.
func waitForFile(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never appeared", path)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// syncBuffer is a bytes.Buffer safe for the worker goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// work runs `gantry work` in this process against p until stop is called;
// stop returns its exit code and stderr.
func (p *proc) work(t *testing.T, args ...string) (stop func() (int, string)) {
	t.Helper()
	stop, _ = p.workOut(t, args...)
	return stop
}

// workOut is work that also returns gantry work's stderr as it grows.
func (p *proc) workOut(t *testing.T, args ...string) (stop func() (int, string), stderr *syncBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stderr = &syncBuffer{}
	e := &env{
		getenv: func(k string) string { return map[string]string{"GANTRY_URL": p.url}[k] },
		stdin:  strings.NewReader(""), stdout: &syncBuffer{}, stderr: stderr,
	}
	done := make(chan int, 1)
	go func() { done <- run(ctx, append([]string{"work"}, args...), e) }()
	var once sync.Once
	var code int
	stop = func() (int, string) {
		once.Do(func() { cancel(); code = <-done })
		return code, stderr.String()
	}
	t.Cleanup(func() { stop() })
	return stop, stderr
}

// waitJob waits until the job's state is one of states and returns it.
func (p *proc) waitJob(t *testing.T, id string, states ...gantry.State) httpapi.JobResource {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		out := p.mustCLI(0, "jobs", "get", id, "--json")
		var j httpapi.JobResource
		if err := json.Unmarshal([]byte(out), &j); err != nil {
			t.Fatal(err)
		}
		for _, s := range states {
			if j.State == s {
				return j
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s is %s, want %v:\n%s", id, j.State, states, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *proc) enqueueID(t *testing.T, args ...string) string {
	t.Helper()
	out := p.mustCLI(0, append([]string{"enqueue"}, append(args, "--json")...)...)
	var j jobJSON
	if err := json.Unmarshal([]byte(out), &j); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	return j.ID
}

func TestWorkRunsAScript(t *testing.T) {
	t.Parallel()
	p := startServe(t, nil, "--demo=false")
	sh := script(t, `
args=$(cat)
echo "progress 40 resizing" >&2
echo "{\"args\":$args,\"id\":\"$GANTRY_JOB_ID\",\"kind\":\"$GANTRY_JOB_KIND\",\"queue\":\"$GANTRY_JOB_QUEUE\",\"attempt\":$GANTRY_JOB_ATTEMPT}"
`)
	id := p.enqueueID(t, "thumbnail", "--args", `{"w":256}`)
	stop := p.work(t, "thumbnail", "--concurrency", "2", "--", sh)
	j := p.waitJob(t, id, "succeeded", "failed", "retrying")
	want := `{"args":{"w":256},"id":"` + id + `","kind":"thumbnail","queue":"default","attempt":1}`
	if j.State != "succeeded" || string(j.Result) != want {
		t.Errorf("job %s, result %s; want succeeded with %s", j.State, j.Result, want)
	}
	if j.Progress == nil || j.Progress.Percent != 40 || j.Progress.Message != "resizing" {
		t.Errorf("progress %+v, want 40 resizing", j.Progress)
	}
	if code, stderr := stop(); code != 0 {
		t.Errorf("gantry work exited %d: %s", code, stderr)
	}
}

func TestWorkTextResultAndFailures(t *testing.T) {
	t.Parallel()
	p := startServe(t, nil, "--demo=false")
	sh := script(t, `
mode=$(cat | sed 's/.*"mode":"\([a-z]*\)".*/\1/')
case $mode in
text) echo "hello world" ;;
crash) echo "it went wrong" >&2; exit 3 ;;
slow) sleep 30 ;;
tempfail) exit 75 ;;
esac
`)
	text := p.enqueueID(t, "job", "--args", `{"mode":"text"}`)
	// One attempt each, so that the failed attempt is seen in a final
	// state: a retry's backoff (full jitter) may be over before a poll.
	crash := p.enqueueID(t, "job", "--args", `{"mode":"crash"}`, "--max-attempts", "1")
	slow := p.enqueueID(t, "job", "--args", `{"mode":"slow"}`, "--timeout", "1s", "--max-attempts", "1")
	temp := p.enqueueID(t, "job", "--args", `{"mode":"tempfail"}`, "--max-attempts", "1")
	p.work(t, "job", "--concurrency", "4", "--snooze", "1h", "--", sh)

	if j := p.waitJob(t, text, "succeeded"); string(j.Result) != `"hello world"` {
		t.Errorf("text result %s", j.Result)
	}
	if j := p.waitJob(t, crash, "failed"); len(j.Errors) != 1 || !strings.Contains(j.Errors[0].Message, "exit status 3: it went wrong") {
		t.Errorf("crash: errors %+v", j.Errors)
	}
	if j := p.waitJob(t, slow, "failed"); len(j.Errors) != 1 || !strings.Contains(j.Errors[0].Message, "past its timeout 1s and was killed") {
		t.Errorf("timeout: errors %+v", j.Errors)
	}
	// Exit 75 snoozes: scheduled again, its only attempt unspent.
	if j := p.waitJob(t, temp, "scheduled"); j.Attempt != 0 || len(j.Errors) != 0 {
		t.Errorf("exit 75: attempt %d errors %+v; want none spent", j.Attempt, j.Errors)
	}
}

// On a signal, a running command finishes and its result is recorded; past
// --shutdown-timeout it is killed and its job given back, unspent.
func TestWorkShutdown(t *testing.T) {
	t.Parallel()
	p := startServe(t, nil, "--demo=false")
	dir := t.TempDir()
	sh := script(t, `
mode=$(cat | sed 's/.*"mode":"\([a-z]*\)".*/\1/')
touch "`+dir+`/$mode.started"
case $mode in
short) sleep 1; echo '"finished"' ;;
long) sleep 60 ;;
esac
`)
	short := p.enqueueID(t, "job", "--args", `{"mode":"short"}`)
	long := p.enqueueID(t, "job", "--args", `{"mode":"long"}`, "--max-attempts", "1")
	stop := p.work(t, "job", "--concurrency", "2", "--shutdown-timeout", "2s", "--", sh)
	for _, f := range []string{"short.started", "long.started"} {
		waitForFile(t, filepath.Join(dir, f))
	}
	start := time.Now()
	code, stderr := stop()
	if code != 0 {
		t.Errorf("exit %d: %s", code, stderr)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the shutdown took %v with --shutdown-timeout 2s", d)
	}
	if j := p.waitJob(t, short, "succeeded"); string(j.Result) != `"finished"` {
		t.Errorf("the short job's result %s", j.Result)
	}
	if j := p.waitJob(t, long, "scheduled", "available"); j.Attempt != 0 || len(j.Errors) != 0 {
		t.Errorf("the long job: %s attempt %d errors %+v; want given back unspent", j.State, j.Attempt, j.Errors)
	}
}

// The binary: SIGTERM lets the running command finish, records its result
// and exits 0.
func TestWorkSIGTERM(t *testing.T) {
	t.Parallel()
	p := startServe(t, nil, "--demo=false")
	dir := t.TempDir()
	sh := script(t, `
cat >/dev/null
touch "`+dir+`/started"
sleep 1
echo '"done after SIGTERM"'
`)
	id := p.enqueueID(t, "job")
	cmd := exec.Command(binary, "work", "job", "--server", p.url, "--", sh)
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	waitForFile(t, filepath.Join(dir, "started"))
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("gantry work after SIGTERM: %v: %s", err, stderr.String())
	}
	if j := p.waitJob(t, id, "succeeded", "failed", "retrying"); j.State != "succeeded" || string(j.Result) != `"done after SIGTERM"` {
		t.Errorf("job %s result %s", j.State, j.Result)
	}
}

// A job cancelled while its command runs: the next heartbeat is refused,
// the command is killed, and nothing is reported for it.
func TestWorkStopsACancelledJob(t *testing.T) {
	t.Parallel()
	p := startServe(t, nil, "--demo=false")
	dir := t.TempDir()
	sh := script(t, `
cat >/dev/null
touch "`+dir+`/started"
sleep 30
`)
	id := p.enqueueID(t, "job")
	stop, stderr := p.workOut(t, "job", "--lease", "3s", "--", sh)
	waitForFile(t, filepath.Join(dir, "started"))
	p.mustCLI(0, "jobs", "cancel", id)
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(stderr.String(), "the lease was lost") {
		if time.Now().After(deadline) {
			t.Fatalf("the command was not stopped after the cancel: %s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code, out := stop(); code != 0 {
		t.Errorf("exit %d: %s", code, out)
	}
	if j := p.waitJob(t, id, "cancelled", "succeeded", "failed"); j.State != "cancelled" {
		t.Errorf("job %s, want cancelled", j.State)
	}
}

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// These tests run the gantry binary as a real process: `serve` on a port
// of its choosing in a temporary data dir, and the CLI against it.

// baseEnv is the environment of the processes: the test's own, without any
// Gantry settings that would leak into them.
func baseEnv(extra map[string]string) []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "GANTRY_") || k == "MAX_WORKERS" || k == "MAX_QUEUE" {
			continue
		}
		out = append(out, kv)
	}
	for k, v := range extra {
		out = append(out, k+"="+v)
	}
	return out
}

// proc is a running `gantry serve`.
type proc struct {
	t    *testing.T
	cmd  *exec.Cmd
	url  string
	done chan struct{} // closed when the process exited
	err  error         // its exit status, after done

	mu    sync.Mutex
	lines []map[string]any // its JSON log lines
	raw   bytes.Buffer
	ready chan string // the address from the startup line
}

// startServe starts `gantry serve` with args (and --log-format json, an
// ephemeral port and a temporary data dir unless args set them) and waits
// until /readyz answers 200.
func startServe(t *testing.T, environ map[string]string, args ...string) *proc {
	t.Helper()
	p := launch(t, environ, args...)
	select {
	case addr := <-p.ready:
		p.url = "http://" + addr
	case <-p.done:
		t.Fatalf("gantry serve exited: %v\n%s", p.err, p.output())
	case <-time.After(30 * time.Second):
		t.Fatalf("gantry serve did not start:\n%s", p.output())
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, err := http.Get(p.url + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz: %v %v\n%s", res, err, p.output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// launch starts `gantry serve` without waiting for it.
func launch(t *testing.T, environ map[string]string, args ...string) *proc {
	t.Helper()
	full := []string{"serve", "--log-format", "json"}
	joined := strings.Join(args, " ")
	if !strings.Contains(joined, "--addr") && environ["GANTRY_ADDR"] == "" {
		full = append(full, "--addr", "127.0.0.1:0")
	}
	if !strings.Contains(joined, "--data-dir") && environ["GANTRY_DATA_DIR"] == "" {
		full = append(full, "--data-dir", filepath.Join(t.TempDir(), "data"))
	}
	full = append(full, args...)
	cmd := exec.Command(binary, full...)
	cmd.Env = baseEnv(environ)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{t: t, cmd: cmd, done: make(chan struct{}), ready: make(chan string, 1)}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logged := make(chan struct{})
	go func() {
		defer close(logged)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.raw.Write(sc.Bytes())
			p.raw.WriteByte('\n')
			var line map[string]any
			if json.Unmarshal(sc.Bytes(), &line) == nil {
				p.lines = append(p.lines, line)
				if line["msg"] == "gantry is serving" {
					p.ready <- line["addr"].(string)
				}
			}
			p.mu.Unlock()
		}
	}()
	go func() {
		<-logged // Wait must not run before the pipe is drained
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
			return
		default:
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-p.done
			t.Errorf("gantry serve did not stop on SIGTERM:\n%s", p.output())
		}
	})
	return p
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.raw.String()
}

// logLine returns the first log line with msg.
func (p *proc) logLine(msg string) map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range p.lines {
		if l["msg"] == msg {
			return l
		}
	}
	return nil
}

// wait waits for the process to exit and returns its exit code.
func (p *proc) wait(timeout time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.t.Fatalf("gantry serve still runs after %v:\n%s", timeout, p.output())
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	if p.err != nil {
		p.t.Fatal(p.err)
	}
	return 0
}

// cli runs the gantry CLI against the server and returns its output and
// exit code.
func (p *proc) cli(args ...string) (stdout, stderr string, code int) {
	p.t.Helper()
	return cliEnv(p.t, map[string]string{"GANTRY_URL": p.url}, args...)
}

func cliEnv(t *testing.T, environ map[string]string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = baseEnv(environ)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return out.String(), errOut.String(), code
}

// mustCLI runs the CLI and fails the test unless it exits with want.
func (p *proc) mustCLI(want int, args ...string) string {
	p.t.Helper()
	stdout, stderr, code := p.cli(args...)
	if code != want {
		p.t.Fatalf("gantry %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, want, stdout, stderr)
	}
	return stdout
}

type jobJSON struct {
	ID     string          `json:"id"`
	Kind   string          `json:"kind"`
	State  string          `json:"state"`
	Result json.RawMessage `json:"result"`
	Blob   *struct {
		Size        int64  `json:"size"`
		ContentType string `json:"content_type"`
	} `json:"blob"`
}

func decode[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("decoding %q: %v", s, err)
	}
	return v
}

func TestServeAndCLI(t *testing.T) {
	t.Parallel()
	p := startServe(t, nil, "--drain-delay", "0s")

	// enqueue prints the id; jobs wait waits for a gantry.sleep job.
	id := strings.TrimSpace(p.mustCLI(0, "enqueue", "gantry.sleep", "--args", `{"ms":300}`))
	out := p.mustCLI(0, "jobs", "wait", id, "--timeout", "20s")
	if !strings.Contains(out, "succeeded") || !strings.Contains(out, `{"slept_ms":300}`) {
		t.Errorf("jobs wait:\n%s", out)
	}

	// enqueue --wait --json prints the final job as the server sent it.
	j := decode[jobJSON](t, p.mustCLI(0, "enqueue", "gantry.echo", "--args", `{"hello":"world"}`, "--wait", "--json"))
	if j.State != "succeeded" || string(j.Result) != `{"hello":"world"}` {
		t.Errorf("echo: %+v", j)
	}

	// jobs ls --json is the server's list, newest first.
	list := decode[struct {
		Jobs []jobJSON `json:"jobs"`
	}](t, p.mustCLI(0, "jobs", "ls", "--json", "--kind", "gantry.sleep"))
	if len(list.Jobs) != 1 || list.Jobs[0].ID != id {
		t.Errorf("jobs ls --kind gantry.sleep: %+v", list)
	}
	if out := p.mustCLI(0, "jobs", "ls"); !strings.Contains(out, "ID") || !strings.Contains(out, "gantry.echo") {
		t.Errorf("jobs ls:\n%s", out)
	}

	// Documented exit codes.
	_, stderr, code := p.cli("jobs", "get", "01a207bb-0000-7000-8000-000000000000")
	if code != exitNotFound || !strings.HasPrefix(stderr, "error: ") || !strings.Contains(stderr, "(not_found)") {
		t.Errorf("jobs get unknown: exit %d, %s", code, stderr)
	}
	if _, stderr, code := p.cli("jobs", "cancel", id); code != exitConflict {
		t.Errorf("cancel a finished job: exit %d, %s", code, stderr)
	}
	if _, _, code := p.cli("jobs", "get"); code != exitUsage {
		t.Errorf("usage error: exit %d", code)
	}

	// A job that fails: exit 6.
	bad := strings.TrimSpace(p.mustCLI(0, "enqueue", "gantry.sleep", "--args", `{"ms":-1}`))
	if _, _, code := p.cli("jobs", "wait", bad, "--timeout", "20s"); code != exitJobEnded {
		t.Errorf("jobs wait on a failed job: exit %d", code)
	}
	// ... which can be retried.
	if out := p.mustCLI(0, "jobs", "retry", bad); !strings.Contains(out, bad) {
		t.Errorf("jobs retry: %s", out)
	}

	// A scheduled job can be cancelled; wait then exits 6.
	later := strings.TrimSpace(p.mustCLI(0, "enqueue", "gantry.echo", "--delay", "1h"))
	p.mustCLI(0, "jobs", "cancel", later, "--reason", "changed my mind")
	if _, _, code := p.cli("jobs", "wait", later); code != exitJobEnded {
		t.Errorf("jobs wait on a cancelled job: exit %d", code)
	}

	// Queues: pause, see it, resume.
	p.mustCLI(0, "queues", "pause", "default")
	qs := decode[struct {
		Queues []struct {
			Name   string `json:"name"`
			Paused bool   `json:"paused"`
		} `json:"queues"`
	}](t, p.mustCLI(0, "queues", "ls", "--json"))
	if len(qs.Queues) == 0 || qs.Queues[0].Name != "default" || !qs.Queues[0].Paused {
		t.Errorf("queues ls --json after pause: %+v", qs)
	}
	p.mustCLI(0, "queues", "resume", "default")
	if out := p.mustCLI(0, "queues", "ls"); !strings.Contains(out, "default") || !strings.Contains(out, "SUCCEEDED") {
		t.Errorf("queues ls:\n%s", out)
	}

	// --file uploads a payload that reads back byte for byte.
	payload := bytes.Repeat([]byte("\x00\x01payload"), 10000)
	file := filepath.Join(t.TempDir(), "data.bin")
	if err := os.WriteFile(file, payload, 0o600); err != nil {
		t.Fatal(err)
	}
	up := decode[jobJSON](t, p.mustCLI(0, "enqueue", "blobby", "--file", file, "--json"))
	if up.Blob == nil || up.Blob.Size != int64(len(payload)) || up.Blob.ContentType != "application/octet-stream" {
		t.Fatalf("upload: %+v", up)
	}
	res, err := http.Get(p.url + "/v1/jobs/" + up.ID + "/blob")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !bytes.Equal(got, payload) {
		t.Errorf("the payload read back differs (%d bytes, status %d)", len(got), res.StatusCode)
	}

	// /metrics counts what happened.
	res, err = http.Get(p.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(res.Body)
	res.Body.Close()
	for _, want := range []string{
		`gantry_jobs_finished_total{kind="gantry.sleep",queue="default",state="succeeded"} 1`,
		`gantry_jobs_enqueued_total{kind="gantry.echo",queue="default"} 2`,
		`gantry_queue_jobs{queue="default",state="cancelled"} 1`,
		`gantry_http_problems_total{code="not_found"} 1`,
		`gantry_store_up 1`,
		`go_goroutines`,
	} {
		if !bytes.Contains(metrics, []byte(want)) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// A clean stop exits 0.
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(30 * time.Second); code != 0 {
		t.Errorf("exit %d after SIGTERM:\n%s", code, p.output())
	}
}

func TestServeRefusesNonLoopback(t *testing.T) {
	t.Parallel()
	_, stderr, code := cliEnv(t, nil, "serve", "--addr", "0.0.0.0:0", "--data-dir", t.TempDir())
	if code != exitUsage {
		t.Errorf("exit %d, want %d", code, exitUsage)
	}
	for _, want := range []string{"refusing to listen on 0.0.0.0:0 without authentication", "GANTRY_TOKENS", "--allow-unauthenticated"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
}

func TestServeTokens(t *testing.T) {
	t.Parallel()
	// With tokens, any address is allowed.
	p := startServe(t, map[string]string{"GANTRY_TOKENS": "reader-token:read;admin-token:admin"}, "--addr", "0.0.0.0:0")
	_, port, err := net.SplitHostPort(strings.TrimPrefix(p.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	p.url = "http://127.0.0.1:" + port
	if _, stderr, code := p.cli("jobs", "ls"); code != exitFailure || !strings.Contains(stderr, "(unauthorized)") {
		t.Errorf("without a token: exit %d, %s", code, stderr)
	}
	if _, stderr, code := cliEnv(t, map[string]string{"GANTRY_URL": p.url, "GANTRY_TOKEN": "reader-token"}, "enqueue", "gantry.echo"); code != exitFailure || !strings.Contains(stderr, "(forbidden)") {
		t.Errorf("reader enqueues: exit %d, %s", code, stderr)
	}
	if _, stderr, code := p.cli("enqueue", "gantry.echo", "--token", "admin-token"); code != 0 {
		t.Errorf("admin enqueues: exit %d, %s", code, stderr)
	}
	if strings.Contains(p.output(), "admin-token") {
		t.Error("the log shows a token")
	}
}

// Flags win over GANTRY_* variables, which win over the seed aliases,
// which win over the config file.
func TestServeSettingsPrecedence(t *testing.T) {
	t.Parallel()
	cfg := filepath.Join(t.TempDir(), "gantry.json")
	if err := os.WriteFile(cfg, []byte(`{"workers": 3, "max_pending": 7, "queues": {"images": {"workers": 2}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	dataDir := filepath.Join(t.TempDir(), "from-env")
	cases := []struct {
		name    string
		environ map[string]string
		args    []string
		workers float64
	}{
		{"file", map[string]string{"GANTRY_CONFIG": cfg}, nil, 3},
		{"alias over file", map[string]string{"GANTRY_CONFIG": cfg, "MAX_WORKERS": "5"}, nil, 5},
		{"env over alias", map[string]string{"GANTRY_CONFIG": cfg, "MAX_WORKERS": "5", "GANTRY_WORKERS": "6", "GANTRY_DATA_DIR": dataDir}, nil, 6},
		{"flag over env", map[string]string{"GANTRY_CONFIG": cfg, "GANTRY_WORKERS": "6"}, []string{"--workers", "7"}, 7},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := startServe(t, tc.environ, tc.args...)
			line := p.logLine("gantry is serving")
			if line["workers"] != tc.workers {
				t.Errorf("workers %v, want %v", line["workers"], tc.workers)
			}
			if d := tc.environ["GANTRY_DATA_DIR"]; d != "" && line["data_dir"] != d {
				t.Errorf("data_dir %v, want %v", line["data_dir"], d)
			}
		})
	}

	bad := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(bad, []byte(`{"wokers": 3}`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := cliEnv(t, map[string]string{"GANTRY_CONFIG": bad}, "serve")
	if code != exitUsage || !strings.Contains(stderr, `unknown key "wokers" (did you mean "workers"?)`) {
		t.Errorf("unknown key: exit %d, %s", code, stderr)
	}
}

// On SIGTERM the server drains: /readyz answers 503 while a running job
// finishes, and the process exits 0 once it did; the job is recorded as
// succeeded.
func TestServeDrainsOnSIGTERM(t *testing.T) {
	t.Parallel()
	dataDir := filepath.Join(t.TempDir(), "data")
	p := startServe(t, nil, "--data-dir", dataDir, "--drain-delay", "300ms", "--shutdown-timeout", "20s")
	id := strings.TrimSpace(p.mustCLI(0, "enqueue", "gantry.sleep", "--args", `{"ms":1500}`))
	// Wait until it runs (the first progress report comes after a second).
	deadline := time.Now().Add(10 * time.Second)
	for {
		j := decode[jobJSON](t, p.mustCLI(0, "jobs", "get", id, "--json"))
		if j.State == "running" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the job did not start: %+v", j)
		}
		time.Sleep(20 * time.Millisecond)
	}
	signalled := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// During the drain delay, readiness fails and new work is refused.
	sawDraining := false
	for time.Since(signalled) < 250*time.Millisecond && !sawDraining {
		res, err := http.Get(p.url + "/readyz")
		if err != nil {
			break
		}
		res.Body.Close()
		sawDraining = res.StatusCode == http.StatusServiceUnavailable
	}
	if !sawDraining {
		t.Error("/readyz never answered 503 while draining")
	}
	if _, _, code := p.cli("enqueue", "gantry.echo"); code != exitRejected && code != exitFailure {
		t.Errorf("enqueue while draining: exit %d", code)
	}
	if code := p.wait(30 * time.Second); code != 0 {
		t.Fatalf("exit %d:\n%s", code, p.output())
	}
	if p.logLine("stopped") == nil {
		t.Errorf("no clean stop logged:\n%s", p.output())
	}

	// The job finished before the process exited.
	p2 := startServe(t, nil, "--data-dir", dataDir)
	j := decode[jobJSON](t, p2.mustCLI(0, "jobs", "get", id, "--json"))
	if j.State != "succeeded" {
		t.Errorf("after the restart the job is %s:\n%s", j.State, p.output())
	}
}

// A server that cannot start exits 7 with an error, never a panic.
func TestServeFailsCleanly(t *testing.T) {
	t.Parallel()
	// The data dir is a file.
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := cliEnv(t, nil, "serve", "--addr", "127.0.0.1:0", "--data-dir", file)
	if code != exitCannotStart || !strings.HasPrefix(stderr, "error: gantry cannot start: ") {
		t.Errorf("exit %d, %s", code, stderr)
	}
	// The store's directory in it is a file.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "jobs"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr, code = cliEnv(t, nil, "serve", "--addr", "127.0.0.1:0", "--data-dir", dir)
	if code != exitCannotStart || !strings.HasPrefix(stderr, "error: gantry cannot start: ") || strings.Contains(stderr, "panic") {
		t.Errorf("exit %d, %s", code, stderr)
	}
	// The address is taken.
	p := startServe(t, nil)
	_, stderr, code = cliEnv(t, nil, "serve", "--addr", strings.TrimPrefix(p.url, "http://"), "--data-dir", t.TempDir())
	if code != exitCannotStart || !strings.Contains(stderr, "address already in use") {
		t.Errorf("exit %d, %s", code, stderr)
	}
	// A PostgreSQL URL nothing answers at.
	_, stderr, code = cliEnv(t, nil, "serve", "--addr", "127.0.0.1:0", "--data-dir", t.TempDir(),
		"--store", "postgres://gantry:hunter2@127.0.0.1:1/none?connect_timeout=2")
	if code != exitCannotStart || strings.Contains(stderr, "hunter2") {
		t.Errorf("exit %d, %s", code, stderr)
	}
}

// A second gantry serve on the data dir of a running one exits 7 saying
// that the data dir is in use, by which process; the first goes on.
func TestServeDataDirInUse(t *testing.T) {
	t.Parallel()
	dataDir := filepath.Join(t.TempDir(), "data")
	p := startServe(t, nil, "--data-dir", dataDir)
	_, stderr, code := cliEnv(t, nil, "serve", "--addr", "127.0.0.1:0", "--data-dir", dataDir)
	want := fmt.Sprintf("error: gantry cannot start: the data dir %s is in use by another process (pid %d): stop it, or give this server its own --data-dir.",
		dataDir, p.cmd.Process.Pid)
	if code != exitCannotStart || !strings.HasPrefix(stderr, want) {
		t.Errorf("exit %d, stderr %q; want exit %d and %q", code, stderr, exitCannotStart, want)
	}
	for _, bad := range []string{"panic", "goroutine", "resource temporarily unavailable"} {
		if strings.Contains(stderr, bad) {
			t.Errorf("stderr says %q:\n%s", bad, stderr)
		}
	}
	p.mustCLI(0, "enqueue", "gantry.echo")
}

// A job that outlives --shutdown-timeout is cancelled and released: the
// process exits 1 saying so, and the job is available again on the next
// start.
func TestServeShutdownTimeout(t *testing.T) {
	t.Parallel()
	dataDir := filepath.Join(t.TempDir(), "data")
	p := startServe(t, nil, "--data-dir", dataDir, "--drain-delay", "0s", "--shutdown-timeout", "1s")
	id := strings.TrimSpace(p.mustCLI(0, "enqueue", "gantry.sleep", "--args", `{"ms":60000}`))
	deadline := time.Now().Add(10 * time.Second)
	for decode[jobJSON](t, p.mustCLI(0, "jobs", "get", id, "--json")).State != "running" {
		if time.Now().After(deadline) {
			t.Fatal("the job did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(20 * time.Second); code != exitFailure {
		t.Errorf("exit %d, want %d", code, exitFailure)
	}
	if out := p.output(); !strings.Contains(out, "released") {
		t.Errorf("the error does not say the jobs were released:\n%s", out)
	}
	p2 := startServe(t, nil, "--data-dir", dataDir, "--demo=false")
	if j := decode[jobJSON](t, p2.mustCLI(0, "jobs", "get", id, "--json")); j.State != "available" {
		t.Errorf("after the restart the job is %s, want available", j.State)
	}
}

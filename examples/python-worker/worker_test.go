package pythonworker_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// This test runs the example as a user would: a real `gantry serve` built
// from this module, and `python3 worker.py` leasing jobs from it over HTTP.

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// job is the part of the job resource the test reads.
type job struct {
	ID       string          `json:"id"`
	State    string          `json:"state"`
	Attempt  int             `json:"attempt"`
	Result   json.RawMessage `json:"result"`
	Progress *struct {
		Percent int    `json:"percent"`
		Message string `json:"message"`
	} `json:"progress"`
	Errors []struct {
		Attempt int    `json:"attempt"`
		Message string `json:"message"`
	} `json:"errors"`
}

func (j *job) final() bool {
	return j.State == "succeeded" || j.State == "failed" || j.State == "cancelled"
}

// process is a subprocess whose stderr is kept, line by line.
type process struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed when it exited
	err  error         // its exit status, after done

	mu    sync.Mutex
	out   bytes.Buffer
	watch map[string]chan struct{} // closed when a line containing the key appears
}

// start runs cmd and collects its stderr.
func start(t *testing.T, name string, cmd *exec.Cmd) *process {
	t.Helper()
	p := &process{name: name, cmd: cmd, done: make(chan struct{}), watch: map[string]chan struct{}{}}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.out.WriteString(line + "\n")
			for key, ch := range p.watch {
				if strings.Contains(line, key) {
					close(ch)
					delete(p.watch, key)
				}
			}
			p.mu.Unlock()
		}
		_, _ = io.Copy(io.Discard, stderr)
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop(t, 30*time.Second)
		if t.Failed() {
			t.Logf("%s output:\n%s", name, p.output())
		}
	})
	return p
}

func (p *process) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// await returns a channel closed when a line containing key appears. Call
// it before whatever makes the line appear.
func (p *process) await(key string) <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	ch := make(chan struct{})
	if strings.Contains(p.out.String(), key) {
		close(ch)
		return ch
	}
	p.watch[key] = ch
	return ch
}

// stop sends SIGTERM and waits up to within for the exit, then kills.
func (p *process) stop(t *testing.T, within time.Duration) error {
	t.Helper()
	select {
	case <-p.done:
		return p.err
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.err
	case <-time.After(within):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Errorf("%s did not exit within %v of SIGTERM", p.name, within)
		return p.err
	}
}

// env is a running server and what the test needs to talk to it.
type env struct {
	t      *testing.T
	url    string
	http   *http.Client
	python string
}

// cleanEnviron is the test's environment without Gantry settings.
func cleanEnviron(extra ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "GANTRY_") || k == "MAX_WORKERS" || k == "MAX_QUEUE" {
			continue
		}
		out = append(out, kv)
	}
	return append(out, extra...)
}

// setup builds gantry, starts `gantry serve` on a free port with a
// temporary data dir, and returns when it serves.
func setup(t *testing.T) *env {
	t.Helper()
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not on PATH: the Python worker example cannot run")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go is not on PATH: cannot build gantry")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "gantry")
	build := exec.Command(gobin, "build", "-o", bin, "github.com/gantry-dev/gantry/cmd/gantry")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building gantry: %v\n%s", err, out)
	}

	cmd := exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--data-dir", filepath.Join(dir, "data"),
		"--log-format", "json", "--drain-delay", "100ms")
	cmd.Env = cleanEnviron()
	srv := start(t, "gantry serve", cmd)
	serving := srv.await(`"msg":"gantry is serving"`)
	select {
	case <-serving:
	case <-srv.done:
		t.Fatalf("gantry serve exited: %v\n%s", srv.err, srv.output())
	case <-time.After(60 * time.Second):
		t.Fatalf("gantry serve did not start:\n%s", srv.output())
	}
	var addr string
	for line := range strings.Lines(srv.output()) {
		var l struct{ Msg, Addr string }
		if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "gantry is serving" {
			addr = l.Addr
		}
	}
	if addr == "" {
		t.Fatalf("no address in the startup line:\n%s", srv.output())
	}
	e := &env{t: t, url: "http://" + addr, http: &http.Client{Transport: &http.Transport{}}, python: python}
	t.Cleanup(e.http.CloseIdleConnections)
	return e
}

// do sends a JSON request and decodes the JSON answer into out.
func (e *env) do(method, path string, body, out any) int {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := e.http.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			e.t.Fatalf("%s %s: %d %s: %v", method, path, res.StatusCode, data, err)
		}
	}
	return res.StatusCode
}

// enqueue enqueues a resize job in queue images.
func (e *env) enqueue(args map[string]any, maxAttempts int) *job {
	e.t.Helper()
	var j job
	body := map[string]any{"kind": "resize", "queue": "images", "args": args, "max_attempts": maxAttempts}
	if status := e.do("POST", "/v1/jobs", body, &j); status != http.StatusAccepted {
		e.t.Fatalf("enqueue: status %d", status)
	}
	return &j
}

// waitFinal long-polls the job until it is final.
func (e *env) waitFinal(id string) *job {
	e.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var j job
		if status := e.do("GET", "/v1/jobs/"+id+"?wait=30s", nil, &j); status != http.StatusOK {
			e.t.Fatalf("GET job %s: status %d", id, status)
		}
		if j.final() {
			return &j
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("job %s is still %s", id, j.State)
		}
	}
}

// worker starts `python3 worker.py` against the server and returns when
// it is leasing.
func (e *env) worker(extra ...string) *process {
	e.t.Helper()
	cmd := exec.Command(e.python, "worker.py")
	cmd.Env = cleanEnviron(append([]string{
		"GANTRY_URL=" + e.url, "GANTRY_QUEUE=images", "GANTRY_KINDS=resize",
		"GANTRY_LEASE=10s", "GANTRY_WAIT=30s", "PYTHONUNBUFFERED=1",
	}, extra...)...)
	p := start(e.t, "worker.py", cmd)
	select {
	case <-p.await("leasing resize from queue images"):
	case <-p.done:
		e.t.Fatalf("worker.py exited: %v\n%s", p.err, p.output())
	case <-time.After(30 * time.Second):
		e.t.Fatalf("worker.py did not start:\n%s", p.output())
	}
	return p
}

func wantResult(t *testing.T, j *job, width int) {
	t.Helper()
	if j.State != "succeeded" || j.Attempt != 1 || len(j.Errors) != 0 {
		t.Fatalf("job %s (width %d) is %s after attempt %d with errors %+v, want succeeded at the first attempt", j.ID, width, j.State, j.Attempt, j.Errors)
	}
	var got, want map[string]any
	if err := json.Unmarshal(j.Result, &got); err != nil {
		t.Fatalf("job %s: result %s: %v", j.ID, j.Result, err)
	}
	b := fmt.Appendf(nil, `{"width":%d,"height":%d,"thumbnail":"thumbs/%s-%dx%d.png"}`, width, width, j.ID, width, width)
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("job %s: result %s, want %s", j.ID, j.Result, b)
	}
	if p := j.Progress; p == nil || p.Percent != 100 || p.Message != fmt.Sprintf("resized %d of %d rows", width, width) {
		t.Errorf("job %s: progress %+v, want 100%% with the last step's message", j.ID, p)
	}
}

// TestWorker runs the worker on good and bad jobs: good ones succeed with
// their results and the progress the worker reported; a job whose args
// make the handler raise is failed by the worker, retried while attempts
// remain, and ends failed with every attempt's error recorded.
func TestWorker(t *testing.T) {
	t.Parallel()
	e := setup(t)
	widths := []int{64, 128, 256}
	var good []*job
	for _, w := range widths {
		good = append(good, e.enqueue(map[string]any{"width": w, "work_ms": 200}, 3))
	}
	once := e.enqueue(map[string]any{"width": -1}, 1)
	twice := e.enqueue(map[string]any{"width": "wide"}, 2)

	w := e.worker()

	for i, j := range good {
		wantResult(t, e.waitFinal(j.ID), widths[i])
	}
	for _, c := range []struct {
		j        *job
		attempts int
		msg      string
	}{
		{once, 1, "ValueError: width must be a positive integer, not -1"},
		{twice, 2, "ValueError: width must be a positive integer, not 'wide'"},
	} {
		j := e.waitFinal(c.j.ID)
		if j.State != "failed" || j.Attempt != c.attempts || len(j.Errors) != c.attempts {
			t.Errorf("job %s: %s after attempt %d with errors %+v; want failed after %d attempts", j.ID, j.State, j.Attempt, j.Errors, c.attempts)
			continue
		}
		for i, err := range j.Errors {
			if err.Attempt != i+1 || err.Message != c.msg {
				t.Errorf("job %s: error %d is %+v, want attempt %d: %q", j.ID, i, err, i+1, c.msg)
			}
		}
	}

	// An idle worker, waiting in a lease request, exits at once on SIGTERM
	// (well before its 30s wait ends).
	if err := w.stop(t, 10*time.Second); err != nil {
		t.Errorf("worker.py exited with %v after SIGTERM, want 0", err)
	}
}

// TestWorkerFinishesJobOnSIGTERM sends SIGTERM while the worker runs a
// job longer than its lease: the heartbeats keep the lease, and the worker
// finishes the job, records the result and exits 0.
func TestWorkerFinishesJobOnSIGTERM(t *testing.T) {
	t.Parallel()
	e := setup(t)
	slow := e.enqueue(map[string]any{"width": 512, "work_ms": 3000}, 1)

	// Follow the job's events; send SIGTERM once the worker has reported
	// progress, so that the signal lands mid-job.
	req, err := http.NewRequest("GET", e.url+"/v1/jobs/"+slow.ID+"/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("events: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}

	// A lease shorter than the job: only the heartbeats keep it.
	w := e.worker("GANTRY_LEASE=2s")
	exited := make(chan error, 1)
	signalled := false
	var events []string
	var last job
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	event := ""
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "event: "); ok {
			event = v
		}
		if v, ok := strings.CutPrefix(line, "data: "); ok {
			if err := json.Unmarshal([]byte(v), &last); err != nil {
				t.Fatalf("event data %q: %v", v, err)
			}
			events = append(events, event+":"+last.State)
			if event == "progress" && !signalled && !last.final() {
				signalled = true
				go func() { exited <- w.stop(t, 30*time.Second) }()
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("reading events: %v (events so far %v)", err, events)
	}
	if !signalled || !last.final() {
		t.Fatalf("the event stream ended before a progress event and a final state: %v", events)
	}
	wantResult(t, e.waitFinal(slow.ID), 512)
	if err := <-exited; err != nil {
		t.Errorf("worker.py exited with %v after SIGTERM, want 0", err)
	}
	if !strings.Contains(w.output(), "SIGTERM: finishing the job in hand") {
		t.Errorf("the worker did not log the signal:\n%s", w.output())
	}
	progress := 0
	for _, ev := range events {
		if strings.HasPrefix(ev, "progress:") {
			progress++
		}
	}
	if progress < 2 {
		t.Errorf("saw %d progress events, want several: %v", progress, events)
	}
}

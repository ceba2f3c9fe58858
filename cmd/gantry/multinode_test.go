package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gantry-dev/gantry/internal/pgtest"
)

// The multi-node test runs three `gantry serve` processes on one
// PostgreSQL schema. External workers (testdata/leaseworker, one process
// per node, built without the race detector) lease the jobs over HTTP and
// report every lease, heartbeat and completion. Mid-run one node, the
// maintenance leader, is killed with SIGKILL together with its worker
// process, while that worker holds leases; later another node is stopped
// with SIGTERM. The reports and the database then show that every job
// succeeded once, that no job was handed out again while an earlier lease
// of it was live, that a stale attempt cannot complete, and that
// maintenance leadership moved.

const (
	mnJobs      = 50000
	mnSlowJobs  = 18 // of mnJobs: held for a while, with heartbeats
	mnBatch     = 500
	mnEnqueuers = 3
	// mnStall fails the test when no job succeeds for this long.
	mnStall = 60 * time.Second
)

// mnWorkerArgs are the leaseworker's settings: 4 workers leasing batches
// of 50 fast jobs for 4 s (heartbeating the rest of a batch that takes
// longer than a third of that), 2 holding slow jobs for 2.5 s on leases of
// 2 s with a heartbeat every 0.5 s.
var mnWorkerArgs = []string{"-fast", "4", "-slow", "2", "-lease-max", "50", "-fast-lease", "4s",
	"-slow-lease", "2s", "-slow-hold", "2.5s", "-slow-beat", "500ms"}

// apiClient sends JSON requests to gantry serve processes.
type apiClient struct {
	hc *http.Client
}

func newAPIClient(t *testing.T) *apiClient {
	tr := &http.Transport{MaxIdleConns: 64, MaxIdleConnsPerHost: 16, IdleConnTimeout: 30 * time.Second}
	t.Cleanup(tr.CloseIdleConnections)
	return &apiClient{hc: &http.Client{Transport: tr, Timeout: 60 * time.Second}}
}

// apiAnswer is the status, headers and body of an answer.
type apiAnswer struct {
	status int
	header http.Header
	body   []byte
}

// post sends body (JSON: bytes as they are, anything else marshalled) with
// the headers in hdr (pairs of name and value) and reads the whole answer.
func (c *apiClient) post(ctx context.Context, url string, body any, hdr ...string) (*apiAnswer, error) {
	b, ok := body.([]byte)
	if !ok {
		var err error
		if b, err = json.Marshal(body); err != nil {
			return nil, err
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return c.do(req)
}

// get sends a GET and reads the whole answer.
func (c *apiClient) get(ctx context.Context, url string) (*apiAnswer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	return c.do(req)
}

func (c *apiClient) do(req *http.Request) (*apiAnswer, error) {
	res, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	return &apiAnswer{status: res.StatusCode, header: res.Header, body: data}, nil
}

// outcome is how a run ended, as its worker reported it.
type outcome int

const (
	unreported outcome = iota // no report: the worker died holding the job, or with its answer
	completed                 // complete answered 200
	lost                      // a heartbeat or complete answered 409
)

func (o outcome) String() string {
	return [...]string{"unreported", "completed", "lost"}[o]
}

// leaseRun is one attempt of a job as an external worker reported it. Times
// are the server's.
type leaseRun struct {
	id, token  string
	attempt    int
	node       int
	start      time.Time // the job's started_at in the lease answer
	leasedEnd  time.Time // the lease's end when it was leased
	expires    time.Time // the lease's end as last confirmed by the server
	heartbeats int
	outcome    outcome
}

// mnNode is one gantry serve process and the worker process bound to it.
type mnNode struct {
	i        int
	p        *proc
	worker   *exec.Cmd
	stdin    io.WriteCloser
	reported chan struct{} // closed when the worker's reports ended
	holding  chan struct{} // closed when the worker reports "holding"
	exited   chan error    // the worker's exit
	// stopping is set when the node was sent SIGTERM, killed when it was
	// sent SIGKILL.
	stopping, killed atomic.Bool
}

// mnRun is the state of a multi-node run.
type mnRun struct {
	t     *testing.T
	c     *apiClient
	nodes []*mnNode

	mu   sync.Mutex
	runs map[string]*leaseRun // by id and attempt

	completed atomic.Int64
	errs      atomic.Int64
	killedAt  time.Time
}

func (m *mnRun) errorf(format string, args ...any) {
	if m.errs.Add(1) <= 20 {
		m.t.Errorf(format, args...)
	}
}

// startWorker starts the worker process of node n, reading its reports.
func (m *mnRun) startWorker(bin string, n *mnNode) {
	t := m.t
	n.worker = exec.Command(bin, append([]string{"-url", n.p.url}, mnWorkerArgs...)...)
	var err error
	if n.stdin, err = n.worker.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := n.worker.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	n.worker.Stderr = &stderr
	if err := n.worker.Start(); err != nil {
		t.Fatal(err)
	}
	n.reported, n.holding, n.exited = make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		defer close(n.reported)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			m.report(n, strings.Split(sc.Text(), "\t"))
		}
	}()
	go func() {
		<-n.reported // Wait must not run before the pipe is drained
		err := n.worker.Wait()
		if err != nil && !n.killed.Load() {
			err = fmt.Errorf("%w\n%s", err, stderr.String())
		}
		n.exited <- err
	}()
	t.Cleanup(func() {
		_ = n.worker.Process.Kill()
		<-n.reported
	})
}

// report takes one line of a worker's reports.
func (m *mnRun) report(n *mnNode, f []string) {
	bad := func() { m.errorf("node %d's worker: bad report %q", n.i, f) }
	switch f[0] {
	case "holding":
		close(n.holding)
		return
	case "error":
		if !n.stopping.Load() && !n.killed.Load() {
			m.errorf("node %d's worker: %s", n.i, strings.Join(f[1:], " "))
		}
		return
	}
	if len(f) < 3 {
		bad()
		return
	}
	attempt, err := strconv.Atoi(f[2])
	if err != nil {
		bad()
		return
	}
	key := f[1] + "/" + f[2]
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.runs[key]
	switch {
	case f[0] == "lease" && len(f) == 6:
		if r != nil {
			m.errorf("job %s was leased twice in attempt %d, on nodes %d and %d", f[1], attempt, r.node, n.i)
			return
		}
		r = &leaseRun{id: f[1], attempt: attempt, token: f[3], node: n.i}
		r.start, err = time.Parse(time.RFC3339Nano, f[4])
		if err == nil {
			r.leasedEnd, err = time.Parse(time.RFC3339Nano, f[5])
		}
		if err != nil {
			bad()
			return
		}
		r.expires = r.leasedEnd
		m.runs[key] = r
	case r == nil:
		m.errorf("node %d's worker reports on a job it did not lease: %q", n.i, f)
	case f[0] == "beat" && len(f) == 4:
		exp, err := time.Parse(time.RFC3339Nano, f[3])
		if err != nil {
			bad()
			return
		}
		r.expires = exp
		r.heartbeats++
	case f[0] == "done" && len(f) == 4 && f[3] == "completed":
		r.outcome = completed
		m.completed.Add(1)
	case f[0] == "done" && len(f) == 4 && f[3] == "lost":
		r.outcome = lost
	default:
		bad()
	}
}

// enqueueBody is the body of batch b: jobs b*mnBatch to (b+1)*mnBatch-1,
// each with its number n in its args; mnSlowJobs of them are slow.
func enqueueBody(b int) []byte {
	var buf bytes.Buffer
	buf.WriteString(`{"jobs":[`)
	for n := b * mnBatch; n < min((b+1)*mnBatch, mnJobs); n++ {
		kind := "mn.fast"
		if every := mnJobs / mnSlowJobs; n%every == 0 && n/every < mnSlowJobs {
			kind = "mn.slow"
		}
		if n > b*mnBatch {
			buf.WriteByte(',')
		}
		fmt.Fprintf(&buf, `{"kind":%q,"args":{"n":%d},"max_attempts":50}`, kind, n)
	}
	buf.WriteString(`]}`)
	return buf.Bytes()
}

// enqueue sends batches from, from+every, ... spread over the nodes: batch b
// goes to node b%3, or to the next node when that one went away. A batch
// keeps its Idempotency-Key across nodes, so a batch whose answer was lost
// with its node is not created twice.
func (m *mnRun) enqueue(from, every int) {
	for b := from; b*mnBatch < mnJobs; b += every {
		body := enqueueBody(b)
		key := "mn-batch-" + strconv.Itoa(b)
		for try := 0; ; try++ {
			if try == 30 {
				m.errorf("batch %d: no node took it", b)
				return
			}
			n := m.nodes[(b+try)%len(m.nodes)]
			if n.killed.Load() {
				continue
			}
			ans, err := m.c.post(context.Background(), n.p.url+"/v1/jobs/batch", body, "Idempotency-Key", key)
			if err == nil && ans.status == http.StatusAccepted {
				break
			}
			if n.stopping.Load() || n.killed.Load() {
				continue
			}
			if err != nil {
				m.errorf("batch %d on node %d: %v", b, n.i, err)
			} else {
				m.errorf("batch %d on node %d: %d %s", b, n.i, ans.status, ans.body)
			}
			return
		}
	}
}

// leaderLines returns the times of p's "gained" and "lost maintenance
// leadership" log lines.
func leaderLines(p *proc) (gained, lostAt []time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range p.lines {
		ts, _ := l["time"].(string)
		at, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			continue
		}
		switch l["msg"] {
		case "gained maintenance leadership":
			gained = append(gained, at)
		case "lost maintenance leadership":
			lostAt = append(lostAt, at)
		}
	}
	return gained, lostAt
}

// leads reports whether p's last leadership line says it gained it.
func leads(p *proc) bool {
	g, l := leaderLines(p)
	return len(g) > 0 && (len(l) == 0 || l[len(l)-1].Before(g[len(g)-1]))
}

// waitFor polls cond every 50 ms until it holds or timeout passes.
func waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
	return true
}

// stateCounts returns the number of jobs in each state.
func stateCounts(ctx context.Context, conn *pgx.Conn, schema string) (map[string]int, error) {
	rows, err := conn.Query(ctx, `SELECT state, count(*) FROM `+pgx.Identifier{schema}.Sanitize()+`.jobs GROUP BY state`)
	if err != nil {
		return nil, err
	}
	counts := map[string]int{}
	var state string
	var n int
	_, err = pgx.ForEachRow(rows, []any{&state, &n}, func() error { counts[state] = n; return nil })
	return counts, err
}

// buildLeaseWorker builds testdata/leaseworker without the race detector.
func buildLeaseWorker(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "leaseworker")
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(gobin, "build", "-o", bin, "./testdata/leaseworker").CombinedOutput()
	if err != nil {
		t.Fatalf("building the lease worker: %v\n%s", err, out)
	}
	return bin
}

func TestMultiNode(t *testing.T) {
	t.Parallel()
	url := postgresURL(t)
	began := time.Now()
	workerBin := buildLeaseWorker(t)
	schema := pgtest.Schema(t, url, "gantry_mn_")
	// Three nodes of 8 connections (and a listener each) stay well within
	// max_connections next to other tests.
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	environ := map[string]string{"GANTRY_STORE": url + sep + "pool_max_conns=8", "GANTRY_SCHEMA": schema}
	if stdout, stderr, code := cliEnv(t, environ, "migrate", "up"); code != 0 {
		t.Fatalf("migrate up: exit %d\n%s%s", code, stdout, stderr)
	}
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())

	// Node 0 starts first and leads maintenance; it is the one killed.
	m := &mnRun{t: t, c: newAPIClient(t), runs: map[string]*leaseRun{}}
	for i := range 3 {
		p := startServe(t, environ, "--demo=false", "--drain-delay", "2s", "--shutdown-timeout", "10s")
		m.nodes = append(m.nodes, &mnNode{i: i, p: p})
		if i == 0 && !waitFor(20*time.Second, func() bool { return leads(p) }) {
			t.Fatalf("node 0 did not gain maintenance leadership:\n%s", p.output())
		}
	}
	t.Logf("3 nodes ready after %v", time.Since(began).Round(time.Millisecond))

	workStart := time.Now()
	var enqueuers sync.WaitGroup
	for i := range mnEnqueuers {
		enqueuers.Go(func() { m.enqueue(i, mnEnqueuers) })
	}
	for _, n := range m.nodes {
		m.startWorker(workerBin, n)
	}

	// Follow the progress; at 20 % kill node 0 with its worker while that
	// holds leases, at 55 % stop node 2.
	var termAt time.Time
	last, lastAt := int64(-1), time.Now()
	for {
		done := m.completed.Load()
		if done != last {
			last, lastAt = done, time.Now()
		}
		if done >= mnJobs-2000 {
			counts, err := stateCounts(ctx, conn, schema)
			if err != nil {
				t.Fatal(err)
			}
			if counts["succeeded"] == mnJobs {
				break
			}
			if time.Since(lastAt) > mnStall {
				t.Fatalf("no progress for %v: %v", time.Since(lastAt).Round(time.Second), counts)
			}
		}
		if time.Since(lastAt) > mnStall || m.errs.Load() > 0 && time.Since(lastAt) > 5*time.Second {
			counts, _ := stateCounts(ctx, conn, schema)
			t.Fatalf("no progress for %v: %d completed, %v", time.Since(lastAt).Round(time.Second), done, counts)
		}
		if done >= mnJobs/5 && m.killedAt.IsZero() {
			m.killNode0()
		}
		if done >= mnJobs*55/100 && termAt.IsZero() {
			termAt = time.Now()
			m.nodes[2].stopping.Store(true)
			if err := m.nodes[2].p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	workTook := time.Since(workStart)
	enqueuers.Wait()
	if termAt.IsZero() {
		t.Fatal("the run ended before node 2 was stopped")
	}
	// The workers of nodes 1 and 2 stop; node 2's stopped by itself.
	for _, n := range m.nodes[1:] {
		n.stdin.Close()
		select {
		case err := <-n.exited:
			if err != nil {
				t.Errorf("node %d's worker: %v", n.i, err)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("node %d's worker did not stop", n.i)
		}
	}
	if code := m.nodes[2].p.wait(30 * time.Second); code != 0 {
		t.Errorf("node 2 exited %d after SIGTERM:\n%s", code, lastLines(m.nodes[2].p, 20))
	}

	final := m.checkJobs(ctx, conn, schema)
	m.checkRuns(final)
	m.checkStale(ctx, final)
	m.checkLeadership(termAt)
	t.Logf("%d jobs worked in %v by 3 nodes (whole test %v)", mnJobs, workTook.Round(time.Millisecond),
		time.Since(began).Round(time.Millisecond))
}

// killNode0 tells node 0's worker to hold the next jobs it leases, and
// once it holds some, kills node 0 and its worker with SIGKILL.
func (m *mnRun) killNode0() {
	t := m.t
	n := m.nodes[0]
	if _, err := io.WriteString(n.stdin, "hold\n"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-n.holding:
	case <-time.After(60 * time.Second):
		t.Fatal("node 0's worker leased nothing to hold")
	}
	m.killedAt = time.Now()
	n.killed.Store(true)
	for _, pr := range []*exec.Cmd{n.p.cmd, n.worker} {
		if err := pr.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
	}
	n.p.wait(10 * time.Second)
	<-n.reported
}

// attemptError is an entry of a job's errors.
type attemptError struct {
	Attempt int       `json:"attempt"`
	At      time.Time `json:"at"`
	Message string    `json:"message"`
}

// finalJob is a job as the database holds it at the end.
type finalJob struct {
	attempt int
	errors  []attemptError
}

// checkJobs: the database holds exactly the jobs enqueued, each once, all
// succeeded, and each in an attempt whose completion was answered 200 (or
// whose answer went with its node). It returns the jobs by id.
func (m *mnRun) checkJobs(ctx context.Context, conn *pgx.Conn, schema string) map[string]finalJob {
	t := m.t
	rows, err := conn.Query(ctx, `SELECT id::text, state, attempt, convert_from(args, 'UTF8')::jsonb->>'n', coalesce(errors::text, '')
		FROM `+pgx.Identifier{schema}.Sanitize()+`.jobs`)
	if err != nil {
		t.Fatal(err)
	}
	final := map[string]finalJob{}
	seen := make([]bool, mnJobs)
	var id, state, n, errs string
	var attempt int
	if _, err := pgx.ForEachRow(rows, []any{&id, &state, &attempt, &n, &errs}, func() error {
		f := finalJob{attempt: attempt}
		if errs != "" {
			if err := json.Unmarshal([]byte(errs), &f.errors); err != nil {
				t.Errorf("job %s has errors %s: %v", id, errs, err)
			}
		}
		final[id] = f
		i, err := strconv.Atoi(n)
		switch {
		case err != nil || i < 0 || i >= mnJobs:
			t.Errorf("job %s has args n=%q", id, n)
		case seen[i]:
			t.Errorf("job n=%d exists twice", i)
		default:
			seen[i] = true
		}
		if state != "succeeded" {
			t.Errorf("job %s is %s", id, state)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(final) != mnJobs {
		t.Errorf("%d jobs in the database, want %d", len(final), mnJobs)
	}
	byJob := m.byJob()
	bad := 0
	for id, f := range final {
		attempt := f.attempt
		var ok, unsure []*leaseRun
		for _, r := range byJob[id] {
			switch {
			case r.outcome == completed:
				ok = append(ok, r)
			case r.outcome == unreported && (m.nodes[r.node].killed.Load() || m.nodes[r.node].stopping.Load()):
				unsure = append(unsure, r)
			}
		}
		switch {
		case len(ok) == 1 && ok[0].attempt == attempt:
		case len(ok) == 0 && slices.ContainsFunc(unsure, func(r *leaseRun) bool { return r.attempt == attempt }):
		default:
			if bad++; bad <= 10 {
				t.Errorf("job %s succeeded in attempt %d; its runs:%s", id, attempt, describe(byJob[id]))
			}
		}
	}
	return final
}

func (m *mnRun) byJob() map[string][]*leaseRun {
	out := map[string][]*leaseRun{}
	for _, r := range m.runs {
		out[r.id] = append(out[r.id], r)
	}
	for _, rs := range out {
		slices.SortFunc(rs, func(a, b *leaseRun) int { return a.attempt - b.attempt })
	}
	return out
}

func describe(rs []*leaseRun) string {
	var b strings.Builder
	for _, r := range rs {
		fmt.Fprintf(&b, "\n  attempt %d on node %d: %s, started %s, lease to %s (%d heartbeats)",
			r.attempt, r.node, r.outcome, r.start.Format("15:04:05.000000"), r.expires.Format("15:04:05.000000"), r.heartbeats)
	}
	return b.String()
}

// checkRuns: no job was leased again while an earlier lease of it was
// live, nor after it was completed; an attempt followed by another was
// recorded as expired after its lease ended; every job node 0 held when it
// was killed ran again on another node.
func (m *mnRun) checkRuns(final map[string]finalJob) {
	t := m.t
	var reruns, held, rescued, extended, beats, bad int
	for id, rs := range m.byJob() {
		for i, r := range rs {
			if r.expires.After(r.leasedEnd) {
				extended++
			}
			beats += r.heartbeats
			if r.node == 0 && r.outcome == unreported && r.attempt < final[id].attempt {
				held++
			}
			if i == 0 {
				continue
			}
			prev := rs[i-1]
			reruns++
			if prev.node == 0 && prev.outcome == unreported && r.node != 0 {
				rescued++
			}
			var why string
			switch {
			case prev.outcome == completed:
				why = "leased again after it was completed"
			case r.start.Before(prev.expires):
				why = fmt.Sprintf("attempt %d started %v before the lease of attempt %d ended",
					r.attempt, prev.expires.Sub(r.start), prev.attempt)
			default:
				i := slices.IndexFunc(final[id].errors, func(e attemptError) bool { return e.Attempt == prev.attempt })
				switch {
				case i < 0:
					why = fmt.Sprintf("has no error recorded for attempt %d, which ran again", prev.attempt)
				case final[id].errors[i].Message != "lease expired":
					why = fmt.Sprintf("attempt %d failed with %q", prev.attempt, final[id].errors[i].Message)
				case final[id].errors[i].At.Before(prev.expires):
					why = fmt.Sprintf("attempt %d was recorded as expired %v before its lease ended",
						prev.attempt, prev.expires.Sub(final[id].errors[i].At))
				}
			}
			if why != "" {
				if bad++; bad <= 10 {
					t.Errorf("job %s %s:%s", id, why, describe(rs))
				}
			}
		}
	}
	if held == 0 {
		t.Error("node 0 died holding no lease")
	}
	if rescued != held {
		t.Errorf("node 0 held %d jobs when it was killed; %d of them ran again on another node", held, rescued)
	}
	if extended == 0 {
		t.Error("no heartbeat extended a lease")
	}
	t.Logf("%d runs; %d jobs ran again, %d of them the jobs node 0 held when it was killed (all rescued by the maintenance leader and run by another node); %d heartbeats extended %d leases; %d overlapping leases",
		len(m.runs), reruns, held, beats, extended, bad)
}

// checkStale: a worker that comes back after its lease expired and the job
// ran again can neither complete nor heartbeat it: 409 lease_lost, on any
// node.
func (m *mnRun) checkStale(ctx context.Context, final map[string]finalJob) {
	t := m.t
	live := m.nodes[1]
	n := 0
	for _, r := range m.runs {
		if r.outcome == completed || r.attempt == final[r.id].attempt {
			continue
		}
		if n == 100 {
			break
		}
		n++
		ans, err := m.c.post(ctx, live.p.url+"/v1/jobs/"+r.id+"/complete", map[string]any{"lease_token": r.token})
		if err != nil {
			t.Fatal(err)
		}
		if ans.status != http.StatusConflict || !bytes.Contains(ans.body, []byte(`"lease_lost"`)) {
			t.Errorf("stale completion of job %s attempt %d: %d %s", r.id, r.attempt, ans.status, ans.body)
		}
		ans, err = m.c.post(ctx, live.p.url+"/v1/jobs/"+r.id+"/heartbeat", map[string]any{"lease_token": r.token})
		if err != nil {
			t.Fatal(err)
		}
		if ans.status != http.StatusConflict {
			t.Errorf("stale heartbeat of job %s attempt %d: %d %s", r.id, r.attempt, ans.status, ans.body)
		}
	}
	if n == 0 {
		t.Error("no stale attempt to complete")
	}
	t.Logf("%d stale completions and heartbeats answered 409", n)
}

// checkLeadership: node 0 led until it was killed, another node took over
// within seconds, and the last node standing leads at the end.
func (m *mnRun) checkLeadership(termAt time.Time) {
	t := m.t
	g0, l0 := leaderLines(m.nodes[0].p)
	if len(l0) > 0 && l0[0].Before(m.killedAt) {
		t.Logf("node 0 lost leadership at %v, before it was killed; failover not measured", l0[0])
	} else {
		var first time.Time
		for _, n := range m.nodes[1:] {
			g, _ := leaderLines(n.p)
			for _, at := range g {
				if at.After(m.killedAt) && (first.IsZero() || at.Before(first)) {
					first = at
				}
			}
		}
		switch {
		case len(g0) == 0:
			t.Error("node 0 never led")
		case first.IsZero():
			t.Error("no node gained leadership after node 0 was killed")
		default:
			took := first.Sub(m.killedAt)
			t.Logf("leadership moved %v after the leader's SIGKILL", took.Round(time.Millisecond))
			if took > 15*time.Second {
				t.Errorf("leadership moved %v after the leader was killed", took)
			}
		}
	}
	if g2, _ := leaderLines(m.nodes[2].p); len(g2) > 0 {
		t.Logf("node 2 led from %v after the kill until its SIGTERM %v after it",
			g2[0].Sub(m.killedAt).Round(time.Millisecond), termAt.Sub(m.killedAt).Round(time.Millisecond))
	}
	if !waitFor(15*time.Second, func() bool { return leads(m.nodes[1].p) }) {
		t.Errorf("node 1, the last node running, does not lead maintenance:\n%s", lastLines(m.nodes[1].p, 20))
	}
}

// lastLines returns the last n lines of p's log.
func lastLines(p *proc, n int) string {
	lines := strings.Split(strings.TrimSpace(p.output()), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

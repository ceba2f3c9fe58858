package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gantry-dev/gantry/internal/pgtest"
)

// TestPostgresRestart: PostgreSQL goes down (pg_ctl stop -m immediate, as
// in a crash) under a steady enqueue load on two gantry serve nodes and
// comes back a few seconds later. While it is down the nodes are not
// ready and enqueues get 503 with Retry-After, never 500; no job whose
// enqueue got 202 is lost; and once it is back the nodes are ready again
// and work through every job without being restarted. The server is a
// private one, so that the shared test database stays up.
func TestPostgresRestart(t *testing.T) {
	t.Parallel()
	began := time.Now()
	pg := pgtest.Start(t)
	url := pg.URL("postgres")
	environ := map[string]string{"GANTRY_STORE": url}
	if stdout, stderr, code := cliEnv(t, environ, "migrate", "up"); code != 0 {
		t.Fatalf("migrate up: exit %d\n%s%s", code, stdout, stderr)
	}
	var nodes []*proc
	for range 2 {
		nodes = append(nodes, startServe(t, environ, "--workers", "8", "--drain-delay", "0s"))
	}
	l := &restartLoad{c: newAPIClient(t), nodes: nodes, ready: make([]bool, len(nodes)), readyAt: make([]time.Time, len(nodes))}
	ctx, stopLoad := context.WithCancel(t.Context())
	defer stopLoad()
	var wg sync.WaitGroup
	defer wg.Wait()
	for i := range 4 {
		wg.Go(func() { l.enqueue(ctx, i) })
	}
	for i := range nodes {
		wg.Go(func() { l.probe(ctx, i) })
	}
	wg.Go(func() { l.others(ctx) })

	// Load before the outage.
	if !waitFor(60*time.Second, func() bool { return l.count(&l.acked) >= 200 }) {
		t.Fatalf("no load: %s", l)
	}
	before := l.count(&l.acked)
	stoppedAt := time.Now()
	if err := pg.Stop("immediate"); err != nil {
		t.Fatal(err)
	}
	// Down for at least 6 s (longer than the engine once retried recording
	// outcomes), and until both nodes said they are not ready
	// and enqueues were refused.
	minDown := time.NewTimer(6 * time.Second)
	<-minDown.C
	if !waitFor(30*time.Second, func() bool { return l.notReadyAll() && l.refused.Load() > 0 }) {
		t.Errorf("while PostgreSQL is down: %s", l)
	}
	restartAt := time.Now()
	if err := pg.Start(); err != nil {
		t.Fatal(err)
	}
	startedAt := time.Now()
	if !waitFor(60*time.Second, func() bool { return l.readyAll() }) {
		t.Fatalf("the nodes are not ready %v after PostgreSQL came back: %s", time.Since(startedAt), l)
	}
	readyAfter := l.lastReady().Sub(restartAt)
	// Load after the outage, then stop it.
	afterOutage := l.count(&l.acked)
	if !waitFor(60*time.Second, func() bool { return l.count(&l.acked) >= afterOutage+200 }) {
		t.Fatalf("enqueues do not succeed after PostgreSQL came back: %s", l)
	}
	stopLoad()
	wg.Wait()

	// Every acknowledged job exists and succeeds.
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	ids := l.ackedIDs()
	var exist, succeeded int
	last, lastAt := -1, time.Now()
	for {
		err := conn.QueryRow(t.Context(), `SELECT count(*), count(*) FILTER (WHERE state = 'succeeded') FROM gantry.jobs WHERE id = ANY($1::uuid[])`, ids).Scan(&exist, &succeeded)
		if err != nil {
			t.Fatal(err)
		}
		if exist != len(ids) {
			t.Fatalf("%d of the %d jobs whose enqueue got 202 exist", exist, len(ids))
		}
		if succeeded == len(ids) {
			break
		}
		if succeeded != last {
			last, lastAt = succeeded, time.Now()
		}
		if time.Since(lastAt) > 60*time.Second {
			counts, _ := stateCounts(t.Context(), conn, "gantry")
			t.Fatalf("%d of %d acknowledged jobs succeeded, no progress for a minute; jobs by state: %v\nnode 0:\n%s",
				succeeded, len(ids), counts, lastLines(nodes[0], 30))
		}
		time.Sleep(100 * time.Millisecond)
	}
	drained := time.Since(startedAt)
	// The jobs that ran while the database was down finished then; their
	// outcomes are recorded once it is back, within their leases (30 s),
	// rather than dropped, which would leave the jobs to be rescued when
	// their leases expire and run again.
	if drained > 15*time.Second {
		t.Errorf("the acknowledged jobs took %v to succeed after PostgreSQL came back", drained)
	}
	// Maintenance resumes too: leadership, lost with the connections, is
	// held again.
	if !waitFor(15*time.Second, func() bool { return leads(nodes[0]) || leads(nodes[1]) }) {
		t.Errorf("no node leads maintenance after PostgreSQL came back:\n%s", lastLines(nodes[0], 20))
	}
	var rerun int
	if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM gantry.jobs WHERE id = ANY($1::uuid[]) AND attempt > 1`, ids).Scan(&rerun); err != nil {
		t.Fatal(err)
	}
	for i, p := range nodes {
		select {
		case <-p.done:
			t.Errorf("node %d exited: %v\n%s", i, p.err, lastLines(p, 30))
		default:
		}
	}
	if n := l.count(&l.noRetryAfter); n > 0 {
		t.Errorf("%d answers 503 without Retry-After", n)
	}
	if n := l.count(&l.failed); n > 0 {
		t.Errorf("%d enqueues failed otherwise than with 503; first: %s", n, l.firstFailure)
	}
	t.Logf("PostgreSQL down %v; enqueues: %d accepted before, %d after (%d in all), %d refused with 503 and Retry-After, %d other failures; /readyz answered 503 %d times; ready %v after pg_ctl start (which took %v, crash recovery included), every acknowledged job succeeded %v after it, %d of them in a second attempt (whole test %v)",
		startedAt.Sub(stoppedAt).Round(time.Millisecond), before, len(ids)-before, len(ids), l.refused.Load(), l.count(&l.failed),
		l.count(&l.notReady), readyAfter.Round(time.Millisecond), startedAt.Sub(restartAt).Round(time.Millisecond), drained.Round(time.Millisecond), rerun, time.Since(began).Round(time.Millisecond))
}

// restartLoad enqueues jobs and probes readiness, and counts what it was
// answered.
type restartLoad struct {
	c     *apiClient
	nodes []*proc

	mu           sync.Mutex
	ids          []string
	acked        int
	noRetryAfter int
	failed       int
	firstFailure string
	notReady     int
	ready        []bool      // by node, the last /readyz answer
	readyAt      []time.Time // by node, when /readyz last turned 200
	refused      atomic.Int64
}

func (l *restartLoad) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return fmt.Sprintf("%d enqueues accepted, %d refused with 503, %d failed (first: %s); ready %v",
		l.acked, l.refused.Load(), l.failed, l.firstFailure, l.ready)
}

func (l *restartLoad) count(n *int) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return *n
}

func (l *restartLoad) ackedIDs() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.ids...)
}

// lastReady returns when the last node to turn ready did.
func (l *restartLoad) lastReady() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	var last time.Time
	for _, at := range l.readyAt {
		if at.After(last) {
			last = at
		}
	}
	return last
}

func (l *restartLoad) readyAll() bool    { return l.allReady(true) }
func (l *restartLoad) notReadyAll() bool { return l.allReady(false) }

func (l *restartLoad) allReady(want bool) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.ready {
		if r != want {
			return false
		}
	}
	return true
}

func (l *restartLoad) fail(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failed++
	if l.firstFailure == "" {
		l.firstFailure = fmt.Sprintf(format, args...)
	}
}

// enqueue sends one job at a time, to the nodes in turn, until ctx ends.
func (l *restartLoad) enqueue(ctx context.Context, i int) {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for n := i; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		p := l.nodes[n%len(l.nodes)]
		ans, err := l.c.post(context.WithoutCancel(ctx), p.url+"/v1/jobs", []byte(`{"kind":"gantry.sleep","args":{"ms":20}}`))
		switch {
		case err != nil:
			l.fail("POST /v1/jobs: %v", err)
		case ans.status == http.StatusAccepted:
			var j jobJSON
			if err := json.Unmarshal(ans.body, &j); err != nil || j.ID == "" {
				l.fail("202 with %s", ans.body)
				continue
			}
			l.mu.Lock()
			l.ids = append(l.ids, j.ID)
			l.acked++
			l.mu.Unlock()
		case ans.status == http.StatusServiceUnavailable:
			l.refused.Add(1)
			if !bytes.Contains(ans.body, []byte(`"code":"store_unavailable"`)) {
				l.fail("503 %s", ans.body)
			}
			if ans.header.Get("Retry-After") == "" {
				l.mu.Lock()
				l.noRetryAfter++
				l.mu.Unlock()
			}
		default:
			l.fail("%d %s", ans.status, ans.body)
		}
	}
}

// others sends the other requests of the API that need the store, in
// turn, until ctx ends: each must succeed or answer 503 like an enqueue.
func (l *restartLoad) others(ctx context.Context) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		p := l.nodes[n%len(l.nodes)]
		ids := l.ackedIDs()
		if len(ids) == 0 {
			continue
		}
		id := ids[n%len(ids)]
		var (
			what string
			ans  *apiAnswer
			err  error
			want = http.StatusOK
		)
		switch n % 5 {
		case 0:
			what, want = "POST /v1/jobs/batch", http.StatusAccepted
			ans, err = l.c.post(context.WithoutCancel(ctx), p.url+"/v1/jobs/batch",
				[]byte(`{"jobs":[{"kind":"gantry.sleep","args":{"ms":1}},{"kind":"gantry.sleep","args":{"ms":2}}]}`))
			if err == nil && ans.status == want {
				var b struct{ Jobs []jobJSON }
				if err := json.Unmarshal(ans.body, &b); err != nil || len(b.Jobs) != 2 {
					l.fail("%s: 202 with %s", what, ans.body)
					continue
				}
				l.mu.Lock()
				l.ids = append(l.ids, b.Jobs[0].ID, b.Jobs[1].ID)
				l.acked += 2
				l.mu.Unlock()
			}
		case 1:
			what = "POST /v1/queues/default/lease"
			ans, err = l.c.post(context.WithoutCancel(ctx), p.url+"/v1/queues/default/lease", []byte(`{"kinds":["restart.none"]}`))
		case 2:
			what = "GET /v1/jobs/{id}"
			ans, err = l.c.get(ctx, p.url+"/v1/jobs/"+id)
		case 3:
			what = "GET /v1/jobs"
			ans, err = l.c.get(ctx, p.url+"/v1/jobs?limit=5")
		case 4:
			what = "GET /v1/queues"
			ans, err = l.c.get(ctx, p.url+"/v1/queues")
		}
		switch {
		case err != nil:
			if ctx.Err() == nil {
				l.fail("%s: %v", what, err)
			}
		case ans.status == want:
		case ans.status == http.StatusServiceUnavailable:
			l.refused.Add(1)
			if !bytes.Contains(ans.body, []byte(`"code":"store_unavailable"`)) || ans.header.Get("Retry-After") == "" {
				l.fail("%s: 503 %v %s", what, ans.header, ans.body)
			}
		default:
			l.fail("%s: %d %s", what, ans.status, ans.body)
		}
	}
}

// probe asks node i's /readyz every 100 ms until ctx ends.
func (l *restartLoad) probe(ctx context.Context, i int) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		res, err := l.c.get(ctx, l.nodes[i].url+"/readyz")
		if err != nil {
			if ctx.Err() == nil {
				l.fail("GET /readyz: %v", err)
			}
			continue
		}
		l.mu.Lock()
		if res.status == http.StatusOK && !l.ready[i] {
			l.readyAt[i] = time.Now()
		}
		l.ready[i] = res.status == http.StatusOK
		switch res.status {
		case http.StatusOK:
		case http.StatusServiceUnavailable:
			l.notReady++
		default:
			l.failed++
		}
		l.mu.Unlock()
	}
}

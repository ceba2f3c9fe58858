package ui_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gantry-dev/gantry"

	"github.com/gantry-dev/gantry/internal/pgtest"
	"github.com/gantry-dev/gantry/store"
	"github.com/gantry-dev/gantry/store/postgres"
	"github.com/gantry-dev/gantry/ui"
)

// envLatencyJobs sets how many jobs TestDashboardLatency puts in each
// store: 5,000 by default (make test, which checks the answers and
// reports the figures under the race detector, without holding them to
// latencyBound), 1,000,000 with make bench-dashboard (docs/benchmarks.md),
// which holds them to it.
const envLatencyJobs = "GANTRY_DASHBOARD_JOBS"

// latencyBound is the p99 every dashboard answer must stay under, warm.
const latencyBound = 200 * time.Millisecond

// TestDashboardLatency fills a store with jobs (ten kinds, five queues;
// available, scheduled, running, succeeded and failed ones) and measures
// every answer the dashboard's pages need, through the dashboard's paths:
// the overview (queues, nodes), the first page of the job list with each
// filter, a job, and a job's workflow (one of 10,000 jobs, 501 with make
// test, answered with its counts, and one of MaxGraphJobs, with the jobs
// to draw). Each is
// asked 10 times to warm up, then 200 times; with GANTRY_DASHBOARD_JOBS
// set, the test fails if a p99 is over latencyBound. It runs on the
// embedded store and, with GANTRY_TEST_POSTGRES_URL, on PostgreSQL.
func TestDashboardLatency(t *testing.T) {
	t.Parallel()
	n, enforce := 5000, false
	if v := os.Getenv(envLatencyJobs); v != "" {
		enforce = true
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1000 {
			t.Fatalf("%s=%q: want a number of jobs, at least 1000", envLatencyJobs, v)
		}
	}
	t.Run("embedded", func(t *testing.T) { measureDashboard(t, setup(t, nil), n, enforce, nil) })
	t.Run("postgres", func(t *testing.T) {
		url := os.Getenv("GANTRY_TEST_POSTGRES_URL")
		if url == "" {
			if os.Getenv(pgtest.EnvRequire) == "1" {
				t.Fatal("GANTRY_REQUIRE_PG=1 but GANTRY_TEST_POSTGRES_URL is not set")
			}
			t.Skip("set GANTRY_TEST_POSTGRES_URL=postgres://... to measure the dashboard on PostgreSQL")
		}
		schema := pgtest.Schema(t, url, "gantry_ui_")
		ctx := context.Background()
		octx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		pg, err := postgres.Open(octx, url, &postgres.Options{Schema: schema, Migrate: true})
		if err != nil {
			t.Fatal(err)
		}
		// After a bulk load autovacuum analyzes the table in its own time;
		// the measurement starts once it has, as a warm server's would.
		analyze := func() {
			conn, err := pgx.Connect(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(context.Background())
			if _, err := conn.Exec(context.Background(), `ANALYZE `+pgx.Identifier{schema, "jobs"}.Sanitize()); err != nil {
				t.Fatal(err)
			}
		}
		measureDashboard(t, setup(t, &options{driver: pg}), n, enforce, analyze)
	})
}

func measureDashboard(t *testing.T, e *env, n int, enforce bool, afterFill func()) {
	ctx := context.Background()
	start := time.Now()
	now := time.Now()
	// A workflow of the most jobs one may hold (with make test, one over
	// MaxGraphJobs, which is answered the same way), answered with its
	// counts alone, and one of MaxGraphJobs, answered with every job to
	// draw; enqueued first, so that the job list's first pages (newest
	// first) do not pass them.
	largeJobs := gantry.DefaultMaxWorkflowJobs
	if !enforce {
		largeJobs = ui.MaxGraphJobs + 1
	}
	large := e.waitingWorkflow(largeJobs)
	drawn := e.waitingWorkflow(ui.MaxGraphJobs)
	var some []string
	const batch = 1000
	for i := 0; i < n; i += batch {
		jobs := make([]*store.NewJob, 0, batch)
		for j := i; j < min(i+batch, n); j++ {
			runAt := now
			if j%10 == 9 {
				runAt = now.Add(time.Hour) // scheduled
			}
			jobs = append(jobs, &store.NewJob{Kind: fmt.Sprintf("k%d", j%10), Queue: fmt.Sprintf("q%d", j%5),
				Args: json.RawMessage(`{"n":` + strconv.Itoa(j) + `,"image":"s3://bucket/img.png"}`), Priority: store.DefaultPriority,
				RunAt: runAt, MaxAttempts: 3})
		}
		res, err := e.driver.Enqueue(ctx, &store.EnqueueParams{Jobs: jobs, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		some = append(some, res.Jobs[len(res.Jobs)/2].Job.ID)
	}
	// Some jobs run, succeed and fail, so that every filter has answers.
	claimed, err := e.driver.Claim(ctx, &store.ClaimParams{Queue: "q0", Max: 300, LeaseFor: time.Hour, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	var items []store.FinishItem
	for i, j := range claimed.Jobs {
		switch {
		case i < 100:
			items = append(items, store.FinishItem{ID: j.ID, LeaseToken: j.LeaseToken, Outcome: store.OutcomeSucceeded, Result: json.RawMessage(`{}`)})
		case i < 200:
			items = append(items, store.FinishItem{ID: j.ID, LeaseToken: j.LeaseToken, Outcome: store.OutcomeFailed, Permanent: true,
				Error: &store.AttemptError{Attempt: 1, At: now, Message: "broken"}})
		}
	}
	if _, err := e.driver.Finish(ctx, &store.FinishParams{Items: items, Now: now}); err != nil {
		t.Fatal(err)
	}
	if err := e.driver.(store.Nodes).BeatNode(ctx, &store.Node{ID: "n1", StartedAt: now, HeartbeatAt: time.Now(), Workers: 16}); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d jobs stored in %v", n, time.Since(start).Round(time.Millisecond))
	if afterFill != nil {
		afterFill()
	}

	cases := []struct {
		name, path string
		// apiOnly marks an answer of the API that the dashboard no longer
		// asks for (the overview reads it in the background): measured
		// 20 times and reported, not held to latencyBound.
		apiOnly bool
	}{
		{"page", prefix, false},
		{"overview", prefix + "api/overview", false},
		{"GET /v1/queues (API)", prefix + "api/v1/queues", true},
		{"GET /v1/nodes (API)", prefix + "api/v1/nodes", true},
		{"jobs", prefix + "api/v1/jobs?limit=50", false},
		{"jobs state=available", prefix + "api/v1/jobs?limit=50&state=available", false},
		{"jobs state=scheduled", prefix + "api/v1/jobs?limit=50&state=scheduled", false},
		{"jobs state=running", prefix + "api/v1/jobs?limit=50&state=running", false},
		{"jobs state=failed", prefix + "api/v1/jobs?limit=50&state=failed", false},
		{"jobs kind=k3", prefix + "api/v1/jobs?limit=50&kind=k3", false},
		{"jobs queue=q2", prefix + "api/v1/jobs?limit=50&queue=q2", false},
		{"jobs kind+queue+state", prefix + "api/v1/jobs?limit=50&kind=k3&queue=q3&state=available", false},
		{"job", "", false},
		{fmt.Sprintf("workflow of %d jobs", largeJobs), prefix + "api/workflows/" + large, false},
		{"workflow of 500 jobs (graph)", prefix + "api/workflows/" + drawn, false},
	}
	for _, c := range cases {
		var took []time.Duration
		rounds := 210
		switch {
		case c.apiOnly:
			rounds = 30
		case !enforce:
			rounds = 60 // make test: the answers are checked, the figures only reported
		}
		for i := range rounds {
			p := c.path
			if p == "" {
				p = prefix + "api/jobs/" + some[i%len(some)]
			}
			t0 := time.Now()
			res, err := http.Get(e.url + p)
			if err != nil {
				t.Fatal(err)
			}
			var body json.RawMessage
			if c.name != "page" {
				err = json.NewDecoder(res.Body).Decode(&body)
			}
			res.Body.Close()
			d := time.Since(t0)
			if err != nil || res.StatusCode != http.StatusOK {
				t.Fatalf("%s: %s, %v", p, res.Status, err)
			}
			if i >= 10 { // warm-up
				took = append(took, d)
			}
		}
		slices.Sort(took)
		p50, p99, worst := took[len(took)/2], took[len(took)*99/100], took[len(took)-1]
		t.Logf("%-24s p50 %7.2f ms  p99 %7.2f ms  max %7.2f ms", c.name, ms(p50), ms(p99), ms(worst))
		if enforce && p99 > latencyBound && !c.apiOnly {
			t.Errorf("%s: p99 %v over %v with %d jobs", c.name, p99, latencyBound, n)
		}
	}
}

// waitingWorkflow enqueues a workflow of n jobs: a root scheduled in an
// hour and n-1 jobs that depend on it, so that they wait and the job
// list's state filters are measured as without it. It returns the
// workflow's id.
func (e *env) waitingWorkflow(n int) string {
	e.t.Helper()
	w := gantry.Workflow{Name: "waiting", Jobs: []gantry.WorkflowJob{step(e.t, "root", nil)}}
	w.Jobs[0].Opts = &gantry.EnqueueOpts{Delay: time.Hour}
	for i := 1; i < n; i++ {
		w.Jobs = append(w.Jobs, step(e.t, "s"+strconv.Itoa(i), []string{"root"}))
	}
	res, err := e.client.EnqueueWorkflow(context.Background(), w, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return res.Workflow.ID
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

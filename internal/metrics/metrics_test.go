package metrics_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/gantry-dev/gantry/internal/metrics"
	"github.com/gantry-dev/gantry/store"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

type fakeQueues struct {
	mu  sync.Mutex
	qs  []store.QueueInfo
	err error
}

func (f *fakeQueues) Queues(context.Context) ([]store.QueueInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.qs, f.err
}

func setup(t *testing.T, cfg *metrics.Config) *metrics.Metrics {
	t.Helper()
	if cfg == nil {
		cfg = &metrics.Config{}
	}
	cfg.DisableRuntime = true
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return t0 }
	}
	return metrics.New(cfg)
}

func compare(t *testing.T, m *metrics.Metrics, want string, names ...string) {
	t.Helper()
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
}

func TestJobHooks(t *testing.T) {
	t.Parallel()
	m := setup(t, nil)
	j := &store.Job{Kind: "thumbnail", Queue: "images", CreatedAt: t0, RunAt: t0.Add(-time.Minute), StartedAt: t0.Add(2 * time.Second)}
	m.JobStarted(j)
	// A retry: it could run at RunAt, after CreatedAt.
	m.JobStarted(&store.Job{Kind: "thumbnail", Queue: "images", CreatedAt: t0, RunAt: t0.Add(10 * time.Second), StartedAt: t0.Add(10*time.Second + 500*time.Millisecond)})
	j.State = store.StateSucceeded
	m.JobFinished(j, 3*time.Second)
	j.State = store.StateRetrying
	m.JobFinished(j, 20*time.Millisecond)

	compare(t, m, `
# HELP gantry_jobs_started_total Attempts started, by queue and kind.
# TYPE gantry_jobs_started_total counter
gantry_jobs_started_total{kind="thumbnail",queue="images"} 2
# HELP gantry_jobs_finished_total Attempts ended, by queue, kind and the state they left the job in (succeeded, failed, cancelled, retrying, scheduled when snoozed, available when released).
# TYPE gantry_jobs_finished_total counter
gantry_jobs_finished_total{kind="thumbnail",queue="images",state="retrying"} 1
gantry_jobs_finished_total{kind="thumbnail",queue="images",state="succeeded"} 1
`, "gantry_jobs_started_total", "gantry_jobs_finished_total")

	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	sums := map[string]float64{}
	counts := map[string]uint64{}
	for _, mf := range mfs {
		for _, mt := range mf.GetMetric() {
			if h := mt.GetHistogram(); h != nil {
				sums[mf.GetName()] = h.GetSampleSum()
				counts[mf.GetName()] = h.GetSampleCount()
			}
		}
	}
	if got := sums["gantry_job_wait_seconds"]; got != 2.5 {
		t.Errorf("wait: sum %v, want 2.5 (2s after created_at, 0.5s after run_at)", got)
	}
	if got := counts["gantry_job_run_seconds"]; got != 2 {
		t.Errorf("run: %d observations, want 2", got)
	}
	if got := sums["gantry_job_run_seconds"]; got != 3.02 {
		t.Errorf("run: sum %v, want 3.02", got)
	}
}

func TestJobsEnqueued(t *testing.T) {
	t.Parallel()
	m := setup(t, nil)
	m.JobsEnqueued([]store.Enqueued{
		{Job: &store.Job{Kind: "a", Queue: "default"}},
		{Job: &store.Job{Kind: "a", Queue: "default"}},
		{Job: &store.Job{Kind: "a", Queue: "default"}, Duplicate: true},
		{Job: &store.Job{Kind: "b", Queue: "q2"}},
	})
	compare(t, m, `
# HELP gantry_jobs_enqueued_total Jobs created, by queue and kind (duplicates of a unique key and idempotent replays excluded).
# TYPE gantry_jobs_enqueued_total counter
gantry_jobs_enqueued_total{kind="a",queue="default"} 2
gantry_jobs_enqueued_total{kind="b",queue="q2"} 1
`, "gantry_jobs_enqueued_total")
}

func TestQueueGauges(t *testing.T) {
	t.Parallel()
	src := &fakeQueues{qs: []store.QueueInfo{
		{Name: "default", Counts: map[store.State]int64{store.StateAvailable: 7, store.StateRunning: 2}, OldestAvailableAt: t0.Add(-90 * time.Second)},
		{Name: "idle", Paused: true},
	}}
	m := setup(t, &metrics.Config{Queues: src})
	compare(t, m, `
# HELP gantry_queue_oldest_available_age_seconds How long the job available the longest has been available; 0 when none is.
# TYPE gantry_queue_oldest_available_age_seconds gauge
gantry_queue_oldest_available_age_seconds{queue="default"} 90
gantry_queue_oldest_available_age_seconds{queue="idle"} 0
# HELP gantry_queue_paused 1 when the queue is paused.
# TYPE gantry_queue_paused gauge
gantry_queue_paused{queue="default"} 0
gantry_queue_paused{queue="idle"} 1
# HELP gantry_store_up 1 when the last scrape could read the queues from the store.
# TYPE gantry_store_up gauge
gantry_store_up 1
`, "gantry_queue_oldest_available_age_seconds", "gantry_queue_paused", "gantry_store_up")

	var b strings.Builder
	b.WriteString("# HELP gantry_queue_jobs Jobs per queue and state, read from the store at scrape time.\n# TYPE gantry_queue_jobs gauge\n")
	for _, q := range []string{"default", "idle"} {
		for _, s := range []string{"available", "cancelled", "failed", "retrying", "running", "scheduled", "succeeded", "waiting"} {
			n := 0
			if q == "default" && s == "available" {
				n = 7
			}
			if q == "default" && s == "running" {
				n = 2
			}
			fmt.Fprintf(&b, "gantry_queue_jobs{queue=%q,state=%q} %d\n", q, s, n)
		}
	}
	compare(t, m, b.String(), "gantry_queue_jobs")

	// Gauges follow the store at every scrape: nothing is cached.
	src.mu.Lock()
	src.qs = []store.QueueInfo{{Name: "default", Counts: map[store.State]int64{store.StateAvailable: 1}}}
	src.mu.Unlock()
	if n, err := testutil.GatherAndCount(m.Registry(), "gantry_queue_jobs"); err != nil || n != 8 {
		t.Errorf("after the queues changed: %d series, %v", n, err)
	}
}

func TestStoreDown(t *testing.T) {
	t.Parallel()
	m := setup(t, &metrics.Config{Queues: &fakeQueues{err: errors.New("disk on fire")}})
	compare(t, m, `
# HELP gantry_store_up 1 when the last scrape could read the queues from the store.
# TYPE gantry_store_up gauge
gantry_store_up 0
`, "gantry_store_up")
	if n, _ := testutil.GatherAndCount(m.Registry(), "gantry_queue_jobs"); n != 0 {
		t.Errorf("%d queue series without a store", n)
	}
}

func TestLabelLimit(t *testing.T) {
	t.Parallel()
	src := &fakeQueues{}
	for i := range 5 {
		src.qs = append(src.qs, store.QueueInfo{Name: fmt.Sprintf("q%d", i), Counts: map[store.State]int64{store.StateAvailable: 1}})
	}
	m := setup(t, &metrics.Config{MaxLabelValues: 3, Queues: src})
	for i := range 10 {
		m.JobStarted(&store.Job{Kind: fmt.Sprintf("kind%d", i), Queue: "q0", StartedAt: t0})
	}
	if n, _ := testutil.GatherAndCount(m.Registry(), "gantry_jobs_started_total"); n != 4 {
		t.Errorf("%d started series, want 3 kinds and %s", n, metrics.OtherLabel)
	}
	// Queue labels q0..q2 are admitted; q3 and q4 are summed under _other.
	compare(t, m, `
# HELP gantry_queue_paused 1 when the queue is paused.
# TYPE gantry_queue_paused gauge
gantry_queue_paused{queue="_other"} 0
gantry_queue_paused{queue="q0"} 0
gantry_queue_paused{queue="q1"} 0
gantry_queue_paused{queue="q2"} 0
`, "gantry_queue_paused")
}

func TestHTTP(t *testing.T) {
	t.Parallel()
	m := setup(t, nil)
	m.ObserveHTTP("POST /v1/jobs", 202, 3*time.Millisecond)
	m.ObserveHTTP("POST /v1/jobs", 429, time.Millisecond)
	m.ObserveHTTP("", 404, time.Millisecond)
	m.Problem("queue_full")
	m.Problem("queue_full")
	m.Problem("draining")
	compare(t, m, `
# HELP gantry_http_requests_total HTTP requests by route pattern and status code.
# TYPE gantry_http_requests_total counter
gantry_http_requests_total{code="202",route="POST /v1/jobs"} 1
gantry_http_requests_total{code="404",route="unmatched"} 1
gantry_http_requests_total{code="429",route="POST /v1/jobs"} 1
# HELP gantry_http_problems_total HTTP requests answered with an error, by problem code; queue_full (429) and draining (503) are load shedding.
# TYPE gantry_http_problems_total counter
gantry_http_problems_total{code="draining"} 1
gantry_http_problems_total{code="queue_full"} 2
`, "gantry_http_requests_total", "gantry_http_problems_total")
	if n, _ := testutil.GatherAndCount(m.Registry(), "gantry_http_request_duration_seconds"); n != 3 {
		t.Errorf("%d latency series", n)
	}
}

func TestHandler(t *testing.T) {
	t.Parallel()
	m := metrics.New(&metrics.Config{Queues: &fakeQueues{}})
	m.Problem("draining")
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	res, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %d", res.StatusCode)
	}
	for _, want := range []string{"go_goroutines ", "process_", "gantry_http_problems_total{code=\"draining\"} 1", "gantry_store_up 1"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if problems, err := testutil.GatherAndLint(m.Registry()); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}

// fakeDriver is a store.Driver of which only Enqueue is called.
type fakeDriver struct {
	store.Driver
	res *store.EnqueueResult
}

func (d *fakeDriver) Enqueue(context.Context, *store.EnqueueParams) (*store.EnqueueResult, error) {
	return d.res, nil
}

type notifyingDriver struct {
	fakeDriver
	notified bool
}

func (d *notifyingDriver) Notify(func([]store.Change)) func() {
	d.notified = true
	return func() {}
}

func TestInstrumentStore(t *testing.T) {
	t.Parallel()
	m := setup(t, nil)
	job := &store.Job{Kind: "a", Queue: "default"}
	d := &fakeDriver{res: &store.EnqueueResult{Jobs: []store.Enqueued{{Job: job}}}}
	wrapped := metrics.InstrumentStore(d, m)
	if _, ok := store.As[store.Notifier](wrapped); ok {
		t.Error("a store without Notify gained it")
	}
	ctx := context.Background()
	if _, err := wrapped.Enqueue(ctx, &store.EnqueueParams{}); err != nil {
		t.Fatal(err)
	}
	d.res = &store.EnqueueResult{Jobs: []store.Enqueued{{Job: job}}, Replayed: true}
	if _, err := wrapped.Enqueue(ctx, &store.EnqueueParams{}); err != nil {
		t.Fatal(err)
	}
	compare(t, m, `
# HELP gantry_jobs_enqueued_total Jobs created, by queue and kind (duplicates of a unique key and idempotent replays excluded).
# TYPE gantry_jobs_enqueued_total counter
gantry_jobs_enqueued_total{kind="a",queue="default"} 1
`, "gantry_jobs_enqueued_total")

	nd := &notifyingDriver{}
	n, ok := store.As[store.Notifier](metrics.InstrumentStore(nd, m))
	if !ok {
		t.Fatal("the Notifier capability was lost")
	}
	n.Notify(nil)()
	if !nd.notified {
		t.Error("Notify did not reach the store")
	}
}

package engine

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gantry-dev/gantry/store"
	"github.com/gantry-dev/gantry/store/embedded"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestBackoffBounds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		attempt int
		ceiling time.Duration
	}{
		{0, time.Second}, {1, time.Second}, {2, 2 * time.Second}, {3, 4 * time.Second},
		{12, 2048 * time.Second}, {13, time.Hour}, {100, time.Hour}, {1 << 30, time.Hour},
	}
	for _, tt := range tests {
		if got := BackoffCeiling(tt.attempt); got != tt.ceiling {
			t.Errorf("BackoffCeiling(%d) = %v, want %v", tt.attempt, got, tt.ceiling)
		}
		for range 200 {
			if d := Backoff(tt.attempt); d < 0 || d >= tt.ceiling {
				t.Fatalf("Backoff(%d) = %v, outside [0, %v)", tt.attempt, d, tt.ceiling)
			}
		}
		// The extremes of the random source map to the bounds.
		if d := jittered(tt.attempt, BackoffBase, BackoffCap, func(n int64) int64 { return n - 1 }); d != tt.ceiling-1 {
			t.Errorf("largest jitter for attempt %d = %v, want %v", tt.attempt, d, tt.ceiling-1)
		}
		if d := jittered(tt.attempt, BackoffBase, BackoffCap, func(int64) int64 { return 0 }); d != 0 {
			t.Errorf("smallest jitter for attempt %d = %v, want 0", tt.attempt, d)
		}
	}
}

type harness struct {
	st       *embedded.Store
	e        *Engine
	finished chan *store.Job
}

// setup opens a store and an engine on it running work; the engine is
// started and stopped at cleanup.
func setup(t *testing.T, cfg Config, work WorkFunc) *harness {
	t.Helper()
	return setupWrapped(t, cfg, work, nil)
}

// setupWrapped is setup with the engine working on wrap(store) instead of
// the store itself, when wrap is not nil.
func setupWrapped(t *testing.T, cfg Config, work WorkFunc, wrap func(store.Driver) store.Driver) *harness {
	t.Helper()
	st, err := embedded.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{st: st, finished: make(chan *store.Job, 1024)}
	cfg.Store = st
	if wrap != nil {
		cfg.Store = wrap(st)
	}
	cfg.Work = work
	if cfg.Kinds == nil {
		cfg.Kinds = []string{"k"}
	}
	cfg.Hooks.Finished = func(j *store.Job, _ time.Duration) { h.finished <- j }
	h.e, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := h.e.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
		if err := st.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return h
}

func (h *harness) enqueue(t *testing.T, n int, mod func(*store.NewJob)) []string {
	t.Helper()
	jobs := make([]*store.NewJob, n)
	for i := range jobs {
		jobs[i] = &store.NewJob{Kind: "k", Queue: "default", Args: []byte(`{}`), Priority: store.DefaultPriority, MaxAttempts: 3, RunAt: time.Now()}
		if mod != nil {
			mod(jobs[i])
		}
	}
	res, err := h.st.Enqueue(context.Background(), &store.EnqueueParams{Jobs: jobs, Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, n)
	for i, e := range res.Jobs {
		ids[i] = e.Job.ID
	}
	return ids
}

// final waits for the next job the engine records as final.
func (h *harness) final(t *testing.T) *store.Job {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case j := <-h.finished:
			if j.State.Final() {
				return j
			}
		case <-timeout:
			t.Fatal("no job finished within 20s")
		}
	}
}

func TestWorkersBoundConcurrency(t *testing.T) {
	t.Parallel()
	var running, peak atomic.Int64
	h := setup(t, Config{Queues: map[string]int{"default": 4}}, func(ctx context.Context, a *Attempt) Result {
		n := running.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(time.Millisecond)
		running.Add(-1)
		return Result{}
	})
	h.enqueue(t, 200, nil)
	for range 200 {
		h.final(t)
	}
	if p := peak.Load(); p > 4 || p < 1 {
		t.Errorf("peak concurrency %d with 4 workers", p)
	}
}

func TestTimeoutFailsTheAttempt(t *testing.T) {
	t.Parallel()
	h := setup(t, Config{Backoff: func(int) time.Duration { return time.Millisecond }}, func(ctx context.Context, a *Attempt) Result {
		<-ctx.Done()
		return Result{Err: ctx.Err()}
	})
	h.enqueue(t, 1, func(j *store.NewJob) { j.Timeout = 20 * time.Millisecond; j.MaxAttempts = 2 })
	j := h.final(t)
	if j.State != store.StateFailed || len(j.Errors) != 2 {
		t.Fatalf("job = %s with %d errors", j.State, len(j.Errors))
	}
	if msg := j.Errors[0].Message; !strings.Contains(msg, "timed out after 20ms") {
		t.Errorf("error = %q, want it to name the timeout", msg)
	}
}

func TestHeartbeatsKeepALongJobsLease(t *testing.T) {
	t.Parallel()
	h := setup(t, Config{LeaseFor: 150 * time.Millisecond, MaintenanceInterval: 10 * time.Millisecond}, func(ctx context.Context, a *Attempt) Result {
		select {
		case <-time.After(600 * time.Millisecond): // four leases long
			return Result{}
		case <-ctx.Done():
			return Result{Err: context.Cause(ctx)}
		}
	})
	h.enqueue(t, 1, nil)
	j := h.final(t)
	if j.State != store.StateSucceeded || j.Attempt != 1 {
		t.Fatalf("job = %s after %d attempts (%+v); the lease was not kept alive", j.State, j.Attempt, j.Errors)
	}
}

func TestExpiredLeaseIsRescuedAndRunAgain(t *testing.T) {
	t.Parallel()
	h := setup(t, Config{MaintenanceInterval: 10 * time.Millisecond, Backoff: func(int) time.Duration { return time.Millisecond }},
		func(ctx context.Context, a *Attempt) Result { return Result{} })
	// A worker elsewhere claims the job and dies: nobody heartbeats.
	h.enqueue(t, 1, func(j *store.NewJob) { j.Kind = "k2" })
	ctx := context.Background()
	res, err := h.st.Claim(ctx, &store.ClaimParams{Queue: "default", Max: 1, LeaseFor: 50 * time.Millisecond, Now: time.Now()})
	if err != nil || len(res.Jobs) != 1 {
		t.Fatalf("claim = %+v, %v", res, err)
	}
	id, token := res.Jobs[0].ID, res.Jobs[0].LeaseToken
	for {
		j, err := h.st.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if j.State != store.StateRunning {
			if len(j.Errors) != 1 || j.Attempt != 1 {
				t.Fatalf("rescued job = %s, attempt %d, errors %+v", j.State, j.Attempt, j.Errors)
			}
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	fin, err := h.st.Finish(ctx, &store.FinishParams{Items: []store.FinishItem{{ID: id, LeaseToken: token, Outcome: store.OutcomeSucceeded}}, Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(fin.Errs[0], store.ErrLeaseLost) {
		t.Errorf("a completion from the expired attempt = %v, want ErrLeaseLost", fin.Errs[0])
	}
}

func TestStopWaitsForRunningJobs(t *testing.T) {
	t.Parallel()
	started := make(chan struct{})
	var once sync.Once
	h := setup(t, Config{}, func(ctx context.Context, a *Attempt) Result {
		once.Do(func() { close(started) })
		time.Sleep(100 * time.Millisecond)
		return Result{Output: []byte(`"done"`)}
	})
	ids := h.enqueue(t, 1, nil)
	<-started
	if err := h.e.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	j, err := h.st.Get(context.Background(), ids[0])
	if err != nil {
		t.Fatal(err)
	}
	if j.State != store.StateSucceeded || string(j.Result) != `"done"` {
		t.Errorf("after a graceful stop the job is %s with result %s", j.State, j.Result)
	}
}

func TestStopAbandonsHandlersThatIgnoreCancellation(t *testing.T) {
	t.Parallel()
	started := make(chan struct{})
	release := make(chan struct{})
	returned := make(chan struct{})
	h := setup(t, Config{StopGrace: 20 * time.Millisecond}, func(ctx context.Context, a *Attempt) Result {
		close(started)
		<-release // ignores ctx
		defer close(returned)
		return Result{}
	})
	ids := h.enqueue(t, 1, nil)
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := h.e.Stop(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Stop = %v, want the deadline error", err)
	}
	j, err := h.st.Get(context.Background(), ids[0])
	if err != nil {
		t.Fatal(err)
	}
	if j.State != store.StateAvailable {
		t.Errorf("the abandoned job is %s, want available at once", j.State)
	}
	close(release)
	<-returned
}

func TestPeriodicJobsAreEnqueuedOncePerTick(t *testing.T) {
	t.Parallel()
	st, err := embedded.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	tick := time.Now().Add(time.Hour).Truncate(time.Second)
	p := Periodic{
		Name: "report",
		Next: func(time.Time) time.Time { return tick },
		Job:  store.NewJob{Kind: "report", Queue: "default", Args: []byte(`{}`), Priority: 5, MaxAttempts: 1},
	}
	// Two engines on one store, as two nodes or a restart would be.
	for range 2 {
		e, err := New(Config{Store: st, Work: func(context.Context, *Attempt) Result { return Result{} }, Periodic: []Periodic{p}, MaintenanceInterval: 5 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		e.maintain(context.Background(), false, map[string]time.Time{}, &clockSteps{})
		e.maintain(context.Background(), false, map[string]time.Time{}, &clockSteps{})
	}
	page, err := st.List(context.Background(), &store.ListParams{Kind: "report"})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Jobs) != 1 {
		t.Fatalf("%d jobs for one tick, want 1", len(page.Jobs))
	}
	j := page.Jobs[0]
	if j.State != store.StateScheduled || !j.RunAt.Equal(tick) || j.UniqueKey != PeriodicKey("report", tick) {
		t.Errorf("periodic job = %s at %v key %q", j.State, j.RunAt, j.UniqueKey)
	}
}

// failingFinish fails the first fails calls of Finish, as a store that is
// down for a while.
type failingFinish struct {
	store.Driver
	fails atomic.Int64
}

func (s *failingFinish) Finish(ctx context.Context, p *store.FinishParams) (*store.FinishResult, error) {
	if s.fails.Add(-1) >= 0 {
		return nil, errors.New("the store is down")
	}
	return s.Driver.Finish(ctx, p)
}

// An outcome is recorded once the store is back, however many tries that
// takes, while the attempt's lease lasts: the job does not wait for its
// lease to expire to run again.
func TestOutcomeOutlivesStoreOutage(t *testing.T) {
	t.Parallel()
	h := setupWrapped(t, Config{}, func(context.Context, *Attempt) Result { return Result{} },
		func(st store.Driver) store.Driver {
			down := &failingFinish{Driver: st}
			down.fails.Store(10) // as many as recordTries
			return down
		})
	h.enqueue(t, 1, func(j *store.NewJob) { j.MaxAttempts = 1 })
	if j := h.final(t); j.State != store.StateSucceeded {
		t.Errorf("the job is %s", j.State)
	}
}

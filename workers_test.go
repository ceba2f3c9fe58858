package gantry_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gantry-dev/gantry"
	"github.com/gantry-dev/gantry/gantrytest"
	"github.com/gantry-dev/gantry/store"
	"github.com/gantry-dev/gantry/store/embedded"
)

type remoteArgs struct {
	N int `json:"n"`
}

func (remoteArgs) Kind() string { return "remote" }

type localArgs struct{}

func (localArgs) Kind() string { return "local" }

// leaseSetup opens an embedded store in a temp dir and an unstarted client
// on it whose registry has a handler for localArgs only, so that "remote"
// jobs are for external workers. cfg may be nil.
func leaseSetup(t *testing.T, cfg *gantry.Config) *gantry.Client {
	t.Helper()
	t.Parallel()
	st, err := embedded.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg == nil {
		cfg = &gantry.Config{}
	}
	reg := gantry.NewRegistry()
	gantry.Register(reg, gantry.HandlerFunc[localArgs](func(context.Context, *gantry.Task[localArgs]) error { return nil }))
	cfg.Registry = reg
	c, err := gantry.NewClient(st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Stop(context.Background()); err != nil {
			t.Errorf("stop: %v", err)
		}
		if err := st.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	return c
}

func enqueueRemote(t *testing.T, c *gantry.Client, n int, opts *gantry.EnqueueOpts) *gantry.Job {
	t.Helper()
	e, err := c.Enqueue(t.Context(), remoteArgs{N: n}, opts)
	if err != nil {
		t.Fatal(err)
	}
	return e.Job
}

func leaseOne(t *testing.T, c *gantry.Client, p *gantry.LeaseParams) *gantry.Job {
	t.Helper()
	jobs, err := c.Workers().Lease(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 1 {
		t.Fatalf("leased %d jobs, want 1", len(jobs))
	}
	return jobs[0]
}

func TestLeaseHandsOutOnlyKindsWithoutHandler(t *testing.T) {
	c := leaseSetup(t, nil)
	if _, err := c.Enqueue(t.Context(), localArgs{}, nil); err != nil {
		t.Fatal(err)
	}
	remote := enqueueRemote(t, c, 1, nil)

	jobs, err := c.Workers().Lease(t.Context(), &gantry.LeaseParams{Max: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 1 || jobs[0].ID != remote.ID {
		t.Fatalf("leased %v, want only the remote job %s", jobs, remote.ID)
	}
	j := jobs[0]
	if j.State != gantry.StateRunning || j.Attempt != 1 || j.LeaseToken == "" || j.LeaseExpiresAt.IsZero() {
		t.Errorf("leased job = state %s, attempt %d, token %q, expires %v", j.State, j.Attempt, j.LeaseToken, j.LeaseExpiresAt)
	}

	// Asking for the local kind by name does not hand it out either.
	jobs, err = c.Workers().Lease(t.Context(), &gantry.LeaseParams{Kinds: []string{"local"}})
	if err != nil || len(jobs) != 0 {
		t.Fatalf("lease of kind local = %v, %v; want none", jobs, err)
	}
}

func TestLeaseFiltersByKind(t *testing.T) {
	c := leaseSetup(t, nil)
	enqueueRemote(t, c, 1, nil)
	jobs, err := c.Workers().Lease(t.Context(), &gantry.LeaseParams{Kinds: []string{"other"}})
	if err != nil || len(jobs) != 0 {
		t.Fatalf("lease of kind other = %v, %v; want none", jobs, err)
	}
	leaseOne(t, c, &gantry.LeaseParams{Kinds: []string{"remote"}})
}

func TestLeaseWaitsForAJob(t *testing.T) {
	c := leaseSetup(t, nil)
	type result struct {
		jobs []*gantry.Job
		err  error
	}
	done := make(chan result, 1)
	start := time.Now()
	go func() {
		jobs, err := c.Workers().Lease(context.Background(), &gantry.LeaseParams{Wait: 30 * time.Second})
		done <- result{jobs, err}
	}()
	want := enqueueRemote(t, c, 1, nil)
	res := <-done
	if res.err != nil {
		t.Fatal(res.err)
	}
	if len(res.jobs) != 1 || res.jobs[0].ID != want.ID {
		t.Fatalf("leased %v, want %s", res.jobs, want.ID)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("lease returned after %v; it should return when the job arrives", took)
	}
}

func TestLeaseReturnsNothingAfterTheWait(t *testing.T) {
	c := leaseSetup(t, nil)
	jobs, err := c.Workers().Lease(t.Context(), &gantry.LeaseParams{Wait: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if jobs == nil || len(jobs) != 0 {
		t.Fatalf("lease = %#v, want an empty slice", jobs)
	}
}

func TestLeaseEndsWhenContextEnds(t *testing.T) {
	c := leaseSetup(t, nil)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := c.Workers().Lease(ctx, &gantry.LeaseParams{Wait: time.Hour})
		done <- err
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("lease after cancel = %v, want context.Canceled", err)
	}
}

func TestLeaseEndsWhenClientStops(t *testing.T) {
	c := leaseSetup(t, nil)
	done := make(chan error, 1)
	go func() {
		_, err := c.Workers().Lease(context.Background(), &gantry.LeaseParams{Wait: time.Hour})
		done <- err
	}()
	if err := c.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, gantry.ErrStopped) {
		t.Fatalf("lease after stop = %v, want ErrStopped", err)
	}
}

func TestLeaseRefusesBadParams(t *testing.T) {
	c := leaseSetup(t, nil)
	for _, tc := range []struct {
		p     gantry.LeaseParams
		field string
	}{
		{gantry.LeaseParams{Queue: "bad queue"}, "Queue"},
		{gantry.LeaseParams{Max: -1}, "Max"},
		{gantry.LeaseParams{Max: gantry.MaxLeaseJobs + 1}, "Max"},
		{gantry.LeaseParams{LeaseFor: time.Millisecond}, "LeaseFor"},
		{gantry.LeaseParams{LeaseFor: 48 * time.Hour}, "LeaseFor"},
		{gantry.LeaseParams{Wait: -time.Second}, "Wait"},
		{gantry.LeaseParams{Kinds: []string{"ok", ""}}, "Kinds[1]"},
	} {
		_, err := c.Workers().Lease(t.Context(), &tc.p)
		var fe *gantry.FieldError
		if !errors.Is(err, gantry.ErrInvalid) || !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("Lease(%+v) = %v, want a field error on %s", tc.p, err, tc.field)
		}
	}
}

func TestHeartbeatCompleteAndFail(t *testing.T) {
	clock := gantrytest.NewClock(time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC))
	c := leaseSetup(t, &gantry.Config{Test: gantry.TestConfig{Clock: clock}, MaxAttempts: 2})
	ctx := t.Context()

	// Heartbeat: progress, checkpoint and a longer lease; then complete.
	enqueueRemote(t, c, 1, nil)
	j := leaseOne(t, c, &gantry.LeaseParams{LeaseFor: 10 * time.Second})
	clock.Advance(5 * time.Second)
	hb, err := c.Workers().Heartbeat(ctx, &gantry.HeartbeatParams{
		ID: j.ID, LeaseToken: j.LeaseToken,
		Progress:   &gantry.Progress{Percent: 40, Message: "resizing"},
		Checkpoint: json.RawMessage(`{"page":3}`),
		Extend:     time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	if hb.Progress == nil || hb.Progress.Percent != 40 || hb.Progress.Message != "resizing" {
		t.Errorf("progress = %+v", hb.Progress)
	}
	if want := clock.Now().Add(time.Minute); !hb.LeaseExpiresAt.Equal(want) {
		t.Errorf("lease expires at %v, want %v", hb.LeaseExpiresAt, want)
	}
	done, err := c.Workers().Complete(ctx, &gantry.CompleteParams{ID: j.ID, LeaseToken: j.LeaseToken, Result: json.RawMessage(`{"ok":true}`)})
	if err != nil {
		t.Fatal(err)
	}
	if done.State != gantry.StateSucceeded || string(done.Result) != `{"ok":true}` {
		t.Errorf("completed job = %s, result %s", done.State, done.Result)
	}
	if _, err := c.Workers().Complete(ctx, &gantry.CompleteParams{ID: j.ID, LeaseToken: j.LeaseToken}); !errors.Is(err, gantry.ErrLeaseLost) {
		t.Errorf("second complete = %v, want ErrLeaseLost", err)
	}

	// Fail with retry_in: retrying at that time, the error recorded.
	enqueueRemote(t, c, 2, nil)
	j = leaseOne(t, c, nil)
	failed, err := c.Workers().Fail(ctx, &gantry.FailParams{ID: j.ID, LeaseToken: j.LeaseToken, Error: "downstream 503", RetryIn: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if failed.State != gantry.StateRetrying || !failed.RunAt.Equal(clock.Now().Add(10*time.Second)) {
		t.Errorf("after fail: state %s, run at %v", failed.State, failed.RunAt)
	}
	if len(failed.Errors) != 1 || failed.Errors[0].Attempt != 1 || failed.Errors[0].Message != "downstream 503" {
		t.Errorf("errors = %+v", failed.Errors)
	}
	// Not yet due; then due, with the checkpoint-free second attempt.
	if jobs, _ := c.Workers().Lease(ctx, nil); len(jobs) != 0 {
		t.Fatalf("leased %d jobs before the retry was due", len(jobs))
	}
	clock.Advance(10 * time.Second)
	j2 := leaseOne(t, c, nil)
	if j2.ID != j.ID || j2.Attempt != 2 {
		t.Fatalf("second lease = %s attempt %d", j2.ID, j2.Attempt)
	}
	// The last attempt failing fails the job.
	final, err := c.Workers().Fail(ctx, &gantry.FailParams{ID: j2.ID, LeaseToken: j2.LeaseToken, Error: "again"})
	if err != nil {
		t.Fatal(err)
	}
	if final.State != gantry.StateFailed {
		t.Errorf("state after the last attempt failed = %s", final.State)
	}

	// A permanent failure fails at once.
	enqueueRemote(t, c, 3, nil)
	j = leaseOne(t, c, nil)
	perm, err := c.Workers().Fail(ctx, &gantry.FailParams{ID: j.ID, LeaseToken: j.LeaseToken, Permanent: true})
	if err != nil {
		t.Fatal(err)
	}
	if perm.State != gantry.StateFailed || len(perm.Errors) != 1 {
		t.Errorf("permanent failure: state %s, errors %+v", perm.State, perm.Errors)
	}
}

func TestStaleLeaseTokenIsRefused(t *testing.T) {
	clock := gantrytest.NewClock(time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC))
	c := leaseSetup(t, &gantry.Config{Test: gantry.TestConfig{Clock: clock}})
	ctx := t.Context()
	enqueueRemote(t, c, 1, nil)
	first := leaseOne(t, c, &gantry.LeaseParams{LeaseFor: time.Second})

	// The lease expires and is rescued: the attempt counts as failed.
	clock.Advance(2 * time.Second)
	if _, err := c.Store().Rescue(ctx, &store.RescueParams{Now: clock.Now(), Backoff: func(int) time.Duration { return 0 }}); err != nil {
		t.Fatal(err)
	}
	second := leaseOne(t, c, nil)
	if second.ID != first.ID || second.Attempt != 2 || second.LeaseToken == first.LeaseToken {
		t.Fatalf("second lease = %s attempt %d", second.ID, second.Attempt)
	}

	// Every use of the first attempt's token is refused.
	if _, err := c.Workers().Heartbeat(ctx, &gantry.HeartbeatParams{ID: first.ID, LeaseToken: first.LeaseToken}); !errors.Is(err, gantry.ErrLeaseLost) {
		t.Errorf("heartbeat with the old token = %v, want ErrLeaseLost", err)
	}
	if _, err := c.Workers().Complete(ctx, &gantry.CompleteParams{ID: first.ID, LeaseToken: first.LeaseToken}); !errors.Is(err, gantry.ErrLeaseLost) {
		t.Errorf("complete with the old token = %v, want ErrLeaseLost", err)
	}
	if _, err := c.Workers().Fail(ctx, &gantry.FailParams{ID: first.ID, LeaseToken: first.LeaseToken}); !errors.Is(err, gantry.ErrLeaseLost) {
		t.Errorf("fail with the old token = %v, want ErrLeaseLost", err)
	}
	if _, err := c.Workers().Complete(ctx, &gantry.CompleteParams{ID: first.ID, LeaseToken: "1.nottherighttoken"}); !errors.Is(err, gantry.ErrLeaseLost) {
		t.Errorf("complete with a malformed token = %v, want ErrLeaseLost", err)
	}
	// The current token still works.
	if _, err := c.Workers().Complete(ctx, &gantry.CompleteParams{ID: second.ID, LeaseToken: second.LeaseToken}); err != nil {
		t.Fatalf("complete with the current token: %v", err)
	}
}

func TestWorkerCallsRefuseBadInput(t *testing.T) {
	c := leaseSetup(t, nil)
	ctx := t.Context()
	enqueueRemote(t, c, 1, nil)
	j := leaseOne(t, c, nil)
	check := func(name string, err error, field string) {
		t.Helper()
		var fe *gantry.FieldError
		if !errors.As(err, &fe) || fe.Field != field {
			t.Errorf("%s = %v, want a field error on %s", name, err, field)
		}
	}
	_, err := c.Workers().Heartbeat(ctx, &gantry.HeartbeatParams{ID: j.ID})
	check("heartbeat without token", err, "LeaseToken")
	_, err = c.Workers().Heartbeat(ctx, &gantry.HeartbeatParams{ID: j.ID, LeaseToken: j.LeaseToken, Progress: &gantry.Progress{Percent: 101}})
	check("heartbeat with 101%", err, "Progress")
	_, err = c.Workers().Heartbeat(ctx, &gantry.HeartbeatParams{ID: j.ID, LeaseToken: j.LeaseToken, Checkpoint: json.RawMessage(`{`)})
	check("heartbeat with a bad checkpoint", err, "Checkpoint")
	_, err = c.Workers().Complete(ctx, &gantry.CompleteParams{ID: j.ID, LeaseToken: j.LeaseToken, Result: json.RawMessage(`nope`)})
	check("complete with a bad result", err, "Result")
	_, err = c.Workers().Fail(ctx, &gantry.FailParams{ID: j.ID, LeaseToken: j.LeaseToken, RetryIn: -time.Second})
	check("fail with a negative retry", err, "RetryIn")
	_, err = c.Workers().Complete(ctx, &gantry.CompleteParams{ID: "", LeaseToken: j.LeaseToken})
	check("complete without id", err, "ID")
	if _, err := c.Workers().Complete(ctx, &gantry.CompleteParams{ID: "no-such-job", LeaseToken: j.LeaseToken}); !errors.Is(err, gantry.ErrNotFound) && !errors.Is(err, gantry.ErrLeaseLost) {
		t.Errorf("complete of an unknown job = %v, want ErrNotFound", err)
	}
}

// Jobs worked over the lease protocol reach the same hooks as jobs worked
// in-process, so that metrics count them.
func TestLeasedJobsReachTheHooks(t *testing.T) {
	clock := gantrytest.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	var mu sync.Mutex
	var started []string
	finished := map[string]time.Duration{}
	states := map[string]gantry.State{}
	c := leaseSetup(t, &gantry.Config{Test: gantry.TestConfig{Clock: clock}, Hooks: gantry.Hooks{
		Started: func(j *gantry.Job) {
			mu.Lock()
			defer mu.Unlock()
			started = append(started, j.ID)
		},
		Finished: func(j *gantry.Job, took time.Duration) {
			mu.Lock()
			defer mu.Unlock()
			finished[j.ID] = took
			states[j.ID] = j.State
		},
	}})
	ok, bad := enqueueRemote(t, c, 1, nil), enqueueRemote(t, c, 2, nil)
	jobs, err := c.Workers().Lease(t.Context(), &gantry.LeaseParams{Max: 2})
	if err != nil || len(jobs) != 2 {
		t.Fatalf("lease: %d jobs, %v", len(jobs), err)
	}
	tokens := map[string]string{jobs[0].ID: jobs[0].LeaseToken, jobs[1].ID: jobs[1].LeaseToken}
	clock.Advance(3 * time.Second)
	if _, err := c.Workers().Complete(t.Context(), &gantry.CompleteParams{ID: ok.ID, LeaseToken: tokens[ok.ID]}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Workers().Fail(t.Context(), &gantry.FailParams{ID: bad.ID, LeaseToken: tokens[bad.ID], Error: "boom", Permanent: true}); err != nil {
		t.Fatal(err)
	}
	// A refused completion is not an outcome.
	if _, err := c.Workers().Complete(t.Context(), &gantry.CompleteParams{ID: ok.ID, LeaseToken: tokens[ok.ID]}); err == nil {
		t.Fatal("a second completion was accepted")
	}

	mu.Lock()
	defer mu.Unlock()
	if len(started) != 2 {
		t.Errorf("Started saw %v, want both jobs", started)
	}
	if len(finished) != 2 || finished[ok.ID] != 3*time.Second || finished[bad.ID] != 3*time.Second {
		t.Errorf("Finished saw %v, want both jobs after 3s", finished)
	}
	if states[ok.ID] != gantry.StateSucceeded || states[bad.ID] != gantry.StateFailed {
		t.Errorf("states %v", states)
	}
}

// TestTimesOutsideTheWindowAreFieldErrors: every time the Go API is given
// or computes from its arguments must lie between store.MinTime and
// store.MaxTime; outside it the call fails with a *FieldError naming the
// field, wrapping ErrInvalid, and nothing changes.
func TestTimesOutsideTheWindowAreFieldErrors(t *testing.T) {
	clk := gantrytest.NewClock(time.Date(2199, 12, 31, 12, 0, 0, 0, time.UTC))
	c := leaseSetup(t, &gantry.Config{Test: gantry.TestConfig{Clock: clk}})
	ctx := t.Context()
	wantField := func(what string, err error, field string) {
		t.Helper()
		var fe *gantry.FieldError
		if !errors.Is(err, gantry.ErrInvalid) || !errors.As(err, &fe) || fe.Field != field {
			t.Errorf("%s: error %v, want a *FieldError naming %s wrapping ErrInvalid", what, err, field)
		}
	}
	for _, tc := range []struct {
		name  string
		opts  gantry.EnqueueOpts
		field string
	}{
		{"RunAt9999", gantry.EnqueueOpts{RunAt: time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)}, "RunAt"},
		{"RunAt1677", gantry.EnqueueOpts{RunAt: time.Date(1677, 1, 1, 0, 0, 0, 0, time.UTC)}, "RunAt"},
		{"DelayPastMaxTime", gantry.EnqueueOpts{Delay: 13 * time.Hour}, "Delay"},
		{"DelayLongest", gantry.EnqueueOpts{Delay: math.MaxInt64}, "Delay"},
	} {
		_, err := c.Enqueue(ctx, remoteArgs{}, &tc.opts)
		wantField(tc.name, err, tc.field)
	}
	_, err := c.EnqueueBatch(ctx, []gantry.JobSpec{{Kind: "remote"}}, &gantry.BatchOpts{IdempotencyKey: "k", KeepFor: math.MaxInt64})
	wantField("KeepFor", err, "KeepFor")

	// Inside the window a job is kept as asked; a lease of a day would end
	// after it.
	j := enqueueRemote(t, c, 1, &gantry.EnqueueOpts{Delay: time.Hour})
	if want := clk.Now().Add(time.Hour); j.State != gantry.StateScheduled || !j.RunAt.Equal(want) {
		t.Errorf("a delay of 1h: %s at %s, want scheduled at %s", j.State, j.RunAt, want)
	}
	_, err = c.Workers().Lease(ctx, &gantry.LeaseParams{LeaseFor: gantry.MaxLeaseFor})
	wantField("LeaseFor", err, "LeaseFor")
	clk.Advance(time.Hour)
	l := leaseOne(t, c, &gantry.LeaseParams{LeaseFor: time.Minute})
	_, err = c.Workers().Heartbeat(ctx, &gantry.HeartbeatParams{ID: l.ID, LeaseToken: l.LeaseToken, Extend: gantry.MaxLeaseFor})
	wantField("Heartbeat", err, "Extend")
	_, err = c.Workers().Fail(ctx, &gantry.FailParams{ID: l.ID, LeaseToken: l.LeaseToken, RetryIn: math.MaxInt64})
	wantField("Fail", err, "RetryIn")
	if got, err := c.Get(ctx, l.ID); err != nil || got.State != gantry.StateRunning || !got.LeaseExpiresAt.Equal(l.LeaseExpiresAt) {
		t.Errorf("after refused calls the job is %+v (%v), want running with its lease unchanged", got, err)
	}
}

func TestLeaseExcludesKinds(t *testing.T) {
	c := leaseSetup(t, nil)
	enqueueRemote(t, c, 1, nil)
	jobs, err := c.Workers().Lease(t.Context(), &gantry.LeaseParams{ExcludeKinds: []string{"remote"}})
	if err != nil || len(jobs) != 0 {
		t.Fatalf("lease excluding remote = %v, %v; want none", jobs, err)
	}
	if _, err := c.Workers().Lease(t.Context(), &gantry.LeaseParams{ExcludeKinds: []string{"bad kind"}}); !errors.Is(err, gantry.ErrInvalid) {
		t.Errorf("lease excluding a bad name: %v, want ErrInvalid", err)
	}
	leaseOne(t, c, &gantry.LeaseParams{ExcludeKinds: []string{"other"}})
}

func TestSnoozeDoesNotSpendTheAttempt(t *testing.T) {
	c := leaseSetup(t, nil)
	enqueueRemote(t, c, 1, &gantry.EnqueueOpts{MaxAttempts: 1})
	j := leaseOne(t, c, nil)
	got, err := c.Workers().Snooze(t.Context(), &gantry.SnoozeParams{ID: j.ID, LeaseToken: j.LeaseToken, RetryIn: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if got.State != gantry.StateScheduled || got.Attempt != 0 || len(got.Errors) != 0 || got.RunAt.Before(time.Now().Add(59*time.Minute)) {
		t.Errorf("snoozed job: state %s, attempt %d, errors %v, run_at %v; want scheduled in an hour, attempt 0, no errors", got.State, got.Attempt, got.Errors, got.RunAt)
	}
	// The token of the snoozed attempt is stale now.
	if _, err := c.Workers().Snooze(t.Context(), &gantry.SnoozeParams{ID: j.ID, LeaseToken: j.LeaseToken}); !errors.Is(err, gantry.ErrLeaseLost) {
		t.Errorf("second snooze: %v, want ErrLeaseLost", err)
	}
	for _, p := range []*gantry.SnoozeParams{nil, {ID: j.ID}, {ID: j.ID, LeaseToken: "x", RetryIn: -time.Second}} {
		if _, err := c.Workers().Snooze(t.Context(), p); !errors.Is(err, gantry.ErrInvalid) {
			t.Errorf("Snooze(%+v) = %v, want ErrInvalid", p, err)
		}
	}
}

func TestSnoozeWithoutDelayGivesTheJobBack(t *testing.T) {
	c := leaseSetup(t, nil)
	enqueueRemote(t, c, 1, nil)
	j := leaseOne(t, c, nil)
	if _, err := c.Workers().Snooze(t.Context(), &gantry.SnoozeParams{ID: j.ID, LeaseToken: j.LeaseToken}); err != nil {
		t.Fatal(err)
	}
	again := leaseOne(t, c, nil)
	if again.ID != j.ID || again.Attempt != 1 {
		t.Errorf("leased %s attempt %d after the snooze, want %s attempt 1", again.ID, again.Attempt, j.ID)
	}
}

func TestSnoozePastTheCapSpendsTheAttempt(t *testing.T) {
	c := leaseSetup(t, nil)
	enqueueRemote(t, c, 1, &gantry.EnqueueOpts{MaxAttempts: 1})
	var got *gantry.Job
	for i := 0; i <= store.MaxSnoozes; i++ {
		j := leaseOne(t, c, nil)
		var err error
		got, err = c.Workers().Snooze(t.Context(), &gantry.SnoozeParams{ID: j.ID, LeaseToken: j.LeaseToken, Reason: "the target answered 503"})
		if err != nil {
			t.Fatal(err)
		}
		if i < store.MaxSnoozes && (got.State != gantry.StateAvailable && got.State != gantry.StateScheduled || got.Attempt != 0) {
			t.Fatalf("snooze %d: state %s, attempt %d; want it back without spending the attempt", i+1, got.State, got.Attempt)
		}
	}
	if got.State != gantry.StateFailed || len(got.Errors) != 1 ||
		!strings.Contains(got.Errors[0].Message, "snoozed 100 times") || !strings.HasSuffix(got.Errors[0].Message, ": the target answered 503") {
		t.Errorf("snooze 101: state %s, errors %+v; want failed with an error saying it was snoozed 100 times and why", got.State, got.Errors)
	}
}

// enqueueAfterFirstClaim is a store whose first Claim, once it has found
// nothing, records a job before it returns: the job becomes available
// between a lease's first look and its wait.
type enqueueAfterFirstClaim struct {
	store.Driver
	once sync.Once
	job  *store.NewJob
}

func (s *enqueueAfterFirstClaim) Unwrap() store.Driver { return s.Driver }

func (s *enqueueAfterFirstClaim) Claim(ctx context.Context, p *store.ClaimParams) (*store.ClaimResult, error) {
	res, err := s.Driver.Claim(ctx, p)
	if err == nil && len(res.Jobs) == 0 {
		s.once.Do(func() {
			s.job.RunAt = p.Now
			_, err = s.Driver.Enqueue(ctx, &store.EnqueueParams{Jobs: []*store.NewJob{s.job}, Now: p.Now})
		})
	}
	return res, err
}

// TestLeaseSeesAJobThatArrivesBeforeItWaits: a job made available after
// the lease's first look but before it subscribes to changes is leased at
// once, not after the poll interval.
func TestLeaseSeesAJobThatArrivesBeforeItWaits(t *testing.T) {
	t.Parallel()
	inner, err := embedded.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	st := &enqueueAfterFirstClaim{Driver: inner, job: &store.NewJob{
		Kind: "remote", Queue: "default", Args: json.RawMessage(`{}`), Priority: store.DefaultPriority, MaxAttempts: 1}}
	c, err := gantry.NewClient(st, &gantry.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Stop(context.Background()); err != nil {
			t.Errorf("stop: %v", err)
		}
		if err := inner.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	start := time.Now()
	jobs, err := c.Workers().Lease(t.Context(), &gantry.LeaseParams{Wait: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 1 {
		t.Fatalf("leased %d jobs, want 1", len(jobs))
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("lease returned after %v: the job that arrived before the wait waited for the poll", took)
	}
}

package gantry_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gantry-dev/gantry"
	"github.com/gantry-dev/gantry/store"
	"github.com/gantry-dev/gantry/store/embedded"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

type greetArgs struct {
	Name string `json:"name"`
}

func (greetArgs) Kind() string { return "greet" }

type otherArgs struct{}

func (otherArgs) Kind() string { return "other" }

// setup opens an embedded store in a temp dir and a client on it with the
// given registry; the client is started when reg is not nil.
func setup(t *testing.T, reg *gantry.Registry, cfg *gantry.Config) *gantry.Client {
	t.Helper()
	st, err := embedded.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg == nil {
		cfg = &gantry.Config{}
	}
	cfg.Registry = reg
	c, err := gantry.NewClient(st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if reg != nil {
		if err := c.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
		if err := st.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	return c
}

func wait(t *testing.T, c *gantry.Client, id string) *gantry.Job {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	j, err := c.Wait(ctx, id)
	if err != nil {
		t.Fatalf("waiting for %s: %v (last seen %+v)", id, err, j)
	}
	return j
}

func TestEnqueueRunsHandlerAndRecordsResult(t *testing.T) {
	t.Parallel()
	reg := gantry.NewRegistry()
	gantry.Register(reg, gantry.HandlerFunc[greetArgs](func(ctx context.Context, task *gantry.Task[greetArgs]) error {
		return task.SetResult(map[string]string{"greeting": "hello " + task.Args.Name})
	}))
	c := setup(t, reg, nil)
	res, err := c.Enqueue(context.Background(), greetArgs{Name: "ada"}, &gantry.EnqueueOpts{Priority: 2})
	if err != nil {
		t.Fatal(err)
	}
	if res.Job.State != gantry.StateAvailable || res.Job.Priority != 2 || res.Job.Queue != "default" {
		t.Errorf("enqueued job = %+v", res.Job)
	}
	j := wait(t, c, res.Job.ID)
	if j.State != gantry.StateSucceeded || j.Attempt != 1 {
		t.Fatalf("job ended %s after %d attempts", j.State, j.Attempt)
	}
	var out map[string]string
	if err := json.Unmarshal(j.Result, &out); err != nil || out["greeting"] != "hello ada" {
		t.Errorf("result = %s (%v)", j.Result, err)
	}
}

func TestEnqueueRejectsBadOptionsNamingTheField(t *testing.T) {
	t.Parallel()
	c := setup(t, nil, nil)
	tests := []struct {
		name  string
		opts  gantry.EnqueueOpts
		field string
	}{
		{"priority too small", gantry.EnqueueOpts{Priority: -1}, "Priority"},
		{"priority too large", gantry.EnqueueOpts{Priority: 10}, "Priority"},
		{"bad queue", gantry.EnqueueOpts{Queue: "no spaces"}, "Queue"},
		{"delay and run_at", gantry.EnqueueOpts{Delay: time.Second, RunAt: time.Now()}, "Delay"},
		{"negative delay", gantry.EnqueueOpts{Delay: -time.Second}, "Delay"},
		{"too many attempts", gantry.EnqueueOpts{MaxAttempts: 100000}, "MaxAttempts"},
		{"unknown dependency", gantry.EnqueueOpts{DependsOn: []string{"0190aaaa-0000-7000-8000-000000000000"}}, "DependsOn[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Enqueue(context.Background(), greetArgs{}, &tt.opts)
			var fe *gantry.FieldError
			if !errors.As(err, &fe) || !errors.Is(err, gantry.ErrInvalid) {
				t.Fatalf("err = %v, want a *FieldError wrapping ErrInvalid", err)
			}
			if fe.Field != tt.field {
				t.Errorf("field = %q, want %q (%v)", fe.Field, tt.field, err)
			}
		})
	}
}

func TestEnqueueBatchIsAllOrNone(t *testing.T) {
	t.Parallel()
	c := setup(t, nil, nil)
	ctx := context.Background()
	good, _ := gantry.Spec(greetArgs{Name: "a"}, nil)
	bad, _ := gantry.Spec(greetArgs{Name: "b"}, &gantry.EnqueueOpts{Priority: 42})
	_, err := c.EnqueueBatch(ctx, []gantry.JobSpec{good, good, bad}, nil)
	var fe *gantry.FieldError
	if !errors.As(err, &fe) || fe.Index != 2 || fe.Field != "Priority" {
		t.Fatalf("err = %v, want jobs[2].priority", err)
	}
	page, err := c.List(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Jobs) != 0 {
		t.Fatalf("%d jobs stored after a rejected batch", len(page.Jobs))
	}
	res, err := c.EnqueueBatch(ctx, []gantry.JobSpec{good, good}, nil)
	if err != nil || len(res.Jobs) != 2 || res.Jobs[0].Job.ID == res.Jobs[1].Job.ID {
		t.Fatalf("EnqueueBatch = %+v, %v", res, err)
	}
}

func TestEnqueueBatchIdempotency(t *testing.T) {
	t.Parallel()
	c := setup(t, nil, nil)
	ctx := context.Background()
	spec, _ := gantry.Spec(greetArgs{Name: "a"}, nil)
	first, err := c.EnqueueBatch(ctx, []gantry.JobSpec{spec}, &gantry.BatchOpts{IdempotencyKey: "k1", RequestHash: "h1"})
	if err != nil || first.Replayed {
		t.Fatalf("first = %+v, %v", first, err)
	}
	again, err := c.EnqueueBatch(ctx, []gantry.JobSpec{spec}, &gantry.BatchOpts{IdempotencyKey: "k1", RequestHash: "h1"})
	if err != nil || !again.Replayed || again.Jobs[0].Job.ID != first.Jobs[0].Job.ID {
		t.Fatalf("repeat = %+v, %v; want the first job replayed", again, err)
	}
	_, err = c.EnqueueBatch(ctx, []gantry.JobSpec{spec}, &gantry.BatchOpts{IdempotencyKey: "k1", RequestHash: "other"})
	if !errors.Is(err, gantry.ErrConflict) {
		t.Fatalf("same key, other request: err = %v, want ErrConflict", err)
	}
}

func TestUniqueKeyReturnsTheExistingJob(t *testing.T) {
	t.Parallel()
	c := setup(t, nil, nil)
	ctx := context.Background()
	a, err := c.Enqueue(ctx, greetArgs{}, &gantry.EnqueueOpts{UniqueKey: "img-42"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Enqueue(ctx, greetArgs{}, &gantry.EnqueueOpts{UniqueKey: "img-42"})
	if err != nil {
		t.Fatal(err)
	}
	if !b.Duplicate || b.Job.ID != a.Job.ID {
		t.Fatalf("second enqueue = %+v, want the first job as a duplicate", b)
	}
}

func TestWatchSendsStatesAndProgressInOrder(t *testing.T) {
	t.Parallel()
	proceed := make(chan struct{})
	reg := gantry.NewRegistry()
	gantry.Register(reg, gantry.HandlerFunc[greetArgs](func(ctx context.Context, task *gantry.Task[greetArgs]) error {
		<-proceed
		if err := task.Progress(ctx, 50, "half way"); err != nil {
			return err
		}
		return nil
	}))
	c := setup(t, reg, &gantry.Config{Queues: map[string]gantry.QueueConfig{"default": {Workers: 1}}})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := c.Enqueue(ctx, greetArgs{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	events, err := c.Watch(ctx, res.Job.ID)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for ev := range events {
		got = append(got, string(ev.Type)+":"+string(ev.Job.State))
		if ev.Job.State == gantry.StateRunning && ev.Type == gantry.EventState {
			close(proceed)
		}
	}
	// The first event is the state at the start of the watch: available,
	// or running if a worker was quicker.
	if got[0] == "state:available" {
		got = got[1:]
	}
	want := []string{"state:running", "progress:running", "state:succeeded"}
	if len(got) != len(want) {
		t.Fatalf("events = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("events = %v, want %v", got, want)
		}
	}
}

func TestCancelRunningJobCancelsItsContext(t *testing.T) {
	t.Parallel()
	started := make(chan string, 1)
	cause := make(chan error, 1)
	reg := gantry.NewRegistry()
	gantry.Register(reg, gantry.HandlerFunc[greetArgs](func(ctx context.Context, task *gantry.Task[greetArgs]) error {
		started <- task.Job.ID
		<-ctx.Done()
		cause <- context.Cause(ctx)
		return ctx.Err()
	}))
	c := setup(t, reg, nil)
	ctx := context.Background()
	res, err := c.Enqueue(ctx, greetArgs{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	<-started
	if _, err := c.Cancel(ctx, res.Job.ID, "no longer needed"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-cause:
		if err == nil || err.Error() != "job cancelled" {
			t.Errorf("cause = %v, want job cancelled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the running handler's context was not cancelled")
	}
	j := wait(t, c, res.Job.ID)
	if j.State != gantry.StateCancelled || j.CancelReason != "no longer needed" {
		t.Errorf("job = %s (%q)", j.State, j.CancelReason)
	}
	if _, err := c.Cancel(ctx, res.Job.ID, ""); !errors.Is(err, gantry.ErrConflict) {
		t.Errorf("cancelling a cancelled job: %v, want ErrConflict", err)
	}
}

func TestHandlerErrorsControlRetries(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	plan := map[string][]error{}
	reg := gantry.NewRegistry()
	gantry.Register(reg, gantry.HandlerFunc[greetArgs](func(ctx context.Context, task *gantry.Task[greetArgs]) error {
		mu.Lock()
		defer mu.Unlock()
		errs := plan[task.Args.Name]
		if len(errs) == 0 {
			return nil
		}
		err := errs[0]
		plan[task.Args.Name] = errs[1:]
		return err
	}))
	c := setup(t, reg, &gantry.Config{Backoff: func(int) time.Duration { return time.Millisecond }})
	tests := []struct {
		name     string
		errs     []error
		attempts int
		state    gantry.State
		errors   int
	}{
		{"retried then succeeded", []error{errors.New("x"), errors.New("y")}, 3, gantry.StateSucceeded, 2},
		{"permanent", []error{gantry.Permanent(errors.New("bad input"))}, 1, gantry.StateFailed, 1},
		{"attempts used up", []error{errors.New("a"), errors.New("b"), errors.New("c")}, 3, gantry.StateFailed, 3},
		{"cancelled by handler", []error{gantry.Cancel(errors.New("gave up"))}, 1, gantry.StateCancelled, 1},
		{"snooze does not spend an attempt", []error{gantry.Snooze(time.Millisecond), gantry.Snooze(time.Millisecond)}, 1, gantry.StateSucceeded, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mu.Lock()
			plan[tt.name] = tt.errs
			mu.Unlock()
			res, err := c.Enqueue(context.Background(), greetArgs{Name: tt.name}, &gantry.EnqueueOpts{MaxAttempts: 3})
			if err != nil {
				t.Fatal(err)
			}
			j := wait(t, c, res.Job.ID)
			if j.State != tt.state || j.Attempt != tt.attempts || len(j.Errors) != tt.errors {
				t.Errorf("job ended %s after %d attempts with %d errors; want %s, %d, %d (%+v)",
					j.State, j.Attempt, len(j.Errors), tt.state, tt.attempts, tt.errors, j.Errors)
			}
		})
	}
}

func TestPanicIsAFailedAttemptWithStack(t *testing.T) {
	t.Parallel()
	reg := gantry.NewRegistry()
	gantry.Register(reg, gantry.HandlerFunc[greetArgs](func(ctx context.Context, task *gantry.Task[greetArgs]) error {
		panic("boom")
	}))
	c := setup(t, reg, nil)
	res, err := c.Enqueue(context.Background(), greetArgs{}, &gantry.EnqueueOpts{MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	j := wait(t, c, res.Job.ID)
	if j.State != gantry.StateFailed || len(j.Errors) != 1 {
		t.Fatalf("job = %s with errors %+v", j.State, j.Errors)
	}
	if e := j.Errors[0]; e.Message != "panic: boom" || e.Stack == "" || e.Attempt != 1 {
		t.Errorf("error entry = %+v", e)
	}
}

func TestCheckpointReachesTheNextAttempt(t *testing.T) {
	t.Parallel()
	seen := make(chan int, 2)
	reg := gantry.NewRegistry()
	gantry.Register(reg, gantry.HandlerFunc[greetArgs](func(ctx context.Context, task *gantry.Task[greetArgs]) error {
		var cp struct{ Done int }
		if _, err := task.Checkpoint(&cp); err != nil {
			return err
		}
		seen <- cp.Done
		if task.Job.Attempt == 1 {
			if err := task.SaveCheckpoint(ctx, struct{ Done int }{7}); err != nil {
				return err
			}
			return errors.New("interrupted")
		}
		return nil
	}))
	c := setup(t, reg, &gantry.Config{Backoff: func(int) time.Duration { return time.Millisecond }})
	res, err := c.Enqueue(context.Background(), greetArgs{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	j := wait(t, c, res.Job.ID)
	if j.State != gantry.StateSucceeded {
		t.Fatalf("state %s", j.State)
	}
	if a, b := <-seen, <-seen; a != 0 || b != 7 {
		t.Errorf("checkpoints seen = %d, %d; want 0, 7", a, b)
	}
}

func TestOnlyRegisteredKindsAreClaimed(t *testing.T) {
	t.Parallel()
	reg := gantry.NewRegistry()
	gantry.Register(reg, gantry.HandlerFunc[greetArgs](func(ctx context.Context, task *gantry.Task[greetArgs]) error { return nil }))
	c := setup(t, reg, nil)
	ctx := context.Background()
	other, err := c.Enqueue(ctx, otherArgs{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	greet, err := c.Enqueue(ctx, greetArgs{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	wait(t, c, greet.Job.ID)
	j, err := c.Get(ctx, other.Job.ID)
	if err != nil {
		t.Fatal(err)
	}
	if j.State != gantry.StateAvailable {
		t.Errorf("a kind without a handler became %s, want available for other workers", j.State)
	}
}

func TestRegisterPanicsOnDuplicateKind(t *testing.T) {
	t.Parallel()
	reg := gantry.NewRegistry()
	h := gantry.HandlerFunc[greetArgs](func(ctx context.Context, task *gantry.Task[greetArgs]) error { return nil })
	gantry.Register(reg, h)
	defer func() {
		if recover() == nil {
			t.Error("registering a kind twice did not panic")
		}
	}()
	gantry.Register(reg, h)
}

func TestStopReleasesJobsWhoseHandlersRunPastTheDeadline(t *testing.T) {
	t.Parallel()
	started := make(chan struct{}, 1)
	reg := gantry.NewRegistry()
	gantry.Register(reg, gantry.HandlerFunc[greetArgs](func(ctx context.Context, task *gantry.Task[greetArgs]) error {
		started <- struct{}{}
		<-ctx.Done()
		return context.Cause(ctx)
	}))
	st, err := embedded.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	c, err := gantry.NewClient(st, &gantry.Config{Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	res, err := c.Enqueue(ctx, greetArgs{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	<-started
	stopCtx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := c.Stop(stopCtx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Stop = %v, want the deadline error", err)
	}
	j, err := st.Get(ctx, res.Job.ID)
	if err != nil {
		t.Fatal(err)
	}
	if j.State != store.StateAvailable || j.Attempt != 0 {
		t.Errorf("after stop the job is %s with attempt %d; want available with the attempt given back", j.State, j.Attempt)
	}
}

// A paused queue keeps its jobs; resuming it starts them at once, not at
// the next poll.
func TestResumeStartsJobsAtOnce(t *testing.T) {
	t.Parallel()
	reg := gantry.NewRegistry()
	started := make(chan struct{}, 1)
	gantry.Register(reg, gantry.HandlerFunc[greetArgs](func(ctx context.Context, task *gantry.Task[greetArgs]) error {
		started <- struct{}{}
		return nil
	}))
	c := setup(t, reg, &gantry.Config{PollInterval: time.Hour})
	ctx := t.Context()
	if err := c.PauseQueue(ctx, gantry.DefaultQueue); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Enqueue(ctx, greetArgs{Name: "paused"}, nil); err != nil {
		t.Fatal(err)
	}
	select {
	case <-started:
		t.Fatal("a job of a paused queue started")
	case <-time.After(200 * time.Millisecond):
	}
	if err := c.ResumeQueue(ctx, gantry.DefaultQueue); err != nil {
		t.Fatal(err)
	}
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the job did not start within 10s of the resume (the poll interval is an hour)")
	}
}

// A report that comes within the progress throttle of the one before is
// still stored when the handler returns right after it.
func TestLastProgressReportIsKept(t *testing.T) {
	t.Parallel()
	reg := gantry.NewRegistry()
	gantry.Register(reg, gantry.HandlerFunc[greetArgs](func(ctx context.Context, task *gantry.Task[greetArgs]) error {
		for _, p := range []int{25, 99, 100} {
			if err := task.Progress(ctx, p, fmt.Sprintf("step %d", p)); err != nil {
				return err
			}
		}
		return nil
	}))
	c := setup(t, reg, nil)
	res, err := c.Enqueue(t.Context(), greetArgs{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	j := wait(t, c, res.Job.ID)
	if j.State != gantry.StateSucceeded || j.Progress == nil || j.Progress.Percent != 100 || j.Progress.Message != "step 100" {
		t.Fatalf("job ended %s with progress %+v, want succeeded at 100%% step 100", j.State, j.Progress)
	}
}

// Queues lists the queues that exist: the configured ones, with no jobs
// yet, and those the store holds jobs or a pause of, by name.
func TestQueuesListsConfiguredQueues(t *testing.T) {
	t.Parallel()
	c := setup(t, nil, &gantry.Config{Queues: map[string]gantry.QueueConfig{"worked": {Workers: 1}}})
	ctx := t.Context()
	if _, err := c.Enqueue(ctx, greetArgs{Name: "q"}, &gantry.EnqueueOpts{Queue: "busy"}); err != nil {
		t.Fatal(err)
	}
	if err := c.PauseQueue(ctx, "early"); err != nil {
		t.Fatal(err)
	}
	qs, err := c.Queues(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, q := range qs {
		names = append(names, q.Name)
		if q.Name == "worked" && (q.Paused || len(q.Counts) != 0) {
			t.Errorf("worked = %+v, want no jobs and not paused", q)
		}
	}
	if want := []string{"busy", "early", "worked"}; !slices.Equal(names, want) {
		t.Errorf("Queues = %v, want %v", names, want)
	}
}

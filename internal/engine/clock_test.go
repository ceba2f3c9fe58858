package engine

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
)

// jumpClock is the wall clock plus an offset that a test moves at once, as
// an operator (or a virtual machine resumed) steps the system clock.
type jumpClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *jumpClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *jumpClock) jump(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

// blocked is a WorkFunc that holds every attempt until release is closed.
type blocked struct {
	started chan string
	release chan struct{}
}

func newBlocked() *blocked {
	return &blocked{started: make(chan string, 1024), release: make(chan struct{})}
}

func (b *blocked) work(ctx context.Context, a *Attempt) Result {
	b.started <- a.Job.ID
	select {
	case <-b.release:
		return Result{}
	case <-ctx.Done():
		return Result{Err: context.Cause(ctx)}
	}
}

// waitStarted waits for n attempts to have started.
func (b *blocked) waitStarted(t *testing.T, n int) {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for range n {
		select {
		case <-b.started:
		case <-timeout:
			t.Fatalf("fewer than %d attempts started", n)
		}
	}
}

// TestClockJumpForward: the wall clock steps forward an hour while 20
// attempts run. None of their leases may be rescued as expired (they are
// alive and heartbeating), so each job succeeds in its first attempt.
func TestClockJumpForward(t *testing.T) {
	t.Parallel()
	clk := &jumpClock{}
	b := newBlocked()
	h := setup(t, Config{Queues: map[string]int{"default": 20}, LeaseFor: 3 * time.Second,
		MaintenanceInterval: 20 * time.Millisecond, PollInterval: 20 * time.Millisecond, Now: clk.Now}, b.work)
	ids := h.enqueue(t, 20, nil)
	b.waitStarted(t, 20)
	clk.jump(time.Hour)
	// Several maintenance rounds and more than a lease pass at the new
	// time.
	time.Sleep(4 * time.Second)
	close(b.release)
	rescued := 0
	for range ids {
		j := h.final(t)
		if j.State != store.StateSucceeded || j.Attempt != 1 {
			rescued++
		}
	}
	select {
	case id := <-b.started:
		t.Errorf("job %s started again after the jump", id)
	default:
	}
	if rescued > 0 {
		t.Errorf("%d of %d running jobs lost their lease to a +1h clock jump", rescued, len(ids))
	}
}

// TestClockJumpForwardKeepsTime: after a +1h step a job due in two hours
// does not run (it would be more than the step early), one due in half an
// hour runs (early by less than the step), and a lease that was dead
// before the step (taken by a worker that then vanished) is still rescued
// when it ends by the clock it was taken with.
func TestClockJumpForwardKeepsTime(t *testing.T) {
	t.Parallel()
	clk := &jumpClock{}
	ran := make(chan string, 16)
	h := setup(t, Config{LeaseFor: 3 * time.Second, MaintenanceInterval: 20 * time.Millisecond,
		PollInterval: 20 * time.Millisecond, Now: clk.Now, Backoff: func(int) time.Duration { return 0 }},
		func(_ context.Context, a *Attempt) Result { ran <- a.Job.ID; return Result{} })
	late := h.enqueue(t, 1, func(j *store.NewJob) { j.RunAt = time.Now().Add(2 * time.Hour) })[0]
	soon := h.enqueue(t, 1, func(j *store.NewJob) { j.RunAt = time.Now().Add(30 * time.Minute) })[0]
	dead := h.enqueue(t, 1, func(j *store.NewJob) { j.Queue = "elsewhere" })[0]
	res, err := h.st.Claim(context.Background(), &store.ClaimParams{Queue: "elsewhere", Max: 1, LeaseFor: time.Second, Now: clk.Now()})
	if err != nil || len(res.Jobs) != 1 {
		t.Fatalf("claim: %v %v", res, err)
	}
	clk.jump(time.Hour)
	select {
	case id := <-ran:
		if id != soon {
			t.Fatalf("job %s ran; want the one due in 30 minutes (%s)", id, soon)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the job due 30 minutes ahead did not run after a +1h step")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		j, err := h.st.Get(context.Background(), dead)
		if err != nil {
			t.Fatal(err)
		}
		if j.State != store.StateRunning {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a lease dead before the step was not rescued")
		}
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case id := <-ran:
		t.Errorf("job %s ran; the one due in two hours (%s) must wait", id, late)
	case <-time.After(500 * time.Millisecond):
	}
}

// TestClockJumpBackward: after a -1h step, running jobs finish in their
// first attempt, new jobs run at once and a failed attempt is retried at
// once: nothing waits for the wall clock to catch up.
func TestClockJumpBackward(t *testing.T) {
	t.Parallel()
	clk := &jumpClock{}
	b := newBlocked()
	h := setup(t, Config{Queues: map[string]int{"default": 8}, LeaseFor: 3 * time.Second, MaintenanceInterval: 20 * time.Millisecond,
		PollInterval: 20 * time.Millisecond, Now: clk.Now, Backoff: func(int) time.Duration { return 10 * time.Millisecond }},
		func(ctx context.Context, a *Attempt) Result {
			if a.Job.Queue == "default" && a.Job.Attempt == 1 && len(a.Job.Args) > 2 {
				return Result{Err: context.DeadlineExceeded} // fails once, retried after 10ms
			}
			return b.work(ctx, a)
		})
	running := h.enqueue(t, 4, nil)
	b.waitStarted(t, 4)
	clk.jump(-time.Hour)
	after := h.enqueue(t, 4, func(j *store.NewJob) { j.Args = []byte(`{"fail":1}`) })
	close(b.release)
	got := map[string]*store.Job{}
	for range len(running) + len(after) {
		j := h.final(t)
		got[j.ID] = j
	}
	for _, id := range running {
		if j := got[id]; j == nil || j.State != store.StateSucceeded || j.Attempt != 1 {
			t.Errorf("job %s running at the step: %+v, want succeeded in attempt 1", id, j)
		}
	}
	for _, id := range after {
		if j := got[id]; j == nil || j.State != store.StateSucceeded || j.Attempt != 2 {
			t.Errorf("job %s enqueued after the step: %+v, want succeeded in attempt 2", id, j)
		}
	}
}

func TestClockSteps(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	m0 := time.Now()
	type obs struct {
		wall, mono time.Duration // since t0 and m0
		want       time.Duration // rescue time, since t0
		step       time.Duration
	}
	cases := map[string][]obs{
		"steady":           {{0, 0, 0, 0}, {time.Second, time.Second, time.Second, 0}, {2 * time.Second, 2 * time.Second, 2 * time.Second, 0}},
		"slow step":        {{0, 0, 0, 0}, {1500 * time.Millisecond, time.Second, 1500 * time.Millisecond, 0}},
		"forward hour":     {{0, 0, 0, 0}, {time.Hour + time.Second, time.Second, time.Second, time.Hour}, {time.Hour + 2*time.Second, 2 * time.Second, 2 * time.Second, 0}},
		"two steps":        {{0, 0, 0, 0}, {time.Hour, 0, 0, time.Hour}, {3 * time.Hour, 0, 0, 2 * time.Hour}},
		"backward ignored": {{0, 0, 0, 0}, {-time.Hour, time.Second, -time.Hour, 0}, {-time.Hour + time.Second, 2 * time.Second, -time.Hour + time.Second, 0}},
		"hold ends":        {{0, 0, 0, 0}, {time.Hour, 0, 0, time.Hour}, {time.Hour + StepHold, StepHold, time.Hour + StepHold, 0}},
	}
	for name, seq := range cases {
		c := &clockSteps{}
		for i, o := range seq {
			at, step := c.rescueNow(t0.Add(o.wall), m0.Add(o.mono))
			if !at.Equal(t0.Add(o.want)) || step != o.step {
				t.Errorf("%s, observation %d: rescue at %v, step %v; want %v, %v", name, i, at.Sub(t0), step, o.want, o.step)
			}
		}
	}
}

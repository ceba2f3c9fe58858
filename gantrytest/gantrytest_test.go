package gantrytest_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gantry-dev/gantry"
	"github.com/gantry-dev/gantry/gantrytest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

type resizeArgs struct {
	Width int `json:"width"`
	// hidden does not survive the JSON trip a client makes.
	hidden int
}

func (resizeArgs) Kind() string { return "resize" }

type resizeResult struct {
	Done int `json:"done"`
}

type step struct {
	Done int `json:"done"`
}

// resize resumes from its checkpoint, reports progress and records a result;
// a width of 0 is a permanent error, a negative width cancels, 1 snoozes and
// 2 fails for retrying; 3 panics.
var resize = gantry.HandlerFunc[resizeArgs](func(ctx context.Context, t *gantry.Task[resizeArgs]) error {
	switch t.Args.Width {
	case 0:
		return gantry.Permanent(errors.New("width 0"))
	case 1:
		return gantry.Snooze(time.Minute)
	case 2:
		return errors.New("downstream busy")
	case 3:
		panic("boom")
	}
	if t.Args.Width < 0 {
		return gantry.Cancel(errors.New("no longer wanted"))
	}
	if t.Args.hidden != 0 {
		return errors.New("an unexported field reached the handler")
	}
	var from step
	if _, err := t.Checkpoint(&from); err != nil {
		return err
	}
	for i := from.Done; i < 4; i++ {
		if err := t.Progress(ctx, (i+1)*25, "row"); err != nil {
			return err
		}
		if err := t.SaveCheckpoint(ctx, step{Done: i + 1}); err != nil {
			return err
		}
	}
	return t.SetResult(resizeResult{Done: 4 - from.Done})
})

func TestWork(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		args      resizeArgs
		opts      *gantrytest.TaskOpts
		state     gantry.State
		reports   int
		snooze    time.Duration
		wantPanic bool
	}{
		{name: "success", args: resizeArgs{Width: 10, hidden: 7}, state: gantry.StateSucceeded, reports: 4},
		{name: "resumes from checkpoint", args: resizeArgs{Width: 10}, opts: &gantrytest.TaskOpts{Attempt: 2, Checkpoint: step{Done: 3}}, state: gantry.StateSucceeded, reports: 1},
		{name: "permanent", args: resizeArgs{Width: 0}, state: gantry.StateFailed},
		{name: "cancel", args: resizeArgs{Width: -1}, state: gantry.StateCancelled},
		{name: "snooze", args: resizeArgs{Width: 1}, state: gantry.StateScheduled, snooze: time.Minute},
		{name: "retrying", args: resizeArgs{Width: 2}, state: gantry.StateRetrying},
		{name: "last attempt fails", args: resizeArgs{Width: 2}, opts: &gantrytest.TaskOpts{Attempt: 3, MaxAttempts: 3}, state: gantry.StateFailed},
		{name: "panic", args: resizeArgs{Width: 3}, state: gantry.StateRetrying, wantPanic: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, err := gantrytest.Work(t.Context(), resize, tc.args, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if out.State != tc.state {
				t.Errorf("State = %s (err %v), want %s", out.State, out.Err, tc.state)
			}
			if (out.Err == nil) != (tc.state == gantry.StateSucceeded) {
				t.Errorf("Err = %v with state %s", out.Err, out.State)
			}
			if len(out.Progress) != tc.reports || len(out.Checkpoints) != tc.reports {
				t.Errorf("%d reports and %d checkpoints, want %d", len(out.Progress), len(out.Checkpoints), tc.reports)
			}
			if tc.reports > 0 && out.Progress[len(out.Progress)-1].Percent != 100 {
				t.Errorf("last progress %+v, want 100%%", out.Progress[len(out.Progress)-1])
			}
			if out.Snooze != tc.snooze {
				t.Errorf("Snooze = %v, want %v", out.Snooze, tc.snooze)
			}
			if (out.Panic != nil) != tc.wantPanic || (tc.wantPanic && !strings.Contains(out.Stack, "gantrytest_test")) {
				t.Errorf("Panic = %v, stack %d bytes; want a panic: %v", out.Panic, len(out.Stack), tc.wantPanic)
			}
			if tc.state == gantry.StateSucceeded {
				var res resizeResult
				if err := out.DecodeResult(&res); err != nil || res.Done != tc.reports {
					t.Errorf("result %s (%v), want done %d", out.Result, err, tc.reports)
				}
			} else if err := out.DecodeResult(&resizeResult{}); err == nil {
				t.Errorf("DecodeResult of %s succeeded without a result", out.Result)
			}
		})
	}
}

func TestNewTask(t *testing.T) {
	t.Parallel()
	task, rec, err := gantrytest.NewTask(resizeArgs{Width: 5}, &gantrytest.TaskOpts{ID: "job-1", Queue: "images", Attempt: 2, MaxAttempts: 4,
		Errors: []gantry.AttemptError{{Attempt: 1, Message: "timeout"}}})
	if err != nil {
		t.Fatal(err)
	}
	j := task.Job
	if j.ID != "job-1" || j.Kind != "resize" || j.Queue != "images" || j.Attempt != 2 || j.MaxAttempts != 4 ||
		j.State != gantry.StateRunning || len(j.Errors) != 1 || string(j.Args) != `{"width":5}` {
		t.Errorf("job = %+v", j)
	}
	if err := task.Progress(t.Context(), 101, "too far"); err == nil {
		t.Error("Progress(101) was accepted")
	}
	if err := task.Progress(t.Context(), 50, strings.Repeat("x", 1000)); err != nil {
		t.Fatal(err)
	}
	if got := rec.Reports(); len(got) != 1 || got[0].Percent != 50 || len(got[0].Message) != 256 {
		t.Errorf("reports = %+v", got)
	}
}

func TestNewTaskRefusesBadOpts(t *testing.T) {
	t.Parallel()
	for _, o := range []*gantrytest.TaskOpts{
		{Queue: "no spaces"},
		{Attempt: 5, MaxAttempts: 3},
		{Checkpoint: func() {}},
	} {
		if _, _, err := gantrytest.NewTask(resizeArgs{}, o); err == nil {
			t.Errorf("NewTask(%+v) succeeded", o)
		}
	}
}

func TestNewClient(t *testing.T) {
	t.Parallel()
	reg := gantry.NewRegistry()
	gantry.Register(reg, resize)
	clock := gantrytest.NewClock(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	c := gantrytest.NewClient(t, &gantry.Config{Registry: reg, Test: gantry.TestConfig{Clock: clock}})
	res, err := c.Enqueue(t.Context(), resizeArgs{Width: 8}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Job.CreatedAt.Equal(clock.Now()) {
		t.Errorf("created at %v, want the clock's %v", res.Job.CreatedAt, clock.Now())
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	j, err := c.Wait(ctx, res.Job.ID)
	if err != nil || j.State != gantry.StateSucceeded || string(j.Result) != `{"done":4}` {
		t.Fatalf("Wait = %+v, %v", j, err)
	}

	clock.Advance(-time.Hour)
	later, err := c.Enqueue(t.Context(), resizeArgs{Width: 8}, &gantry.EnqueueOpts{Delay: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if want := clock.Now().Add(time.Minute); !later.Job.RunAt.Equal(want) || later.Job.State != gantry.StateScheduled {
		t.Errorf("after a jump back: run_at %v in state %s, want %v scheduled", later.Job.RunAt, later.Job.State, want)
	}
}

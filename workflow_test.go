package gantry_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gantry-dev/gantry"
)

type thumbArgs struct {
	Width int `json:"width"`
}

func (thumbArgs) Kind() string { return "thumb" }

type publishArgs struct{}

func (publishArgs) Kind() string { return "publish" }

type thumbResult struct {
	Key string `json:"key"`
}

func step(t *testing.T, ref string, args gantry.Args, opts *gantry.EnqueueOpts, children ...gantry.WorkflowJob) gantry.WorkflowJob {
	t.Helper()
	s, err := gantry.Step(ref, args, opts)
	if err != nil {
		t.Fatal(err)
	}
	s.Children = children
	return s
}

func TestWorkflowRunsAndResultsFlowToTheParent(t *testing.T) {
	t.Parallel()
	reg := gantry.NewRegistry()
	var mu sync.Mutex
	var seen map[string]gantry.Dependency
	var started []string
	gantry.Register(reg, gantry.HandlerFunc[thumbArgs](func(ctx context.Context, task *gantry.Task[thumbArgs]) error {
		mu.Lock()
		started = append(started, task.Job.Ref)
		mu.Unlock()
		return task.SetResult(thumbResult{Key: task.Job.Ref})
	}))
	gantry.Register(reg, gantry.HandlerFunc[publishArgs](func(ctx context.Context, task *gantry.Task[publishArgs]) error {
		mu.Lock()
		started = append(started, task.Job.Ref)
		if task.Job.Ref == "album" {
			mu.Unlock()
			if len(task.Dependencies()) != 2 {
				return gantry.Permanent(errors.New("the parent does not see its two children"))
			}
			return nil
		}
		seen = task.Dependencies()
		mu.Unlock()
		r, err := gantry.DependencyResult[thumbResult](task.Dependencies(), "small")
		if err != nil {
			return err
		}
		return task.SetResult(map[string]string{"small": r.Key})
	}))
	c := setup(t, reg, nil)
	ctx := context.Background()
	res, err := c.EnqueueWorkflow(ctx, gantry.Workflow{Name: "publish-image-42", Jobs: []gantry.WorkflowJob{
		step(t, "small", thumbArgs{128}, nil),
		step(t, "large", thumbArgs{1024}, nil),
		step(t, "publish", publishArgs{}, &gantry.EnqueueOpts{DependsOn: []string{"small", "large"}}),
		step(t, "album", publishArgs{}, nil, step(t, "a1", thumbArgs{64}, nil), step(t, "a2", thumbArgs{64}, nil)),
	}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Workflow.State != gantry.WorkflowRunning || len(res.Jobs) != 6 || res.Jobs["a1"].ParentID != res.Jobs["album"].ID {
		t.Fatalf("EnqueueWorkflow = %+v", res)
	}
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	w, err := c.WaitWorkflow(wctx, res.Workflow.ID)
	if err != nil {
		t.Fatal(err)
	}
	if w.State != gantry.WorkflowSucceeded || w.Counts[gantry.StateSucceeded] != 6 {
		t.Errorf("final workflow = %+v", w)
	}
	pub, err := c.Get(ctx, res.Jobs["publish"].ID)
	if err != nil || string(pub.Result) != `{"small":"small"}` {
		t.Errorf("publish result = %s, %v", pub.Result, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 2 || seen["large"].State != gantry.StateSucceeded {
		t.Errorf("the album parent or publish saw dependencies %+v", seen)
	}
	pos := map[string]int{}
	for i, r := range started {
		pos[r] = i
	}
	for _, before := range [][2]string{{"small", "publish"}, {"large", "publish"}, {"a1", "album"}, {"a2", "album"}} {
		if pos[before[0]] > pos[before[1]] {
			t.Errorf("%s started before %s: %v", before[1], before[0], started)
		}
	}
}

func TestEnqueueWorkflowNamesTheRef(t *testing.T) {
	t.Parallel()
	c := setup(t, nil, nil)
	ctx := context.Background()
	deps := func(d ...string) *gantry.EnqueueOpts { return &gantry.EnqueueOpts{DependsOn: d} }
	cases := []struct {
		name  string
		jobs  []gantry.WorkflowJob
		ref   string
		cycle string
	}{
		{"UnknownRef", []gantry.WorkflowJob{step(t, "a", thumbArgs{}, deps("nope"))}, "a", ""},
		{"DuplicateRef", []gantry.WorkflowJob{step(t, "a", thumbArgs{}, nil), step(t, "a", thumbArgs{}, nil)}, "a", ""},
		{"BadRef", []gantry.WorkflowJob{step(t, "a b", thumbArgs{}, nil)}, "a b", ""},
		{"Cycle", []gantry.WorkflowJob{step(t, "a", thumbArgs{}, deps("c")), step(t, "b", thumbArgs{}, deps("a")),
			step(t, "c", thumbArgs{}, deps("b"))}, "a", "a -> c -> b -> a"},
		{"ParentDependsOnItsChild", []gantry.WorkflowJob{step(t, "p", thumbArgs{}, deps("x"), step(t, "x", thumbArgs{}, deps("p")))}, "p", "p -> x -> p"},
		{"MissingJob", []gantry.WorkflowJob{step(t, "a", thumbArgs{}, deps("0190f5c5-9d5a-7d8e-9d4e-6b2a1c3d4e5f"))}, "a", ""},
		{"BadPriority", []gantry.WorkflowJob{step(t, "a", thumbArgs{}, &gantry.EnqueueOpts{Priority: 42})}, "a", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.EnqueueWorkflow(ctx, gantry.Workflow{Jobs: tc.jobs}, nil)
			var we *gantry.WorkflowError
			if !errors.As(err, &we) || we.Ref != tc.ref || !errors.Is(err, gantry.ErrInvalid) {
				t.Fatalf("got %v, want a *WorkflowError naming %q", err, tc.ref)
			}
			if got := strings.Join(we.Cycle, " -> "); got != tc.cycle {
				t.Errorf("cycle %q, want %q", got, tc.cycle)
			}
		})
	}
	res, err := c.List(ctx, nil)
	if err != nil || len(res.Jobs) != 0 {
		t.Errorf("after refused workflows the store holds %v, %v", res, err)
	}
	if _, err := c.Enqueue(ctx, thumbArgs{}, &gantry.EnqueueOpts{UniqueKey: "k"}); err != nil {
		t.Fatal(err)
	}
	_, err = c.EnqueueWorkflow(ctx, gantry.Workflow{Jobs: []gantry.WorkflowJob{step(t, "u", thumbArgs{}, &gantry.EnqueueOpts{UniqueKey: "k"})}}, nil)
	var ce *gantry.WorkflowConflictError
	if !errors.As(err, &ce) || ce.Ref != "u" || !errors.Is(err, gantry.ErrConflict) {
		t.Errorf("unique key held: got %v, want a *WorkflowConflictError naming u", err)
	}
}

func TestCancelWorkflowCancelsRunningHandlers(t *testing.T) {
	t.Parallel()
	reg := gantry.NewRegistry()
	running := make(chan struct{})
	cause := make(chan error, 1)
	gantry.Register(reg, gantry.HandlerFunc[thumbArgs](func(ctx context.Context, task *gantry.Task[thumbArgs]) error {
		close(running)
		<-ctx.Done()
		cause <- context.Cause(ctx)
		return ctx.Err()
	}))
	c := setup(t, reg, nil)
	ctx := context.Background()
	res, err := c.EnqueueWorkflow(ctx, gantry.Workflow{Jobs: []gantry.WorkflowJob{
		step(t, "a", thumbArgs{}, nil), step(t, "b", publishArgs{}, &gantry.EnqueueOpts{DependsOn: []string{"a"}})}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	<-running
	w, err := c.CancelWorkflow(ctx, res.Workflow.ID, "")
	if err != nil || w.State != gantry.WorkflowCancelled {
		t.Fatalf("CancelWorkflow = %+v, %v", w, err)
	}
	select {
	case err := <-cause:
		if err == nil {
			t.Error("the handler's context ended without a cause")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the running handler's context was not cancelled")
	}
	if _, err := c.Workflow(ctx, "0190f5c5-9d5a-7d8e-9d4e-6b2a1c3d4e5f"); !errors.Is(err, gantry.ErrNotFound) {
		t.Errorf("Workflow of an unknown id: %v", err)
	}
}

type fanArgs struct{ N int }

func (fanArgs) Kind() string { return "fan" }

func TestSpawnAndAwaitChildren(t *testing.T) {
	t.Parallel()
	reg := gantry.NewRegistry()
	var runs sync.Map
	gantry.Register(reg, gantry.HandlerFunc[thumbArgs](func(ctx context.Context, task *gantry.Task[thumbArgs]) error {
		return task.SetResult(thumbResult{Key: task.Job.Ref})
	}))
	gantry.Register(reg, gantry.HandlerFunc[fanArgs](func(ctx context.Context, task *gantry.Task[fanArgs]) error {
		n, _ := runs.LoadOrStore(task.Job.ID, new(int))
		*n.(*int)++
		if len(task.Dependencies()) == 0 {
			var jobs []gantry.WorkflowJob
			for i := range task.Args.N {
				jobs = append(jobs, step(t, "c"+string(rune('a'+i)), thumbArgs{Width: i}, nil))
			}
			first, err := task.Spawn(ctx, jobs...)
			if err != nil {
				return err
			}
			again, err := task.Spawn(ctx, jobs...) // a repeat creates nothing
			if err != nil || again["ca"].ID != first["ca"].ID {
				return gantry.Permanent(errors.New("a repeated spawn made new children"))
			}
			return gantry.AwaitChildren()
		}
		keys := ""
		for i := range task.Args.N {
			r, err := gantry.DependencyResult[thumbResult](task.Dependencies(), "c"+string(rune('a'+i)))
			if err != nil {
				return err
			}
			keys += r.Key
		}
		return task.SetResult(keys)
	}))
	c := setup(t, reg, nil)
	ctx := context.Background()
	e, err := c.Enqueue(ctx, fanArgs{N: 3}, &gantry.EnqueueOpts{MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	j := wait(t, c, e.Job.ID)
	if j.State != gantry.StateSucceeded || string(j.Result) != `"cacbcc"` || j.Attempt != 1 {
		t.Fatalf("the fan-out job ended %s with %s after attempt %d: %+v", j.State, j.Result, j.Attempt, j.Errors)
	}
	children, err := c.List(ctx, &gantry.ListParams{ParentID: j.ID})
	if err != nil || len(children.Jobs) != 3 {
		t.Errorf("children: %d, %v; want 3", len(children.Jobs), err)
	}
	if n, _ := runs.Load(j.ID); *n.(*int) != 2 {
		t.Errorf("the handler ran %d times, want 2", *n.(*int))
	}
}

package storetest

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
)

// wfJob is a job of a test workflow: ref, the refs it depends on, and its
// parent's ref.
type wfJob struct {
	ref, parent string
	deps        []string
	run         bool // if_dependency_fails "run"
	mod         func(*store.NewJob)
}

// enqueueWorkflow enqueues jobs as one workflow and returns the workflow's
// id and the created jobs by ref.
func (h *harness) enqueueWorkflow(name string, jobs ...wfJob) (string, map[string]*store.Job, error) {
	h.t.Helper()
	ids := map[string]string{}
	for _, j := range jobs {
		ids[j.ref] = store.NewID()
	}
	var batch []*store.NewJob
	for _, j := range jobs {
		nj := h.newJob(withKind(j.ref))
		nj.ID, nj.Ref = ids[j.ref], j.ref
		for _, d := range j.deps {
			if id, ok := ids[d]; ok {
				d = id
			}
			nj.DependsOn = append(nj.DependsOn, d)
		}
		if j.parent != "" {
			nj.ParentID = ids[j.parent]
		}
		if j.run {
			nj.IfDependencyFails = store.DependencyRun
		}
		if j.mod != nil {
			j.mod(nj)
		}
		batch = append(batch, nj)
	}
	wf := store.NewID()
	res, err := h.d.Enqueue(h.ctx, &store.EnqueueParams{Jobs: batch, Now: h.now,
		Workflow: &store.NewWorkflow{ID: wf, Name: name}})
	if err != nil {
		return "", nil, err
	}
	out := map[string]*store.Job{}
	for i, e := range res.Jobs {
		if e.Duplicate {
			h.t.Fatalf("workflow job %s is a duplicate", jobs[i].ref)
		}
		out[jobs[i].ref] = e.Job
	}
	return wf, out, nil
}

func (h *harness) mustWorkflow(name string, jobs ...wfJob) (string, map[string]*store.Job) {
	h.t.Helper()
	wf, js, err := h.enqueueWorkflow(name, jobs...)
	if err != nil {
		h.t.Fatalf("Enqueue of workflow %s: %v", name, err)
	}
	return wf, js
}

func (h *harness) workflows() store.Workflows {
	h.t.Helper()
	w, ok := store.As[store.Workflows](h.d)
	if !ok {
		h.t.Fatal("the driver has no store.Workflows")
	}
	return w
}

func (h *harness) workflow(id string) *store.Workflow {
	h.t.Helper()
	w, err := h.workflows().Workflow(h.ctx, id)
	if err != nil {
		h.t.Fatalf("Workflow(%s): %v", id, err)
	}
	return w
}

// wantWorkflow checks a workflow's state and counts.
func wantWorkflow(t *testing.T, what string, w *store.Workflow, s store.WorkflowState, counts map[store.State]int64) {
	t.Helper()
	if w.State != s {
		t.Errorf("%s: workflow is %s, want %s", what, w.State, s)
	}
	for _, st := range store.States {
		if w.Counts[st] != counts[st] {
			t.Errorf("%s: %d jobs %s, want %d (counts %v)", what, w.Counts[st], st, counts[st], w.Counts)
		}
	}
	if s.Final() == w.FinishedAt.IsZero() {
		t.Errorf("%s: workflow %s has FinishedAt %s", what, w.State, fmtTime(w.FinishedAt))
	}
}

// claimKind claims the one available job of kind.
func (h *harness) claimKind(kind string) *store.Job {
	h.t.Helper()
	got := h.claim(store.ClaimParams{Kinds: []string{kind}, Max: 2})
	if len(got) != 1 {
		h.t.Fatalf("claim of kind %s took %v, want one job", kind, ids(got))
	}
	return got[0]
}

func testWorkflows(t *testing.T, open opener) {
	t.Run("Property", func(t *testing.T) {
		t.Parallel()
		testWorkflowProperty(t, open)
	})
	t.Run("BatchDependsOnBatch", func(t *testing.T) {
		h := setup(t, open)
		a, b, c := h.newJob(withKind("a")), h.newJob(withKind("b")), h.newJob(withKind("c"))
		a.ID, b.ID, c.ID = store.NewID(), store.NewID(), store.NewID()
		c.DependsOn = []string{a.ID, b.ID}
		res, err := h.enqueueBatch(c, a, b) // the dependent first: order does not matter
		if err != nil {
			t.Fatalf("Enqueue: %v", err)
		}
		if got := res.Jobs[0].Job; got.ID != c.ID {
			t.Errorf("the job got id %s, want the caller's %s", got.ID, c.ID)
		}
		wantState(t, "a job depending on jobs of the same call", res.Jobs[0].Job, store.StateWaiting)
		h.succeed(h.claimKind("a"))
		h.succeed(h.claimKind("b"))
		wantState(t, "after both succeeded", h.get(c.ID), store.StateAvailable)
	})

	t.Run("BatchAllOrNone", func(t *testing.T) {
		h := setup(t, open)
		a, b := h.newJob(withKind("a")), h.newJob(withKind("b"))
		a.ID, b.ID = store.NewID(), store.NewID()
		b.DependsOn = []string{a.ID, store.NewID()}
		_, err := h.enqueueBatch(a, b)
		wantFieldError(t, err, 1, "DependsOn[1]")
		if got := h.listAll(store.ListParams{}); len(got) != 0 {
			t.Errorf("after the refused call the store holds %d jobs", len(got))
		}
		taken := h.enqueue()
		c := h.newJob()
		c.ID = taken.ID
		_, err = h.enqueueBatch(c)
		wantFieldError(t, err, 0, "ID")
	})

	t.Run("Cycle", func(t *testing.T) {
		h := setup(t, open)
		_, _, err := h.enqueueWorkflow("cycle",
			wfJob{ref: "a", deps: []string{"c"}}, wfJob{ref: "b", deps: []string{"a"}}, wfJob{ref: "c", deps: []string{"b"}})
		var ce *store.CycleError
		if !errors.As(err, &ce) || len(ce.Path) != 4 || ce.Path[0] != ce.Path[3] {
			t.Fatalf("Enqueue of a cycle: got %v, want a *store.CycleError with a path of 3 jobs and back", err)
		}
		wantErr(t, "a cycle", err, store.ErrInvalid)
		if got := h.listAll(store.ListParams{}); len(got) != 0 {
			t.Errorf("after the refused workflow the store holds %d jobs", len(got))
		}
	})

	t.Run("RecordAndCounts", func(t *testing.T) {
		h := setup(t, open)
		wf, js := h.mustWorkflow("publish",
			wfJob{ref: "small"}, wfJob{ref: "large"}, wfJob{ref: "publish", deps: []string{"small", "large"}})
		w := h.workflow(wf)
		if w.Name != "publish" || !strings.EqualFold(w.ID, wf) || !w.CreatedAt.Equal(h.now) {
			t.Errorf("workflow = %+v, want name publish, id %s, created at %s", w, wf, fmtTime(h.now))
		}
		wantWorkflow(t, "new", w, store.WorkflowRunning, map[store.State]int64{store.StateAvailable: 2, store.StateWaiting: 1})
		for ref, j := range js {
			if !strings.EqualFold(j.WorkflowID, wf) || j.Ref != ref {
				t.Errorf("job %s has workflow %q and ref %q", ref, j.WorkflowID, j.Ref)
			}
			wantJob(t, "Get of a workflow job", h.get(j.ID), j)
		}
		if got := js["publish"].DependsOn; len(got) != 2 || got[0] != js["small"].ID {
			t.Errorf("DependsOn = %v, want the ids of small and large", got)
		}
		h.advance(time.Second)
		h.succeed(h.claimKind("small"))
		h.succeed(h.claimKind("large"))
		wantWorkflow(t, "dependencies done", h.workflow(wf), store.WorkflowRunning,
			map[store.State]int64{store.StateSucceeded: 2, store.StateAvailable: 1})
		h.advance(time.Second)
		h.succeed(h.claimKind("publish"))
		w = h.workflow(wf)
		wantWorkflow(t, "all done", w, store.WorkflowSucceeded, map[store.State]int64{store.StateSucceeded: 3})
		wantTime(t, "FinishedAt", w.FinishedAt, h.now)
		if _, err := h.workflows().Workflow(h.ctx, store.NewID()); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Workflow of an unknown id: %v, want ErrNotFound", err)
		}
	})

	t.Run("ParentWaitsForChildren", func(t *testing.T) {
		h := setup(t, open)
		wf, js := h.mustWorkflow("album", wfJob{ref: "album"}, wfJob{ref: "a1", parent: "album"}, wfJob{ref: "a2", parent: "album"})
		wantState(t, "a parent in a workflow", js["album"], store.StateWaiting)
		if js["a1"].ParentID != js["album"].ID {
			t.Errorf("child's ParentID = %q, want %s", js["a1"].ParentID, js["album"].ID)
		}
		h.succeed(h.claimKind("a1"))
		h.claimNoneOf(js["album"])
		h.mustFinish(store.FinishItem{ID: js["a2"].ID, LeaseToken: h.claimKind("a2").LeaseToken,
			Outcome: store.OutcomeSucceeded, Result: json.RawMessage(`{"w":64}`)})
		parent := h.claimKind("album")
		if d := parent.Dependencies["a2"]; d.State != store.StateSucceeded || !jsonEqual(d.Result, []byte(`{"w":64}`)) {
			t.Errorf("the parent sees child a2 as %+v, want succeeded with its result", d)
		}
		h.succeed(parent)
		wantWorkflow(t, "tree done", h.workflow(wf), store.WorkflowSucceeded, map[store.State]int64{store.StateSucceeded: 3})
	})

	t.Run("PlainParentDoesNotWait", func(t *testing.T) {
		h := setup(t, open)
		p := h.enqueue(withKind("p"))
		c := h.enqueue(withKind("c"), withParent(p.ID))
		wantState(t, "a plain parent", h.get(p.ID), store.StateAvailable)
		wantState(t, "its child", c, store.StateAvailable)
		_, err := h.enqueueBatch(h.newJob(withParent(store.NewID())))
		wantFieldError(t, err, 0, "ParentID")
	})

	t.Run("FailureCascades", func(t *testing.T) {
		h := setup(t, open)
		wf, js := h.mustWorkflow("cascade",
			wfJob{ref: "a", mod: func(j *store.NewJob) { j.MaxAttempts = 1 }},
			wfJob{ref: "b", deps: []string{"a"}}, wfJob{ref: "c", deps: []string{"b"}},
			wfJob{ref: "r", deps: []string{"b"}, run: true}, wfJob{ref: "x"})
		h.fail(h.claimKind("a"), 0)
		b, c := h.get(js["b"].ID), h.get(js["c"].ID)
		wantState(t, "dependent", b, store.StateCancelled)
		wantState(t, "transitive dependent", c, store.StateCancelled)
		if !strings.Contains(b.CancelReason, js["a"].ID) || !strings.Contains(c.CancelReason, js["b"].ID) {
			t.Errorf("reasons %q and %q do not name the dependencies", b.CancelReason, c.CancelReason)
		}
		r := h.claimKind("r")
		if d := r.Dependencies["b"]; d.State != store.StateCancelled || d.ID != js["b"].ID {
			t.Errorf("the run-anyway job sees b as %+v, want cancelled", d)
		}
		h.succeed(r)
		wantWorkflow(t, "while x runs", h.workflow(wf), store.WorkflowRunning,
			map[store.State]int64{store.StateFailed: 1, store.StateCancelled: 2, store.StateSucceeded: 1, store.StateAvailable: 1})
		h.succeed(h.claimKind("x"))
		wantWorkflow(t, "after a failure", h.workflow(wf), store.WorkflowFailed,
			map[store.State]int64{store.StateFailed: 1, store.StateCancelled: 2, store.StateSucceeded: 2})
		// Retrying the failed job revives what it cancelled, and the
		// workflow runs again.
		h.retry(js["a"].ID)
		w := h.workflow(wf)
		wantWorkflow(t, "after the retry", w, store.WorkflowRunning,
			map[store.State]int64{store.StateAvailable: 1, store.StateWaiting: 2, store.StateSucceeded: 2})
		h.succeed(h.claimKind("a"))
		h.succeed(h.claimKind("b"))
		h.succeed(h.claimKind("c"))
		wantWorkflow(t, "after the revived jobs ran", h.workflow(wf), store.WorkflowSucceeded,
			map[store.State]int64{store.StateSucceeded: 5})
	})

	t.Run("RunWaitsForFinal", func(t *testing.T) {
		h := setup(t, open)
		_, js := h.mustWorkflow("run",
			wfJob{ref: "a", mod: func(j *store.NewJob) { j.MaxAttempts = 2 }}, wfJob{ref: "b"},
			wfJob{ref: "r", deps: []string{"a", "b"}, run: true})
		h.fail(h.claimKind("a"), 0)
		wantState(t, "run-anyway job while a dependency retries", h.get(js["r"].ID), store.StateWaiting)
		h.fail(h.claimKind("a"), 0)
		wantState(t, "after one dependency failed", h.get(js["r"].ID), store.StateWaiting)
		h.succeed(h.claimKind("b"))
		r := h.claimKind("r")
		if r.Dependencies["a"].State != store.StateFailed || r.Dependencies["b"].State != store.StateSucceeded {
			t.Errorf("dependencies = %+v, want a failed and b succeeded", r.Dependencies)
		}
	})

	t.Run("CancelWorkflow", func(t *testing.T) {
		h := setup(t, open)
		outside := h.newJob(withKind("outside"))
		wf, js := h.mustWorkflow("stop", wfJob{ref: "a"}, wfJob{ref: "b", deps: []string{"a"}}, wfJob{ref: "done"})
		outside.DependsOn = []string{js["b"].ID}
		o := h.enqueueNew(outside)
		h.succeed(h.claimKind("done"))
		running := h.claimKind("a")
		w, err := h.workflows().CancelWorkflow(h.ctx, &store.CancelWorkflowParams{ID: wf, Now: h.now})
		if err != nil {
			t.Fatalf("CancelWorkflow: %v", err)
		}
		wantWorkflow(t, "cancelled", w, store.WorkflowCancelled,
			map[store.State]int64{store.StateCancelled: 2, store.StateSucceeded: 1})
		_, err = h.finishOne(store.FinishItem{ID: running.ID, LeaseToken: running.LeaseToken, Outcome: store.OutcomeSucceeded})
		wantErr(t, "Finish of a job of a cancelled workflow", err, store.ErrLeaseLost)
		wantState(t, "a dependent outside the workflow", h.get(o.ID), store.StateCancelled)
		wantState(t, "a job that had succeeded", h.get(js["done"].ID), store.StateSucceeded)
		if _, err := h.workflows().CancelWorkflow(h.ctx, &store.CancelWorkflowParams{ID: store.NewID(), Now: h.now}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("CancelWorkflow of an unknown id: %v, want ErrNotFound", err)
		}
	})

	t.Run("CancelJobCascades", func(t *testing.T) {
		h := setup(t, open)
		wf, js := h.mustWorkflow("stop", wfJob{ref: "a"}, wfJob{ref: "b", deps: []string{"a"}})
		h.cancel(js["a"].ID, "no")
		wantState(t, "dependent of a cancelled job", h.get(js["b"].ID), store.StateCancelled)
		wantWorkflow(t, "cancelled", h.workflow(wf), store.WorkflowCancelled, map[store.State]int64{store.StateCancelled: 2})
	})

	t.Run("UniqueKeyRefusesWorkflow", func(t *testing.T) {
		h := setup(t, open)
		held := h.enqueue(withUniqueKey("img-42"))
		_, _, err := h.enqueueWorkflow("dup", wfJob{ref: "a"},
			wfJob{ref: "b", mod: func(j *store.NewJob) { j.UniqueKey = "img-42" }})
		var de *store.DuplicateError
		if !errors.As(err, &de) || de.Index != 1 || !strings.EqualFold(de.Existing, held.ID) {
			t.Fatalf("Enqueue: got %v, want a *store.DuplicateError for jobs[1] naming %s", err, held.ID)
		}
		wantErr(t, "duplicate", err, store.ErrConflict)
		if got := h.listAll(store.ListParams{}); len(got) != 1 {
			t.Errorf("after the refused workflow the store holds %d jobs, want 1", len(got))
		}
	})

	t.Run("ListByWorkflow", func(t *testing.T) {
		h := setup(t, open)
		var jobs []wfJob
		for i := range 7 {
			jobs = append(jobs, wfJob{ref: "j" + string(rune('a'+i))})
		}
		wf, js := h.mustWorkflow("list", jobs...)
		h.mustWorkflow("other", wfJob{ref: "z"})
		h.enqueue()
		got := h.listAll(store.ListParams{WorkflowID: wf, Limit: 3})
		if len(got) != 7 {
			t.Fatalf("List by workflow: %d jobs, want 7", len(got))
		}
		for _, j := range got {
			if js[j.Ref] == nil || js[j.Ref].ID != j.ID {
				t.Errorf("List by workflow returned %s (ref %q)", j.ID, j.Ref)
			}
		}
		ws, err := h.workflows().ListWorkflows(h.ctx, &store.WorkflowListParams{Limit: 1})
		if err != nil || len(ws.Workflows) != 1 || ws.Next == "" {
			t.Fatalf("ListWorkflows: %+v, %v; want one workflow and a cursor", ws, err)
		}
		ws2, err := h.workflows().ListWorkflows(h.ctx, &store.WorkflowListParams{Limit: 5, Cursor: ws.Next})
		if err != nil || len(ws2.Workflows) != 1 || ws2.Next != "" || strings.EqualFold(ws2.Workflows[0].ID, ws.Workflows[0].ID) {
			t.Fatalf("ListWorkflows page 2: %+v, %v; want the other workflow", ws2, err)
		}
		none, err := h.workflows().ListWorkflows(h.ctx, &store.WorkflowListParams{State: store.WorkflowSucceeded})
		if err != nil || len(none.Workflows) != 0 {
			t.Errorf("ListWorkflows(succeeded): %+v, %v; want none", none, err)
		}
	})

	t.Run("DependencyResultsCapped", func(t *testing.T) {
		h := setup(t, open)
		big := `{"b":"` + strings.Repeat("x", store.MaxDependencyResults/2+10) + `"}`
		_, js := h.mustWorkflow("cap", wfJob{ref: "a"}, wfJob{ref: "b"}, wfJob{ref: "c", deps: []string{"a", "b"}})
		for _, ref := range []string{"a", "b"} {
			j := h.claimKind(ref)
			h.mustFinish(store.FinishItem{ID: j.ID, LeaseToken: j.LeaseToken, Outcome: store.OutcomeSucceeded, Result: json.RawMessage(big)})
		}
		c := h.claimKind("c")
		n := 0
		for _, d := range c.Dependencies {
			if d.ResultTruncated {
				n++
				if d.Result != nil {
					t.Errorf("a truncated entry carries its result")
				}
			}
		}
		if n != 1 || len(c.Dependencies) != 2 {
			t.Errorf("dependencies %d, truncated %d; want 2 and 1", len(c.Dependencies), n)
		}
		outside := h.enqueue(withKind("outside"), withDeps(js["a"].ID))
		o := h.claimJob(outside)
		if d, ok := o.Dependencies[js["a"].ID]; !ok || d.State != store.StateSucceeded {
			t.Errorf("a job outside the workflow sees its dependency by id: %+v", o.Dependencies)
		}
	})

	t.Run("PruneWholeWorkflow", func(t *testing.T) {
		h := setup(t, open)
		wf, js := h.mustWorkflow("prune", wfJob{ref: "a"}, wfJob{ref: "b", deps: []string{"a"}})
		h.succeed(h.claimKind("a"))
		h.advance(time.Hour)
		prune := func() {
			if _, err := h.d.Prune(h.ctx, &store.PruneParams{FinishedBefore: h.now.Add(-time.Minute), Now: h.now}); err != nil {
				t.Fatalf("Prune: %v", err)
			}
		}
		prune()
		h.get(js["a"].ID) // still there: b is not final
		h.succeed(h.claimKind("b"))
		prune()
		h.get(js["a"].ID) // b finished within the retention period
		h.advance(time.Hour)
		prune()
		h.wantGone(js["a"].ID)
		h.wantGone(js["b"].ID)
		if _, err := h.workflows().Workflow(h.ctx, wf); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Workflow after the prune: %v, want ErrNotFound", err)
		}
	})
}

// spawn spawns children of the running job parent, each a ref, with the
// idempotency key of a spawn.
func (h *harness) spawn(parent *store.Job, refs ...string) (*store.EnqueueResult, error) {
	h.t.Helper()
	var jobs []*store.NewJob
	for _, r := range refs {
		nj := h.newJob(withKind(r), withParent(parent.ID))
		nj.Ref = r
		jobs = append(jobs, nj)
	}
	key := store.SpawnKey(parent.ID, parent.Attempt, refs)
	return h.d.Enqueue(h.ctx, &store.EnqueueParams{Jobs: jobs, Now: h.now,
		Parent:         &store.ParentLease{ID: parent.ID, LeaseToken: parent.LeaseToken},
		IdempotencyKey: key, IdempotencyHash: key, IdempotencyExpires: h.now.Add(24 * time.Hour)})
}

func (h *harness) await(j *store.Job) *store.Job {
	h.t.Helper()
	return h.mustFinish(store.FinishItem{ID: j.ID, LeaseToken: j.LeaseToken, Outcome: store.OutcomeAwaitChildren})
}

func testSpawn(t *testing.T, open opener) {
	t.Run("SpawnAndAwait", func(t *testing.T) {
		h := setup(t, open)
		p := h.claimJob(h.enqueue(withKind("p")))
		res, err := h.spawn(p, "c1", "c2")
		if err != nil || len(res.Jobs) != 2 {
			t.Fatalf("spawn: %+v, %v", res, err)
		}
		again, err := h.spawn(p, "c1", "c2") // the same spawn after a lost answer
		if err != nil || !again.Replayed || again.Jobs[0].Job.ID != res.Jobs[0].Job.ID {
			t.Fatalf("repeated spawn: %+v, %v; want the first children", again, err)
		}
		if _, err := h.spawn(&store.Job{ID: p.ID, Attempt: p.Attempt, LeaseToken: store.NewLeaseToken(p.Attempt)}, "c3"); !errors.Is(err, store.ErrLeaseLost) {
			t.Errorf("spawn with a wrong token: %v, want ErrLeaseLost", err)
		}
		if got := h.listAll(store.ListParams{ParentID: p.ID}); len(got) != 2 {
			t.Errorf("the parent has %d children, want 2", len(got))
		}
		w := h.await(p)
		wantState(t, "a job awaiting its children", w, store.StateWaiting)
		if w.Attempt != 0 {
			t.Errorf("attempt after the await = %d, want 0: the attempt is not spent", w.Attempt)
		}
		h.succeed(h.claimKind("c1"))
		h.claimNoneOf(p)
		c2 := h.claimKind("c2")
		h.mustFinish(store.FinishItem{ID: c2.ID, LeaseToken: c2.LeaseToken, Outcome: store.OutcomeSucceeded, Result: json.RawMessage(`{"n":2}`)})
		again2 := h.claimKind("p")
		if again2.Attempt != 1 || again2.Dependencies["c2"].State != store.StateSucceeded || !jsonEqual(again2.Dependencies["c2"].Result, []byte(`{"n":2}`)) {
			t.Errorf("the parent runs again with attempt %d and %+v", again2.Attempt, again2.Dependencies)
		}
		h.succeed(again2)
	})

	t.Run("AwaitAfterChildrenFinished", func(t *testing.T) {
		h := setup(t, open)
		p := h.claimJob(h.enqueue(withKind("p")))
		if _, err := h.spawn(p, "c"); err != nil {
			t.Fatal(err)
		}
		h.succeed(h.claimKind("c"))
		wantState(t, "await when the children are done", h.await(p), store.StateAvailable)
	})

	t.Run("FailedChildCancelsParent", func(t *testing.T) {
		for _, before := range []bool{true, false} {
			t.Run(map[bool]string{true: "BeforeAwait", false: "AfterAwait"}[before], func(t *testing.T) {
				h := setup(t, open)
				p := h.claimJob(h.enqueue(withKind("p")))
				after := h.enqueue(withKind("after"), withDeps(p.ID))
				if _, err := h.spawn(p, "c"); err != nil {
					t.Fatal(err)
				}
				if before {
					// A child that fails while its parent runs cancels the
					// parent at once: its await finds the lease gone.
					h.failPermanently(h.claimKind("c"))
					_, err := h.finishOne(store.FinishItem{ID: p.ID, LeaseToken: p.LeaseToken, Outcome: store.OutcomeAwaitChildren})
					wantErr(t, "await after a child failed", err, store.ErrLeaseLost)
				} else {
					h.await(p)
					h.failPermanently(h.claimKind("c"))
				}
				got := h.get(p.ID)
				wantState(t, "a parent whose child failed", got, store.StateCancelled)
				if !strings.Contains(got.CancelReason, "failed") {
					t.Errorf("reason %q", got.CancelReason)
				}
				wantState(t, "the parent's dependent", h.get(after.ID), store.StateCancelled)
			})
		}
	})

	t.Run("SpawnJoinsTheWorkflow", func(t *testing.T) {
		h := setup(t, open)
		wf, js := h.mustWorkflow("fan", wfJob{ref: "p"})
		p := h.claimKind("p")
		res, err := h.spawn(p, "c1", "c2", "c3")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.EqualFold(res.Jobs[0].Job.WorkflowID, wf) {
			t.Errorf("a spawned child has workflow %q, want %s", res.Jobs[0].Job.WorkflowID, wf)
		}
		h.await(p)
		wantWorkflow(t, "fan-out", h.workflow(wf), store.WorkflowRunning,
			map[store.State]int64{store.StateWaiting: 1, store.StateAvailable: 3})
		for _, r := range []string{"c1", "c2", "c3"} {
			h.succeed(h.claimKind(r))
		}
		h.succeed(h.claimJob(js["p"]))
		wantWorkflow(t, "fan-in", h.workflow(wf), store.WorkflowSucceeded, map[store.State]int64{store.StateSucceeded: 4})
	})
}

package gantry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/engine"
	"github.com/gantry-dev/gantry/store"
)

// DependencyPolicy says what becomes of a job when a dependency fails or
// is cancelled.
type DependencyPolicy = store.DependencyPolicy

// The dependency policies.
const (
	// DependencyCancel cancels the job, and its dependents, transitively.
	DependencyCancel = store.DependencyCancel
	// DependencyRun runs the job once all its dependencies are final.
	DependencyRun = store.DependencyRun
)

// WorkflowInfo is a workflow as the store keeps it: its state and the
// number of its jobs in each state.
type WorkflowInfo = store.Workflow

// WorkflowState is the state of a workflow.
type WorkflowState = store.WorkflowState

// The states of a workflow: running while a job is not final, then
// succeeded if every job succeeded, failed if one failed, cancelled
// otherwise.
const (
	WorkflowRunning   = store.WorkflowRunning
	WorkflowSucceeded = store.WorkflowSucceeded
	WorkflowFailed    = store.WorkflowFailed
	WorkflowCancelled = store.WorkflowCancelled
)

// Workflow is a tree or DAG of jobs, submitted all or none in one commit.
type Workflow struct {
	// Name is an optional label of at most 128 bytes.
	Name string
	// Jobs are the jobs at the top of the workflow.
	Jobs []WorkflowJob
}

// WorkflowJob is one job of a Workflow.
type WorkflowJob struct {
	// Ref names the job within the workflow: 1-128 characters of letters,
	// digits, '.', '_', '-', ':', unique in the workflow.
	Ref string
	// Kind names the handler.
	Kind string
	// Args is a JSON object; empty means {}.
	Args json.RawMessage
	// Opts may be nil. Opts.DependsOn lists refs of the same workflow or
	// ids of existing jobs; Opts.ParentID must be empty (nest the job in
	// Children instead).
	Opts *EnqueueOpts
	// Children run before this job, which waits for them as for its
	// dependencies and reads their outcomes in Task.Dependencies.
	Children []WorkflowJob
}

// Step builds a WorkflowJob from typed args.
func Step(ref string, args Args, opts *EnqueueOpts) (WorkflowJob, error) {
	s, err := Spec(args, opts)
	if err != nil {
		return WorkflowJob{}, err
	}
	return WorkflowJob{Ref: ref, Kind: s.Kind, Args: s.Args, Opts: opts}, nil
}

// DefaultMaxWorkflowJobs is the most jobs a workflow may hold unless
// WorkflowOpts.MaxJobs says otherwise.
const DefaultMaxWorkflowJobs = 10000

// WorkflowOpts are options of EnqueueWorkflow. The zero value is fine.
type WorkflowOpts struct {
	// IdempotencyKey, RequestHash and KeepFor work as in BatchOpts.
	IdempotencyKey string
	RequestHash    string
	KeepFor        time.Duration
	// MaxJobs bounds the jobs of the workflow. Default
	// DefaultMaxWorkflowJobs.
	MaxJobs int
}

// EnqueuedWorkflow is the outcome of EnqueueWorkflow.
type EnqueuedWorkflow struct {
	Workflow *WorkflowInfo
	// Jobs holds the created jobs by ref.
	Jobs map[string]*Job
	// Replayed is true when the idempotency key had been used before: the
	// workflow is the one the first call created.
	Replayed bool
}

// WorkflowError refuses a workflow: Ref names the job at fault ("" for
// the workflow itself), and Cycle, for a cycle, the refs around it (the
// first repeated at the end).
type WorkflowError struct {
	Ref    string
	Field  string
	Reason string
	Cycle  []string
}

func (e *WorkflowError) Error() string {
	switch {
	case len(e.Cycle) > 0:
		return "gantry: workflow: dependency cycle " + strings.Join(e.Cycle, " -> ")
	case e.Ref == "":
		return "gantry: workflow: " + e.Field + ": " + e.Reason
	case e.Field == "":
		return fmt.Sprintf("gantry: workflow: job %q: %s", e.Ref, e.Reason)
	}
	return fmt.Sprintf("gantry: workflow: job %q: %s: %s", e.Ref, e.Field, e.Reason)
}

// Is makes errors.Is(err, ErrInvalid) true for every WorkflowError.
func (e *WorkflowError) Is(target error) bool { return target == ErrInvalid }

// WorkflowConflictError refuses a workflow one of whose jobs has the
// unique key of a job that is not final.
type WorkflowConflictError struct {
	Ref, UniqueKey, Existing string
}

func (e *WorkflowConflictError) Error() string {
	return fmt.Sprintf("gantry: workflow: job %q: unique key %q is held by job %s", e.Ref, e.UniqueKey, e.Existing)
}

// Is makes errors.Is(err, ErrConflict) true for every WorkflowConflictError.
func (e *WorkflowConflictError) Is(target error) bool { return target == ErrConflict }

// planned is a workflow flattened into the jobs of one Enqueue call.
type plannedWorkflow struct {
	params *store.EnqueueParams
	refs   []string // refs[i] is the ref of params.Jobs[i]
}

// planWorkflow flattens w (children after their parent) into the jobs of
// one store call: it gives every job an id, turns refs in DependsOn into
// ids and checks the graph. newJob applies a client's defaults. It reads no
// store: every error it returns is a *WorkflowError.
func planWorkflow(w *Workflow, maxJobs int, now time.Time, newJob func(JobSpec, time.Time) (*store.NewJob, error)) (*plannedWorkflow, error) {
	return planJobs(w, maxJobs, now, newJob, "")
}

// planJobs is planWorkflow, or, with parent set, the plan of children that
// the running job parent spawns (no workflow record: they join the
// parent's workflow, if any, and the jobs at the top are its children).
func planJobs(w *Workflow, maxJobs int, now time.Time, newJob func(JobSpec, time.Time) (*store.NewJob, error), parent string) (*plannedWorkflow, error) {
	if maxJobs <= 0 {
		maxJobs = DefaultMaxWorkflowJobs
	}
	if len(w.Name) > store.MaxWorkflowName {
		return nil, &WorkflowError{Field: "name", Reason: fmt.Sprintf("must be at most %d bytes", store.MaxWorkflowName)}
	}
	type flat struct {
		job    *WorkflowJob
		parent int
	}
	var jobs []flat
	var walk func(list []WorkflowJob, parent, depth int) error
	walk = func(list []WorkflowJob, parent, depth int) error {
		for i := range list {
			if len(jobs) >= maxJobs {
				return &WorkflowError{Field: "jobs", Reason: fmt.Sprintf("a workflow holds at most %d jobs", maxJobs)}
			}
			jobs = append(jobs, flat{&list[i], parent})
			if err := walk(list[i].Children, len(jobs)-1, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(w.Jobs, -1, 0); err != nil {
		return nil, err
	}
	if len(jobs) == 0 {
		return nil, &WorkflowError{Field: "jobs", Reason: "must hold at least one job"}
	}
	byRef := make(map[string]int, len(jobs))
	for i, f := range jobs {
		if !store.ValidName(f.job.Ref) {
			return nil, &WorkflowError{Ref: f.job.Ref, Field: "ref", Reason: store.NameRule}
		}
		if _, dup := byRef[f.job.Ref]; dup {
			return nil, &WorkflowError{Ref: f.job.Ref, Field: "ref", Reason: "is the ref of another job of the workflow"}
		}
		byRef[f.job.Ref] = i
	}
	p := &plannedWorkflow{
		params: &store.EnqueueParams{Now: now, Jobs: make([]*store.NewJob, len(jobs))},
		refs:   make([]string, len(jobs)),
	}
	if parent == "" {
		p.params.Workflow = &store.NewWorkflow{ID: store.NewID(), Name: w.Name}
	} else {
		p.params.Parent = &store.ParentLease{ID: parent}
	}
	ids := make([]string, len(jobs))
	for i := range jobs {
		ids[i] = store.NewID()
	}
	for i, f := range jobs {
		opts := EnqueueOpts{}
		if f.job.Opts != nil {
			opts = *f.job.Opts
		}
		if opts.ParentID != "" {
			return nil, &WorkflowError{Ref: f.job.Ref, Field: "parent_id", Reason: "must not be set: nest the job in children"}
		}
		deps := make([]string, len(opts.DependsOn))
		for k, d := range opts.DependsOn {
			switch j, ok := byRef[d]; {
			case ok:
				deps[k] = ids[j]
			case store.ValidID(d):
				deps[k] = d
			default:
				return nil, &WorkflowError{Ref: f.job.Ref, Field: fmt.Sprintf("depends_on[%d]", k),
					Reason: fmt.Sprintf("%q is neither a ref of the workflow nor a job id", d)}
			}
		}
		opts.DependsOn = deps
		nj, err := newJob(JobSpec{Kind: f.job.Kind, Args: f.job.Args, Opts: &opts}, now)
		if err != nil {
			return nil, workflowFieldError(err, f.job.Ref)
		}
		nj.ID, nj.Ref = ids[i], f.job.Ref
		if f.parent >= 0 {
			nj.ParentID = ids[f.parent]
		} else {
			nj.ParentID = parent
		}
		if err := store.ValidateNewIn(nj, true); err != nil {
			return nil, workflowFieldError(err, f.job.Ref)
		}
		p.params.Jobs[i] = nj
		p.refs[i] = f.job.Ref
	}
	if _, err := store.CheckBatch(p.params); err != nil {
		return nil, p.storeError(err)
	}
	return p, nil
}

// workflowFieldError names ref in a *FieldError about one job.
func workflowFieldError(err error, ref string) error {
	var fe *FieldError
	if errors.As(err, &fe) {
		return &WorkflowError{Ref: ref, Field: jsonField(fe.Field), Reason: fe.Reason}
	}
	return err
}

// jsonField turns a Go field name of NewJob into its JSON name:
// "DependsOn[2]" becomes "depends_on[2]".
func jsonField(f string) string {
	var b strings.Builder
	for i, c := range f {
		if 'A' <= c && c <= 'Z' {
			if i > 0 && f[i-1] != '.' && f[i-1] != '[' {
				b.WriteByte('_')
			}
			c += 'a' - 'A'
		}
		b.WriteRune(c)
	}
	return b.String()
}

// storeError turns an error of the store about the call's jobs, which
// names them by index, into one that names their refs.
func (p *plannedWorkflow) storeError(err error) error {
	ref := func(i int) string {
		if i >= 0 && i < len(p.refs) {
			return p.refs[i]
		}
		return ""
	}
	var (
		ce *store.CycleError
		fe *store.FieldError
		de *store.DuplicateError
	)
	switch {
	case errors.As(err, &ce):
		cycle := make([]string, len(ce.Path))
		for i, n := range ce.Path {
			cycle[i] = ref(n)
		}
		return &WorkflowError{Ref: ref(ce.Index), Reason: "dependency cycle", Cycle: cycle}
	case errors.As(err, &de):
		return &WorkflowConflictError{Ref: ref(de.Index), UniqueKey: de.Key, Existing: de.Existing}
	case errors.As(err, &fe):
		return &WorkflowError{Ref: ref(fe.Index), Field: jsonField(fe.Field), Reason: fe.Reason}
	}
	return err
}

// EnqueueWorkflow records a workflow durably in one commit, all or none,
// and returns it with its jobs by ref. An invalid workflow gives a
// *WorkflowError naming the job (and the cycle's path for a cycle); a
// unique key held by a job that is not final gives a
// *WorkflowConflictError. opts may be nil.
func (c *Client) EnqueueWorkflow(ctx context.Context, w Workflow, opts *WorkflowOpts) (*EnqueuedWorkflow, error) {
	if opts == nil {
		opts = &WorkflowOpts{}
	}
	now := c.cfg.Now()
	p, err := planWorkflow(&w, opts.MaxJobs, now, c.newJob)
	if err != nil {
		return nil, err
	}
	if opts.IdempotencyKey != "" {
		keep := opts.KeepFor
		if keep <= 0 {
			keep = DefaultIdempotencyTTL
		}
		if err := store.CheckAfter("KeepFor", now, keep); err != nil {
			return nil, err
		}
		p.params.IdempotencyKey = opts.IdempotencyKey
		p.params.IdempotencyHash = opts.RequestHash
		p.params.IdempotencyExpires = now.Add(keep)
	}
	res, err := c.store.Enqueue(ctx, p.params)
	if err != nil {
		return nil, p.storeError(err)
	}
	out := &EnqueuedWorkflow{Jobs: p.byRef(res), Replayed: res.Replayed}
	wfID := p.params.Workflow.ID
	for _, e := range res.Jobs {
		if res.Replayed && e.Job.WorkflowID != "" {
			wfID = e.Job.WorkflowID
		}
	}
	wfs, ok := store.As[store.Workflows](c.store)
	if !ok {
		return nil, errNoWorkflows
	}
	if out.Workflow, err = wfs.Workflow(ctx, wfID); err != nil {
		return nil, err
	}
	return out, nil
}

var errNoWorkflows = errors.New("gantry: the store keeps no workflows (it has no store.Workflows)")

func (c *Client) workflows() (store.Workflows, error) {
	w, ok := store.As[store.Workflows](c.store)
	if !ok {
		return nil, errNoWorkflows
	}
	return w, nil
}

// Workflow returns the workflow with id, or an error wrapping ErrNotFound.
func (c *Client) Workflow(ctx context.Context, id string) (*WorkflowInfo, error) {
	w, err := c.workflows()
	if err != nil {
		return nil, err
	}
	return w.Workflow(ctx, id)
}

// WorkflowListParams filter and page a workflow listing.
type WorkflowListParams = store.WorkflowListParams

// WorkflowListResult is one page of workflows, newest first.
type WorkflowListResult = store.WorkflowListResult

// ListWorkflows returns workflows newest first, one page at a time. p may
// be nil.
func (c *Client) ListWorkflows(ctx context.Context, p *WorkflowListParams) (*WorkflowListResult, error) {
	w, err := c.workflows()
	if err != nil {
		return nil, err
	}
	if p == nil {
		p = &WorkflowListParams{}
	}
	return w.ListWorkflows(ctx, p)
}

// CancelWorkflow cancels every job of the workflow that is not final,
// running ones included (their handlers' contexts are cancelled), and the
// jobs outside it that depend on them.
func (c *Client) CancelWorkflow(ctx context.Context, id, reason string) (*WorkflowInfo, error) {
	w, err := c.workflows()
	if err != nil {
		return nil, err
	}
	if reason == "" {
		reason = "workflow cancelled on request"
	}
	return w.CancelWorkflow(ctx, &store.CancelWorkflowParams{ID: id, Reason: reason, Now: c.cfg.Now()})
}

// WaitWorkflow blocks until the workflow is final and returns it, or
// returns ctx's error when ctx ends first (with the workflow as last
// seen).
func (c *Client) WaitWorkflow(ctx context.Context, id string) (*WorkflowInfo, error) {
	w, err := c.workflows()
	if err != nil {
		return nil, err
	}
	wake, notifies, stop, err := c.hub.waitAny()
	if err != nil {
		return nil, err
	}
	defer stop()
	poll := watchPoll
	if notifies {
		poll = 5 * time.Second // a safety net: changes wake the wait
	}
	t := time.NewTimer(0)
	defer t.Stop()
	var last *WorkflowInfo
	for {
		select {
		case <-ctx.Done():
			return last, ctx.Err()
		case <-c.hub.ctx.Done():
			return last, ErrStopped
		case <-wake:
		case <-t.C:
		}
		wf, err := w.Workflow(ctx, id)
		if err != nil {
			if ctx.Err() != nil {
				return last, ctx.Err()
			}
			return last, err
		}
		last = wf
		if wf.State.Final() {
			return wf, nil
		}
		t.Reset(poll)
	}
}

// Dependency is the outcome of one job a task waited for.
type Dependency = store.Dependency

// ErrResultTruncated: a dependency's result was left out of the task to
// keep its dependencies under 1 MiB; read the dependency with Client.Get.
var ErrResultTruncated = errors.New("gantry: the dependency's result was left out (over 1 MiB in all): read the job")

// DependencyResult decodes the result of the dependency key (a ref, or an
// id outside the workflow) of deps (Task.Dependencies) into an R. It fails
// when there is no such dependency, when it did not succeed, and with
// ErrResultTruncated when its result was left out.
func DependencyResult[R any](deps map[string]Dependency, key string) (R, error) {
	var v R
	d, ok := deps[key]
	switch {
	case !ok:
		return v, fmt.Errorf("gantry: no dependency %q", key)
	case d.State != StateSucceeded:
		return v, fmt.Errorf("gantry: dependency %q (job %s) is %s", key, d.ID, d.State)
	case d.ResultTruncated:
		return v, fmt.Errorf("dependency %q (job %s): %w", key, d.ID, ErrResultTruncated)
	}
	if len(d.Result) == 0 {
		return v, nil
	}
	if err := json.Unmarshal(d.Result, &v); err != nil {
		return v, fmt.Errorf("gantry: decoding the result of dependency %q: %w", key, err)
	}
	return v, nil
}

// WorkflowEvent is one change of a job of a watched workflow.
type WorkflowEvent struct {
	Type EventType
	// Job is the job right after the change. Read-only.
	Job *Job
	// Workflow is the workflow as it was read with the change.
	Workflow *WorkflowInfo
}

// WatchWorkflow follows a workflow: the channel first carries every job
// of it as it is, then one event per change of state or progress of any of
// them, and is closed after the workflow is final (and its last changes
// were sent), when ctx ends, or when the client stops. Each wake-up reads
// the workflow's jobs again, so a watch costs time in proportion to the
// workflow's size at every change; a slow reader may miss intermediate
// progress events, never a final state.
func (c *Client) WatchWorkflow(ctx context.Context, id string) (<-chan WorkflowEvent, error) {
	w, err := c.workflows()
	if err != nil {
		return nil, err
	}
	wake, notifies, stop, err := c.hub.waitAny()
	if err != nil {
		return nil, err
	}
	if _, err := w.Workflow(ctx, id); err != nil {
		stop()
		return nil, err
	}
	out := make(chan WorkflowEvent, 16)
	if !c.hub.start(func() {
		defer close(out)
		defer stop()
		poll := watchPoll
		if notifies {
			poll = 5 * time.Second
		}
		t := time.NewTimer(0)
		defer t.Stop()
		seen := map[string]*Job{}
		for {
			select {
			case <-ctx.Done():
				return
			case <-c.hub.ctx.Done():
				return
			case <-wake:
			case <-t.C:
			}
			wf, err := w.Workflow(ctx, id)
			if err != nil {
				return
			}
			p := &store.ListParams{WorkflowID: id, Limit: store.MaxListLimit}
			for {
				res, err := c.store.List(ctx, p)
				if err != nil {
					return
				}
				for _, j := range res.Jobs {
					typ, changed := EventState, true
					if old := seen[j.ID]; old != nil {
						typ, changed = diff(old, j)
					}
					if !changed {
						continue
					}
					seen[j.ID] = j
					select {
					case out <- WorkflowEvent{Type: typ, Job: j, Workflow: wf}:
					case <-ctx.Done():
						return
					case <-c.hub.ctx.Done():
						return
					}
				}
				if res.Next == "" {
					break
				}
				p.Cursor = res.Next
			}
			if wf.State.Final() {
				return
			}
			t.Reset(poll)
		}
	}) {
		stop()
		return nil, ErrStopped
	}
	return out, nil
}

// AwaitChildrenError is the error AwaitChildren returns.
type AwaitChildrenError struct{}

func (*AwaitChildrenError) Error() string { return "awaiting the children it spawned" }

// AwaitChildren, returned by a handler after Task.Spawn, makes its job wait
// for the children without holding a worker: the job is waiting, and runs
// again (an attempt that does not count against MaxAttempts) once they are
// final, with their outcomes in Task.Dependencies. A child that fails or is
// cancelled cancels the job, unless it has IfDependencyFails DependencyRun.
func AwaitChildren() error { return &AwaitChildrenError{} }

// childSpawner is what gantrytest's recorder offers a Task to fake Spawn.
type childSpawner interface {
	SpawnChildren(ctx context.Context, parent *Job, jobs []WorkflowJob) (map[string]*Job, error)
}

// spawn enqueues jobs as children of the attempt's job, durably and
// idempotently for the attempt (the same refs spawned again in the same
// attempt return the first children).
func (c *Client) spawn(ctx context.Context, a *engine.Attempt, jobs []WorkflowJob) (map[string]*Job, error) {
	p, err := planJobs(&Workflow{Jobs: jobs}, DefaultMaxWorkflowJobs, a.Now(), c.newJob, a.Job.ID)
	if err != nil {
		return nil, err
	}
	res, err := a.Spawn(ctx, p.params, p.refs)
	if err != nil {
		return nil, p.storeError(err)
	}
	return p.byRef(res), nil
}

// byRef returns the jobs of res by ref.
func (p *plannedWorkflow) byRef(res *store.EnqueueResult) map[string]*Job {
	out := make(map[string]*Job, len(res.Jobs))
	for i, e := range res.Jobs {
		ref := e.Job.Ref
		if !res.Replayed {
			ref = p.refs[i]
		}
		out[ref] = e.Job
	}
	return out
}

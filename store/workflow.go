package store

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// DependencyPolicy says what becomes of a job when one of its
// dependencies (or, for a parent that waits for them, children) fails or
// is cancelled.
type DependencyPolicy string

// The dependency policies.
const (
	// DependencyCancel (the default, also written as "") cancels the job,
	// with a reason that names the dependency, and so its own dependents,
	// transitively.
	DependencyCancel DependencyPolicy = "cancel"
	// DependencyRun runs the job once every dependency is final, whatever
	// their outcome; it reads them in Job.Dependencies.
	DependencyRun DependencyPolicy = "run"
)

// Valid reports whether p is a policy ("" means DependencyCancel).
func (p DependencyPolicy) Valid() bool {
	return p == "" || p == DependencyCancel || p == DependencyRun
}

// runs reports whether a job with policy p still runs after a dependency
// ended in s.
func (p DependencyPolicy) runs(s State) bool {
	return s == StateSucceeded || p == DependencyRun
}

// Pending reports whether a dependency in state s still holds back a
// dependent with policy p: it has not succeeded yet, or, for DependencyRun,
// it is not final yet.
func (p DependencyPolicy) Pending(s State) bool {
	if p == DependencyRun {
		return !s.Final()
	}
	return s != StateSucceeded
}

// WorkflowState is the state of a workflow, derived from its jobs' states.
type WorkflowState string

// The states of a workflow.
const (
	// WorkflowRunning: some job is not final.
	WorkflowRunning WorkflowState = "running"
	// WorkflowSucceeded: every job succeeded.
	WorkflowSucceeded WorkflowState = "succeeded"
	// WorkflowFailed: every job is final and at least one failed.
	WorkflowFailed WorkflowState = "failed"
	// WorkflowCancelled: every job is final, none failed, and at least one
	// was cancelled.
	WorkflowCancelled WorkflowState = "cancelled"
)

// Valid reports whether s is one of the workflow states.
func (s WorkflowState) Valid() bool {
	switch s {
	case WorkflowRunning, WorkflowSucceeded, WorkflowFailed, WorkflowCancelled:
		return true
	}
	return false
}

// Final reports whether s is not WorkflowRunning.
func (s WorkflowState) Final() bool { return s != WorkflowRunning }

// WorkflowStateOf derives a workflow's state from the counts of its jobs
// per state.
func WorkflowStateOf(counts map[State]int64) WorkflowState {
	for s, n := range counts {
		if n > 0 && !s.Final() {
			return WorkflowRunning
		}
	}
	switch {
	case counts[StateFailed] > 0:
		return WorkflowFailed
	case counts[StateCancelled] > 0:
		return WorkflowCancelled
	}
	return WorkflowSucceeded
}

// ParentLease names a running job and the lease its attempt holds.
type ParentLease struct {
	ID         string
	LeaseToken string
}

// SpawnKey is the idempotency key of a spawn: by job, attempt and the refs
// of the spawned jobs, so that repeating the same spawn in the same attempt
// creates nothing and returns the first call's children.
func SpawnKey(jobID string, attempt int, refs []string) string {
	h := sha256.New()
	for _, r := range refs {
		h.Write([]byte(r))
		h.Write([]byte{0})
	}
	return fmt.Sprintf("gantry.spawn:%s:%d:%x", strings.ToLower(jobID), attempt, h.Sum(nil)[:16])
}

// NewWorkflow names the workflow that the jobs of an Enqueue call make up.
type NewWorkflow struct {
	// ID is the workflow's id, a UUID the caller assigns (NewID).
	ID string
	// Name is an optional label of at most MaxWorkflowName bytes.
	Name string
}

// MaxWorkflowName bounds the length of a workflow's name.
const MaxWorkflowName = 128

// Workflow is the record a store keeps of a workflow, updated in the same
// commit as its jobs.
type Workflow struct {
	ID         string        `json:"id"`
	Name       string        `json:"name"`
	State      WorkflowState `json:"state"`
	CreatedAt  time.Time     `json:"created_at"`
	FinishedAt time.Time     `json:"finished_at,omitzero"`
	// Counts holds the number of the workflow's jobs in each state; absent
	// means zero.
	Counts map[State]int64 `json:"counts"`
}

// Dependency is the outcome of one dependency (or awaited child) of a
// claimed job.
type Dependency struct {
	ID     string          `json:"id"`
	State  State           `json:"state"`
	Result json.RawMessage `json:"result,omitempty"`
	// ResultTruncated says the result was left out to keep the claimed
	// job's dependencies under MaxDependencyResults: read the job itself.
	ResultTruncated bool `json:"result_truncated,omitempty"`
}

// MaxDependencyResults bounds the bytes of results that one claimed job
// carries in Job.Dependencies.
const MaxDependencyResults = 1 << 20

// DependencyKey is the key of dependency dep in the Dependencies of job j:
// its ref when dep has one and both are in the same workflow (or neither
// is in one: children spawned by a job outside workflows), its id
// otherwise.
func DependencyKey(j, dep *Job) string {
	if dep.Ref != "" && strings.EqualFold(dep.WorkflowID, j.WorkflowID) {
		return dep.Ref
	}
	return dep.ID
}

// AddDependency records dep in j.Dependencies, leaving its result out
// once *budget (the bytes of results still allowed) would go negative.
func AddDependency(j, dep *Job, budget *int) {
	if j.Dependencies == nil {
		j.Dependencies = make(map[string]Dependency)
	}
	d := Dependency{ID: dep.ID, State: dep.State}
	if len(dep.Result) > 0 {
		if len(dep.Result) <= *budget {
			d.Result = dep.Result
			*budget -= len(dep.Result)
		} else {
			d.ResultTruncated = true
		}
	}
	j.Dependencies[DependencyKey(j, dep)] = d
}

// WorkflowListParams are the arguments of Workflows.ListWorkflows.
type WorkflowListParams struct {
	// State filters by state when set.
	State WorkflowState
	// Limit and Cursor page as in ListParams.
	Limit  int
	Cursor string
}

// WorkflowListResult is one page of Workflows.ListWorkflows, newest first.
type WorkflowListResult struct {
	Workflows []*Workflow
	Next      string
}

// CancelWorkflowParams are the arguments of Workflows.CancelWorkflow.
type CancelWorkflowParams struct {
	ID     string
	Reason string
	Now    time.Time
}

// Workflows is the capability, found with As, of a store that keeps
// workflow records. Both stores of this module have it. Enqueue creates
// workflows (EnqueueParams.Workflow).
type Workflows interface {
	// Workflow returns the workflow with the given id, or ErrNotFound.
	Workflow(ctx context.Context, id string) (*Workflow, error)
	// ListWorkflows returns workflows newest first.
	ListWorkflows(ctx context.Context, p *WorkflowListParams) (*WorkflowListResult, error)
	// CancelWorkflow cancels every job of the workflow that is not final
	// (running ones lose their lease) and returns the workflow after.
	CancelWorkflow(ctx context.Context, p *CancelWorkflowParams) (*Workflow, error)
}

// Batch is the graph of the jobs of one Enqueue call, after CheckBatch:
// which of them each job waits for.
type Batch struct {
	// Order lists the indexes of the jobs so that every job comes after
	// those of the batch it waits for.
	Order []int
	// Index maps the id of a job of the batch to its index.
	Index map[string]int
	// Waits[i] lists the ids job i waits for: its DependsOn, then, in a
	// workflow, its children of the same batch.
	Waits [][]string
}

// CycleError refuses a batch whose jobs wait for each other in a circle.
type CycleError struct {
	// Index is the position of a job on the cycle.
	Index int
	// Path lists the positions around the cycle, starting and ending with
	// Index.
	Path []int
}

func (e *CycleError) Error() string {
	parts := make([]string, len(e.Path))
	for i, p := range e.Path {
		parts[i] = fmt.Sprintf("jobs[%d]", p)
	}
	return "dependency cycle: " + strings.Join(parts, " -> ")
}

// Is makes errors.Is(err, ErrInvalid) true for every CycleError.
func (e *CycleError) Is(target error) bool { return target == ErrInvalid }

// CheckBatch checks what ValidateNew cannot see alone: ids assigned by the
// caller are well formed and distinct, workflow fields are consistent, and
// the jobs of the batch that depend on each other (or, in a workflow, a
// parent on its children) form no cycle. It returns the batch's graph, or
// a *FieldError or *CycleError.
func CheckBatch(p *EnqueueParams) (*Batch, error) {
	b := &Batch{Index: make(map[string]int), Waits: make([][]string, len(p.Jobs))}
	bad := func(i int, field, reason string) error { return &FieldError{Index: i, Field: field, Reason: reason} }
	if w := p.Workflow; w != nil {
		if !ValidID(w.ID) {
			return nil, bad(-1, "Workflow.ID", "must be a UUID")
		}
		if len(w.Name) > MaxWorkflowName {
			return nil, bad(-1, "Workflow.Name", fmt.Sprintf("must be at most %d bytes", MaxWorkflowName))
		}
	}
	refs := make(map[string]int)
	for i, j := range p.Jobs {
		if j == nil {
			continue
		}
		if j.ID == "" && p.Workflow != nil {
			return nil, bad(i, "ID", "must be set in a workflow")
		}
		if j.ID != "" {
			if !ValidID(j.ID) {
				return nil, bad(i, "ID", "must be a UUID")
			}
			id := strings.ToLower(j.ID)
			if _, dup := b.Index[id]; dup {
				return nil, bad(i, "ID", "is the id of another job of the call")
			}
			b.Index[id] = i
		}
		if !j.IfDependencyFails.Valid() {
			return nil, bad(i, "IfDependencyFails", `must be "cancel" or "run"`)
		}
		if len(j.TraceParent) > MaxTraceParent {
			return nil, bad(i, "TraceParent", fmt.Sprintf("must be at most %d bytes", MaxTraceParent))
		}
		if p.Workflow == nil && p.Parent == nil && (j.Ref != "" || j.WorkflowID != "") {
			return nil, bad(i, "Ref", "only jobs of a workflow have a ref")
		}
		if j.WorkflowID != "" {
			return nil, bad(i, "WorkflowID", "is set by the store from EnqueueParams.Workflow")
		}
		if j.Ref != "" {
			if len(j.Ref) > MaxNameLen {
				return nil, bad(i, "Ref", fmt.Sprintf("must be at most %d bytes", MaxNameLen))
			}
			if k, dup := refs[j.Ref]; dup {
				return nil, bad(i, "Ref", fmt.Sprintf("is also the ref of jobs[%d]", k))
			}
			refs[j.Ref] = i
		}
	}
	// Edges within the batch: i waits for k.
	edges := make([][]int, len(p.Jobs))
	for i, j := range p.Jobs {
		if j == nil {
			continue
		}
		b.Waits[i] = append(b.Waits[i], j.DependsOn...)
		for _, d := range j.DependsOn {
			if k, ok := b.Index[strings.ToLower(d)]; ok {
				edges[i] = append(edges[i], k)
			}
		}
	}
	if p.Workflow != nil || p.Parent != nil {
		// A parent that also depends on its child waits for it once.
		dependsOn := func(k int, id string) bool {
			for _, d := range p.Jobs[k].DependsOn {
				if strings.EqualFold(d, id) {
					return true
				}
			}
			return false
		}
		for i, j := range p.Jobs {
			if j == nil || j.ParentID == "" {
				continue
			}
			if k, ok := b.Index[strings.ToLower(j.ParentID)]; ok {
				if k == i {
					return nil, bad(i, "ParentID", "names the job itself")
				}
				if !dependsOn(k, j.ID) {
					b.Waits[k] = append(b.Waits[k], j.ID)
				}
				edges[k] = append(edges[k], i)
			}
		}
	}
	order, cycle := topoOrder(edges)
	if cycle != nil {
		return nil, &CycleError{Index: cycle[0], Path: cycle}
	}
	b.Order = order
	return b, nil
}

// topoOrder orders the nodes so that each comes after those it has edges
// to, or returns a cycle (its first node repeated at the end).
func topoOrder(edges [][]int) (order, cycle []int) {
	const (
		unseen = iota
		onPath
		done
	)
	mark := make([]byte, len(edges))
	order = make([]int, 0, len(edges))
	type frame struct{ n, next int }
	var stack []frame
	for root := range edges {
		if mark[root] != unseen {
			continue
		}
		stack = append(stack[:0], frame{root, 0})
		mark[root] = onPath
		for len(stack) > 0 {
			f := &stack[len(stack)-1]
			if f.next < len(edges[f.n]) {
				m := edges[f.n][f.next]
				f.next++
				switch mark[m] {
				case unseen:
					mark[m] = onPath
					stack = append(stack, frame{m, 0})
				case onPath:
					for i, g := range stack {
						if g.n == m {
							for _, h := range stack[i:] {
								cycle = append(cycle, h.n)
							}
							return nil, append(cycle, m)
						}
					}
				}
				continue
			}
			mark[f.n] = done
			order = append(order, f.n)
			stack = stack[:len(stack)-1]
		}
	}
	return order, nil
}

// DuplicateError refuses a job of a workflow whose unique key is held by
// a job that is not final: a workflow is created whole or not at all.
type DuplicateError struct {
	// Index is the job's position in the call.
	Index int
	// Key is the unique key; Existing the id of the job that holds it.
	Key, Existing string
}

func (e *DuplicateError) Error() string {
	return fmt.Sprintf("jobs[%d]: unique key %q is held by job %s", e.Index, e.Key, e.Existing)
}

// Is makes errors.Is(err, ErrConflict) true for every DuplicateError.
func (e *DuplicateError) Is(target error) bool { return target == ErrConflict }

// ValidID reports whether s is a UUID in its usual textual form.
func ValidID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// ReviveJob moves a job cancelled because of a dependency that is being
// retried back to waiting: it is not final any more, and waits for its
// dependencies again (the store sets how many are pending).
func ReviveJob(j *Job) {
	j.State = StateWaiting
	j.FinishedAt = time.Time{}
	j.CancelReason = ""
	clearLease(j)
}

// RevivedBy reports whether the cancelled job j was cancelled because
// dependency depID ended in depState (its CancelReason says so).
func RevivedBy(j *Job, depID string, depState State) bool {
	return j.State == StateCancelled && strings.EqualFold(j.CancelReason, DependencyReason(depID, depState))
}

// ReviveGraph is what PlanRevive reads of a store, inside the
// transaction that retries a job.
type ReviveGraph interface {
	// Dependents returns the jobs that wait for the job with the given id
	// (its dependents, and a parent waiting for it), in any state.
	Dependents(id string) ([]*Job, error)
	// Waits returns the ids and states of the jobs j waits for.
	Waits(j *Job) (ids []string, states []State, err error)
	// UniqueHeld reports whether j's unique key is held by another job
	// that is not final.
	UniqueHeld(j *Job) (bool, error)
}

// Revival is what PlanRevive decided.
type Revival struct {
	// Revived are the jobs moved back to waiting (ReviveJob), in the order
	// they were found.
	Revived []*Job
	// Recount are waiting jobs whose count of pending dependencies changed.
	Recount []*Job
	// Pending holds, by id, how many of its dependencies hold back each
	// job of Revived and Recount.
	Pending map[string]int
}

// PlanRevive decides what retrying root (whose state was rootOld, and
// which RetryJob already moved on) does to the jobs downstream: every job
// that was cancelled because root, or a job revived with it, did not
// succeed goes back to waiting, unless another of its dependencies still
// failed or was cancelled or its unique key is taken; waiting jobs that
// wait for them count them as pending again.
func PlanRevive(g ReviveGraph, root *Job, rootOld State) (*Revival, error) {
	type node struct {
		id  string
		old State
	}
	cands := map[string]*Job{}
	var order []*Job
	waiting := map[string]*Job{}
	var wOrder []*Job
	frontier := []node{{root.ID, rootOld}}
	for len(frontier) > 0 {
		f := frontier[0]
		frontier = frontier[1:]
		deps, err := g.Dependents(f.id)
		if err != nil {
			return nil, err
		}
		for _, d := range deps {
			key := strings.ToLower(d.ID)
			if _, seen := cands[key]; seen {
				continue
			}
			switch {
			case RevivedBy(d, f.id, f.old):
				cands[key] = d
				order = append(order, d)
				frontier = append(frontier, node{d.ID, StateCancelled})
			case d.State == StateWaiting && waiting[key] == nil:
				waiting[key] = d
				wOrder = append(wOrder, d)
			}
		}
	}
	states := func(j *Job) ([]State, error) {
		ids, sts, err := g.Waits(j)
		if err != nil {
			return nil, err
		}
		for i, id := range ids {
			switch k := strings.ToLower(id); {
			case strings.EqualFold(id, root.ID):
				sts[i] = root.State
			case cands[k] != nil:
				sts[i] = StateWaiting
			}
		}
		return sts, nil
	}
	// A candidate with another dependency that did not succeed, or whose
	// unique key is taken, stays cancelled, and so may its own dependents.
	for changed := true; changed; {
		changed = false
		for _, c := range order {
			k := strings.ToLower(c.ID)
			if cands[k] == nil {
				continue
			}
			sts, err := states(c)
			if err != nil {
				return nil, err
			}
			keep := true
			for _, s := range sts {
				if s.Final() && !c.IfDependencyFails.runs(s) {
					keep = false
				}
			}
			if keep && c.UniqueKey != "" {
				held, err := g.UniqueHeld(c)
				if err != nil {
					return nil, err
				}
				keep = !held
			}
			if !keep {
				delete(cands, k)
				changed = true
			}
		}
	}
	rv := &Revival{Pending: map[string]int{}}
	count := func(j *Job) error {
		sts, err := states(j)
		if err != nil {
			return err
		}
		n := 0
		for _, s := range sts {
			if j.IfDependencyFails.Pending(s) {
				n++
			}
		}
		rv.Pending[j.ID] = n
		return nil
	}
	for _, c := range order {
		if cands[strings.ToLower(c.ID)] == nil {
			continue
		}
		if err := count(c); err != nil {
			return nil, err
		}
		rv.Revived = append(rv.Revived, c)
	}
	for _, w := range wOrder {
		if err := count(w); err != nil {
			return nil, err
		}
		rv.Recount = append(rv.Recount, w)
	}
	for _, c := range rv.Revived {
		ReviveJob(c)
	}
	return rv, nil
}

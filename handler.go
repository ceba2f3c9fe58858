package gantry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/gantry-dev/gantry/internal/engine"
	"github.com/gantry-dev/gantry/internal/taskhook"
	"github.com/gantry-dev/gantry/store"
)

// Args is a job's typed input. Its Kind names the job's kind, a stable
// string that must not change while jobs of it exist: never derive it from
// the Go type's name. Args are encoded as a JSON object, so Args types are
// structs (or maps), used as values, not pointers.
type Args interface {
	Kind() string
}

// Handler runs jobs whose args are T.
type Handler[T Args] interface {
	// Work runs one attempt. It returns nil on success; an error fails the
	// attempt, and the job is retried with backoff until its attempts are
	// used up. Wrap the error with Permanent to fail at once, with Cancel
	// to cancel the job; return Snooze to run again later without spending
	// an attempt. ctx ends at the job's timeout, when the job is cancelled,
	// and when the client stops; context.Cause tells which.
	Work(ctx context.Context, t *Task[T]) error
}

// HandlerFunc adapts a function to a Handler.
type HandlerFunc[T Args] func(ctx context.Context, t *Task[T]) error

// Work calls f.
func (f HandlerFunc[T]) Work(ctx context.Context, t *Task[T]) error { return f(ctx, t) }

// Task is one attempt of a job, as its handler sees it.
type Task[T Args] struct {
	// Args is the job's input, decoded.
	Args T
	// Job is the job's record: id, attempt, errors of earlier attempts.
	// Read-only.
	Job *Job

	r      taskhook.Reporter // the running attempt, or gantrytest's recorder
	result json.RawMessage
}

// taskInternals is what taskhook reaches in any Task[T].
type taskInternals interface {
	attach(r taskhook.Reporter)
	recorded() json.RawMessage
}

func (t *Task[T]) attach(r taskhook.Reporter) { t.r = r }
func (t *Task[T]) recorded() json.RawMessage  { return t.result }

func init() {
	taskhook.Attach = func(task any, r taskhook.Reporter) bool {
		t, ok := task.(taskInternals)
		if ok {
			t.attach(r)
		}
		return ok
	}
	taskhook.Result = func(task any) json.RawMessage {
		if t, ok := task.(taskInternals); ok {
			return t.recorded()
		}
		return nil
	}
}

// Progress reports how far the attempt got, from 0 to 100, with a short
// message. Clients following the job see it. Reports are written at most
// every 100ms; the latest always arrives.
func (t *Task[T]) Progress(ctx context.Context, percent int, message string) error {
	return t.r.Progress(ctx, percent, message)
}

// SaveCheckpoint records v (encoded as JSON) so that the next attempt of
// this job can resume where this one got to, should it fail.
func (t *Task[T]) SaveCheckpoint(ctx context.Context, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding checkpoint: %w", err)
	}
	return t.r.SaveCheckpoint(ctx, b)
}

// Checkpoint decodes into v the checkpoint an earlier attempt saved, and
// reports whether there was one.
func (t *Task[T]) Checkpoint(v any) (bool, error) {
	if len(t.Job.Checkpoint) == 0 {
		return false, nil
	}
	if err := json.Unmarshal(t.Job.Checkpoint, v); err != nil {
		return true, fmt.Errorf("decoding checkpoint: %w", err)
	}
	return true, nil
}

// Dependencies returns the outcomes of the jobs this one waited for: its
// dependencies and, for a parent, its children, keyed by ref within a
// workflow and by id otherwise. A job with IfDependencyFails
// DependencyRun reads here which of them failed. Read-only.
func (t *Task[T]) Dependencies() map[string]Dependency { return t.Job.Dependencies }

// Spawn adds children to this job while it runs, durably, all or none,
// and returns them by ref: jobs as in a Workflow, refs local to this job
// (the ones at the top are its children). Return AwaitChildren to wait for
// them without holding a worker. Spawning the same refs again in the same
// attempt (after a lost answer, say) creates nothing and returns the first
// children.
func (t *Task[T]) Spawn(ctx context.Context, jobs ...WorkflowJob) (map[string]*Job, error) {
	switch r := t.r.(type) {
	case *engine.Attempt:
		if c, ok := r.Owner().(*Client); ok {
			return c.spawn(ctx, r, jobs)
		}
	case childSpawner:
		return r.SpawnChildren(ctx, t.Job, jobs)
	}
	return nil, errors.New("gantry: this task cannot spawn children")
}

// SetResult records v (encoded as JSON) as the job's result, kept when the
// handler returns nil.
func (t *Task[T]) SetResult(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding result: %w", err)
	}
	t.result = b
	return nil
}

// Registry maps kinds to handlers. Build it before creating a Client; it
// is safe for concurrent use.
type Registry struct {
	mu       sync.RWMutex
	handlers map[string]engine.WorkFunc
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{handlers: make(map[string]engine.WorkFunc)}
}

// Register adds h as the handler of T's kind. It panics if the kind is not
// a valid name or already has a handler, as http.ServeMux does for
// conflicting patterns: both are mistakes in the program, not in its input.
func Register[T Args](r *Registry, h Handler[T]) {
	var zero T
	kind := zero.Kind()
	if !store.ValidName(kind) {
		panic(fmt.Sprintf("gantry: kind %q is not a valid name", kind))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.handlers[kind]; dup {
		panic(fmt.Sprintf("gantry: kind %q already has a handler", kind))
	}
	r.handlers[kind] = func(ctx context.Context, a *engine.Attempt) engine.Result {
		t := &Task[T]{Job: a.Job, r: a}
		if err := json.Unmarshal(a.Job.Args, &t.Args); err != nil {
			return engine.Result{Err: fmt.Errorf("decoding args of kind %s: %w", kind, err), Permanent: true}
		}
		err := h.Work(ctx, t)
		return result(err, t.result)
	}
}

// Kinds returns the kinds that have handlers, sorted.
func (r *Registry) Kinds() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	kinds := make([]string, 0, len(r.handlers))
	for k := range r.handlers {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	return kinds
}

// Has reports whether kind has a handler.
func (r *Registry) Has(kind string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	_, ok := r.handlers[kind]
	return ok
}

func (r *Registry) work(ctx context.Context, a *engine.Attempt) engine.Result {
	r.mu.RLock()
	w := r.handlers[a.Job.Kind]
	r.mu.RUnlock()
	if w == nil {
		return engine.Result{Err: fmt.Errorf("no handler for kind %s", a.Job.Kind)}
	}
	return w(ctx, a)
}

func result(err error, output json.RawMessage) engine.Result {
	if err == nil {
		return engine.Result{Output: output}
	}
	var await *AwaitChildrenError
	if errors.As(err, &await) {
		return engine.Result{Err: err, AwaitChildren: true}
	}
	var snooze *SnoozeError
	if errors.As(err, &snooze) {
		return engine.Result{Err: err, Snooze: snooze.After}
	}
	var cancel *CancelError
	if errors.As(err, &cancel) {
		return engine.Result{Err: err, Cancel: true}
	}
	var perm *PermanentError
	return engine.Result{Err: err, Permanent: errors.As(err, &perm)}
}

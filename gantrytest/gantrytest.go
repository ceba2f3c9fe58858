// Package gantrytest helps test code that uses Gantry.
//
// Work runs a handler against one attempt of a job, without a client or a
// store, and returns what the handler did: the state the job would move to,
// the result, every progress report and checkpoint, the snooze, the error.
// The handler sees its args as a client would give them, encoded to JSON
// and decoded again. NewTask builds the Task alone, for a handler that is
// called some other way.
//
// NewClient runs a real client on an embedded store in a temporary
// directory, for tests that enqueue jobs and wait for them; Clock is a clock
// such a test moves by hand.
package gantrytest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/gantry-dev/gantry"
	"github.com/gantry-dev/gantry/internal/taskhook"
	"github.com/gantry-dev/gantry/store"
)

// TaskOpts describe the job and the attempt a Task belongs to. The zero
// value is the first attempt of a fresh job of the default queue.
type TaskOpts struct {
	// ID is the job's id. Default: a fresh one.
	ID string
	// Queue is the job's queue. Default gantry.DefaultQueue.
	Queue string
	// Priority is the job's priority. Default gantry.DefaultPriority.
	Priority int
	// Attempt is the number of this attempt, from 1. Default 1.
	Attempt int
	// MaxAttempts is how many attempts the job gets. Default
	// gantry.DefaultMaxAttempts.
	MaxAttempts int
	// Checkpoint is what an earlier attempt saved (encoded as JSON), which
	// Task.Checkpoint returns. Nil: none.
	Checkpoint any
	// Errors are the errors of earlier attempts.
	Errors []gantry.AttemptError
	// Blob is the job's binary payload, if any.
	Blob *gantry.Blob
	// Dependencies are the outcomes Task.Dependencies returns: of the
	// jobs the job waited for, by ref (or id).
	Dependencies map[string]gantry.Dependency
	// Now is the time the attempt starts. Default time.Now().
	Now time.Time
}

// Recorder collects what a handler reports through its Task while it runs.
// It is safe for concurrent use.
type Recorder struct {
	mu          sync.Mutex
	progress    []gantry.Progress
	checkpoints []json.RawMessage
	spawned     []gantry.WorkflowJob
}

// SpawnChildren records the jobs a handler spawns (Task.Spawn) and returns
// them as a client would: available jobs, children of parent, by ref.
func (r *Recorder) SpawnChildren(_ context.Context, parent *gantry.Job, jobs []gantry.WorkflowJob) (map[string]*gantry.Job, error) {
	out := map[string]*gantry.Job{}
	var add func(list []gantry.WorkflowJob, parentID string) error
	add = func(list []gantry.WorkflowJob, parentID string) error {
		for _, w := range list {
			if !store.ValidName(w.Ref) || out[w.Ref] != nil {
				return fmt.Errorf("gantrytest: spawn: ref %q is not valid or comes twice", w.Ref)
			}
			if !store.ValidName(w.Kind) {
				return fmt.Errorf("gantrytest: spawn: kind %q %s", w.Kind, store.NameRule)
			}
			args := w.Args
			if len(args) == 0 {
				args = json.RawMessage("{}")
			}
			j := &gantry.Job{ID: uuid.Must(uuid.NewV7()).String(), Kind: w.Kind, Queue: gantry.DefaultQueue,
				State: gantry.StateAvailable, Args: args, Priority: gantry.DefaultPriority,
				MaxAttempts: gantry.DefaultMaxAttempts, ParentID: parentID, Ref: w.Ref, WorkflowID: parent.WorkflowID}
			out[w.Ref] = j
			if err := add(w.Children, j.ID); err != nil {
				return err
			}
		}
		return nil
	}
	if err := add(jobs, parent.ID); err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.spawned = append(r.spawned, jobs...)
	r.mu.Unlock()
	return out, nil
}

// Spawned returns every job the handler spawned so far, in order.
func (r *Recorder) Spawned() []gantry.WorkflowJob {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]gantry.WorkflowJob(nil), r.spawned...)
}

// Progress records a progress report. It checks the report as a client
// does: percent must be between 0 and 100, and a message longer than
// store.MaxProgressMessage bytes is cut.
func (r *Recorder) Progress(_ context.Context, percent int, message string) error {
	p, err := store.HandlerProgress(percent, message)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.progress = append(r.progress, *p)
	r.mu.Unlock()
	return nil
}

// SaveCheckpoint records a checkpoint; it must be valid JSON.
func (r *Recorder) SaveCheckpoint(_ context.Context, data json.RawMessage) error {
	if !json.Valid(data) {
		return errors.New("checkpoint is not valid JSON")
	}
	r.mu.Lock()
	r.checkpoints = append(r.checkpoints, append(json.RawMessage(nil), data...))
	r.mu.Unlock()
	return nil
}

// Reports returns every progress report so far, oldest first.
func (r *Recorder) Reports() []gantry.Progress {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]gantry.Progress(nil), r.progress...)
}

// Checkpoints returns every checkpoint saved so far, oldest first.
func (r *Recorder) Checkpoints() []json.RawMessage {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]json.RawMessage(nil), r.checkpoints...)
}

// NewTask returns the Task a handler of T would see for one attempt of a job
// with args, as opts describe it, and the Recorder that receives what the
// handler reports through it. The args are encoded to JSON and decoded
// again, as a client does, so that the handler sees what survives the trip.
func NewTask[T gantry.Args](args T, opts *TaskOpts) (*gantry.Task[T], *Recorder, error) {
	var o TaskOpts
	if opts != nil {
		o = *opts
	}
	raw, err := json.Marshal(args)
	if err != nil {
		return nil, nil, fmt.Errorf("gantrytest: encoding args of kind %s: %w", args.Kind(), err)
	}
	job, err := newJob(args.Kind(), raw, &o)
	if err != nil {
		return nil, nil, err
	}
	t := &gantry.Task[T]{Job: job}
	if err := json.Unmarshal(raw, &t.Args); err != nil {
		return nil, nil, fmt.Errorf("gantrytest: decoding args of kind %s: %w", args.Kind(), err)
	}
	rec := &Recorder{}
	if !taskhook.Attach(t, rec) {
		panic("gantrytest: gantry.Task does not take a reporter")
	}
	return t, rec, nil
}

// newJob is the running job a Task carries.
func newJob(kind string, args json.RawMessage, o *TaskOpts) (*gantry.Job, error) {
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	j := &gantry.Job{
		ID:          o.ID,
		Kind:        kind,
		Queue:       o.Queue,
		State:       gantry.StateRunning,
		Args:        args,
		Blob:        o.Blob,
		Priority:    o.Priority,
		Attempt:     o.Attempt,
		MaxAttempts: o.MaxAttempts,
		RunAt:       now,
		CreatedAt:   now,
		StartedAt:   now,
		Errors:      append([]gantry.AttemptError(nil), o.Errors...),

		Dependencies: o.Dependencies,
	}
	if j.ID == "" {
		j.ID = uuid.Must(uuid.NewV7()).String()
	}
	if j.Queue == "" {
		j.Queue = gantry.DefaultQueue
	}
	if j.Priority == 0 {
		j.Priority = gantry.DefaultPriority
	}
	if j.Attempt == 0 {
		j.Attempt = 1
	}
	if j.MaxAttempts == 0 {
		j.MaxAttempts = gantry.DefaultMaxAttempts
	}
	if o.Checkpoint != nil {
		b, err := json.Marshal(o.Checkpoint)
		if err != nil {
			return nil, fmt.Errorf("gantrytest: encoding checkpoint: %w", err)
		}
		j.Checkpoint = b
	}
	switch {
	case !store.ValidName(kind):
		return nil, fmt.Errorf("gantrytest: kind %q %s", kind, store.NameRule)
	case !store.ValidName(j.Queue):
		return nil, fmt.Errorf("gantrytest: queue %q %s", j.Queue, store.NameRule)
	case j.Attempt < 1 || j.Attempt > j.MaxAttempts:
		return nil, fmt.Errorf("gantrytest: attempt %d is not between 1 and MaxAttempts %d", j.Attempt, j.MaxAttempts)
	}
	return j, nil
}

// Outcome is what one attempt of a handler did.
type Outcome struct {
	// State is the state the job moves to after the attempt: succeeded;
	// retrying or failed (attempts used up, or a permanent error);
	// cancelled (the handler returned gantry.Cancel); scheduled (the
	// handler snoozed); waiting (it returned gantry.AwaitChildren).
	State gantry.State
	// Err is what the handler returned (or its panic, as an error).
	Err error
	// Result is what the handler set with SetResult; a client records it
	// when the attempt succeeds.
	Result json.RawMessage
	// Progress has every progress report, oldest first. A client writes
	// them at most every 100ms but always the last one.
	Progress []gantry.Progress
	// Checkpoints has every checkpoint saved, oldest first.
	Checkpoints []json.RawMessage
	// Snooze is how long the handler asked to wait (gantry.Snooze), or 0.
	Snooze time.Duration
	// Spawned are the jobs the handler spawned (Task.Spawn), in order.
	Spawned []gantry.WorkflowJob
	// Panic is the value the handler panicked with, or nil; Stack is where.
	Panic any
	Stack string
}

// DecodeResult decodes the result into v.
func (o *Outcome) DecodeResult(v any) error {
	if len(o.Result) == 0 {
		return errors.New("gantrytest: the handler set no result")
	}
	return json.Unmarshal(o.Result, v)
}

// Work runs one attempt of h on a job with args, as opts describe it, and
// returns what it did. A handler's panic is an outcome, as in a client, not
// a panic of the test. The error is about the setup only (args that do not
// encode, opts out of range), never about the handler.
func Work[T gantry.Args](ctx context.Context, h gantry.Handler[T], args T, opts *TaskOpts) (*Outcome, error) {
	t, rec, err := NewTask(args, opts)
	if err != nil {
		return nil, err
	}
	out := &Outcome{}
	func() {
		defer func() {
			if r := recover(); r != nil {
				out.Panic, out.Stack = r, string(debug.Stack())
				out.Err = fmt.Errorf("panic: %v", r)
			}
		}()
		out.Err = h.Work(ctx, t)
	}()
	out.Result = taskhook.Result(t)
	out.Progress = rec.Reports()
	out.Checkpoints = rec.Checkpoints()
	out.Spawned = rec.Spawned()
	out.State = stateAfter(t.Job, out)
	return out, nil
}

// stateAfter is the state a client records for the attempt's outcome.
func stateAfter(j *gantry.Job, out *Outcome) gantry.State {
	var (
		snooze *gantry.SnoozeError
		cancel *gantry.CancelError
		perm   *gantry.PermanentError
		await  *gantry.AwaitChildrenError
	)
	switch {
	case out.Err == nil:
		return gantry.StateSucceeded
	case errors.As(out.Err, &await):
		return gantry.StateWaiting
	case errors.As(out.Err, &snooze):
		out.Snooze = snooze.After
		return gantry.StateScheduled
	case errors.As(out.Err, &cancel):
		return gantry.StateCancelled
	case errors.As(out.Err, &perm), j.Attempt >= j.MaxAttempts:
		return gantry.StateFailed
	}
	return gantry.StateRetrying
}

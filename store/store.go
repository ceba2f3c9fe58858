package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/gantry-dev/gantry/blob"
	"github.com/gantry-dev/gantry/internal/diskfull"
)

// Driver is the seam between Gantry and a durable store. Every driver passes
// the conformance suite in store/storetest.
//
// The store never reads a clock: every method that needs the time takes it
// in its params (Now), so that the engine's clock, and the tests' fake
// clock, decide what is due and what has expired.
//
// Methods that change jobs are durable on return (fsynced or committed)
// unless their doc comment says otherwise. A driver must be safe for
// concurrent use.
type Driver interface {
	// Enqueue records new jobs, all or none. A job whose UniqueKey matches a
	// non-final job (or an earlier job of the same call) is not created: its
	// result is the existing job with Duplicate set. A job depending on a job
	// that does not exist is refused with a *FieldError; one depending on a
	// job that already failed or was cancelled is created cancelled.
	Enqueue(ctx context.Context, p *EnqueueParams) (*EnqueueResult, error)

	// Get returns the job with the given id, or ErrNotFound.
	Get(ctx context.Context, id string) (*Job, error)

	// List returns jobs newest first, filtered, one page at a time.
	List(ctx context.Context, p *ListParams) (*ListResult, error)

	// Claim leases up to p.Max available jobs of one queue, highest priority
	// (smallest number) first, then in the order they became available.
	// Scheduled and retrying jobs whose RunAt has come are available. Each
	// claimed job is running, its Attempt counts one more, and it carries a
	// fresh LeaseToken. A paused queue yields no jobs. Claims need not be
	// durable on return: a claim lost in a crash leaves the job available,
	// which at-least-once delivery allows.
	Claim(ctx context.Context, p *ClaimParams) (*ClaimResult, error)

	// Heartbeat extends the lease of a running job and records progress and
	// a checkpoint. It returns ErrLeaseLost when the token is not the job's
	// current one or the job is no longer running. Heartbeats need not be
	// durable on return.
	Heartbeat(ctx context.Context, p *HeartbeatParams) (*Job, error)

	// Finish records the outcome of attempts, many at once. Each item
	// succeeds or fails on its own: FinishResult.Errs[i] is ErrLeaseLost for
	// a stale or wrong token, ErrNotFound for an unknown job. Dependents of a
	// job that succeeded become available once all their dependencies have
	// succeeded; dependents of a job that failed or was cancelled are
	// cancelled, transitively.
	Finish(ctx context.Context, p *FinishParams) (*FinishResult, error)

	// Cancel moves a non-final job to cancelled (a running one loses its
	// lease) and cancels its dependents. A final job gives a
	// *TransitionError.
	Cancel(ctx context.Context, p *CancelParams) (*Job, error)

	// Retry moves a failed or cancelled job back to available (or waiting,
	// when dependencies have not all succeeded yet) with a fresh set of
	// attempts. Other states give a *TransitionError, and so does a job
	// with a dependency that failed or was cancelled.
	Retry(ctx context.Context, p *RetryParams) (*Job, error)

	// Rescue ends the expired leases of running jobs: each counts as a
	// failed attempt, retried after p.Backoff or failed when its attempts
	// are used up.
	Rescue(ctx context.Context, p *RescueParams) (*RescueResult, error)

	// Promote makes scheduled and retrying jobs whose RunAt has come
	// available.
	Promote(ctx context.Context, p *PromoteParams) (*PromoteResult, error)

	// Prune deletes jobs that reached a final state before p.FinishedBefore,
	// and idempotency keys that expired before p.Now, and returns the blob
	// keys the deleted jobs referred to.
	Prune(ctx context.Context, p *PruneParams) (*PruneResult, error)

	// Queues returns every queue that has jobs or settings, by name.
	Queues(ctx context.Context) ([]QueueInfo, error)

	// PauseQueue pauses or resumes claiming from a queue. It works on
	// queues that have no jobs yet.
	PauseQueue(ctx context.Context, p *PauseParams) error

	// Ping reports whether the store can serve requests.
	Ping(ctx context.Context) error

	// Close releases the store. Calls after Close return ErrClosed.
	Close() error
}

// Notifier is an optional capability of a Driver, found with As: a store
// that implements it reports changes as they commit, so that fetchers wake
// at once and waiters see a job finish without polling. Without it, the
// engine polls.
type Notifier interface {
	// Notify calls fn with the changes of every commit from now on, until
	// the returned stop function is called. fn runs on the store's own
	// goroutine: it must not block or call back into the store.
	Notify(fn func([]Change)) (stop func())
}

// Elector is an optional capability, found with As, of a Driver shared by
// several processes: it elects one of them at a time to run maintenance
// (rescuing expired leases, promoting due jobs, pruning, enqueueing
// periodic jobs). Drivers used by a single process (embedded) need not
// implement it: the engine then always leads.
//
// Leadership is best-effort exclusive: a leader that loses its connection
// learns it within the driver's check interval, so two processes may both
// believe they lead for about that long. Maintenance must therefore stay
// safe to run concurrently; the election only keeps it from being done
// twice as a rule.
type Elector interface {
	// Lead blocks until this process holds leadership, ctx ends (it then
	// returns ctx's error) or the store is closed (ErrClosed). On success
	// it returns a context that ends when leadership is lost, ctx ends or
	// the store is closed, and a release function that gives leadership up
	// and waits until it is given up. The caller must call release, once
	// lost has ended too; calling it more than once does nothing.
	Lead(ctx context.Context) (lost context.Context, release func(), err error)
}

// As returns d's optional capability T (Notifier, Elector, or an interface
// of the caller's own), and whether d has it. It looks at d, then at the
// store d wraps, and so on: a store that wraps another (instrumentation, a
// test's fault injector, a user's own) gives it back with a method
// Unwrap() Driver, and so keeps every capability of what it wraps without
// implementing any. A wrapper that implements T itself is found first.
// Look capabilities up with As rather than a type assertion, so that no
// wrapper hides one.
func As[T any](d Driver) (T, bool) {
	for d != nil {
		if c, ok := d.(T); ok {
			return c, true
		}
		u, ok := d.(interface{ Unwrap() Driver })
		if !ok {
			break
		}
		d = u.Unwrap()
	}
	var zero T
	return zero, false
}

// Change tells that a job changed.
type Change struct {
	// ID, Queue and Kind identify the job.
	ID, Queue, Kind string
	// State is the job's state after the change.
	State State
	// Progress is true when only the job's progress or checkpoint changed.
	Progress bool
	// Job, when not nil, is the job right after the change; listeners treat
	// it as read-only. Drivers that cannot provide it cheaply leave it nil,
	// and listeners that need the job read it with Get.
	Job *Job
}

// NewJob is a job to enqueue. The caller applies defaults before Enqueue:
// drivers check it with ValidateNew.
type NewJob struct {
	// ID, when set, is the job's id, a UUID the caller assigned (NewID):
	// jobs of the same Enqueue call may then name it in DependsOn and
	// ParentID. Empty means the store assigns one.
	ID          string
	Kind        string
	Queue       string
	Args        json.RawMessage // a JSON object; empty means {}
	Blob        *blob.Info
	Priority    int
	RunAt       time.Time // the job is scheduled when RunAt is after Now
	MaxAttempts int
	Timeout     time.Duration
	UniqueKey   string
	DependsOn   []string
	ParentID    string
	// Ref names the job within its workflow; only jobs of a workflow have
	// one, unique in the workflow.
	Ref string
	// WorkflowID is set by the store from EnqueueParams.Workflow; callers
	// leave it empty.
	WorkflowID string
	// IfDependencyFails says what becomes of the job when a dependency
	// fails or is cancelled; empty means DependencyCancel.
	IfDependencyFails DependencyPolicy
	// TraceParent is the W3C traceparent of the enqueuing request, kept
	// with the job (Job.TraceParent); empty for none. At most
	// MaxTraceParent bytes.
	TraceParent string
}

// MaxTraceParent bounds NewJob.TraceParent: a W3C traceparent of version
// 00 is 55 bytes; later versions may append fields.
const MaxTraceParent = 256

// EnqueueParams are the arguments of Driver.Enqueue.
type EnqueueParams struct {
	Jobs []*NewJob
	Now  time.Time

	// Workflow, when set, makes the jobs one workflow, recorded in the same
	// commit: every job needs an ID; a job whose ParentID names a job of
	// the call is that parent's child, and the parent waits for it as for a
	// dependency. Outside a workflow, ParentID is a link that does not
	// block the parent.
	Workflow *NewWorkflow

	// Parent, when set, makes the jobs children spawned by a running job:
	// the store checks the parent holds the lease (ErrLeaseLost otherwise),
	// each job whose ParentID names it blocks it (it runs again after them
	// once it finishes with OutcomeAwaitChildren), the jobs join the
	// parent's workflow if it has one, and refs are allowed.
	Parent *ParentLease

	// IdempotencyKey, when set, makes the call idempotent: the store
	// records the key with the created jobs in the same commit, and a later
	// call with the same key before IdempotencyExpires creates nothing and
	// returns the jobs of the first call with Replayed set. A later call
	// whose IdempotencyHash differs gets an *IdempotencyError. Prune
	// deletes expired keys.
	IdempotencyKey string
	// IdempotencyHash identifies the request the key was first used with
	// (for example a SHA-256 of its body).
	IdempotencyHash string
	// IdempotencyExpires is when the key may be forgotten.
	IdempotencyExpires time.Time
}

// EnqueueResult is the outcome of Driver.Enqueue, one entry per new job.
type EnqueueResult struct {
	Jobs []Enqueued
	// Replayed is true when the IdempotencyKey had been used: Jobs are the
	// jobs of the first call, as they are now.
	Replayed bool
}

// IdempotencyError refuses an idempotency key reused for another request.
type IdempotencyError struct {
	Key string
}

func (e *IdempotencyError) Error() string {
	return fmt.Sprintf("idempotency key %q was used for a different request", e.Key)
}

// Is makes errors.Is(err, ErrConflict) true for every IdempotencyError.
func (e *IdempotencyError) Is(target error) bool { return target == ErrConflict }

// Enqueued is one job of an EnqueueResult.
type Enqueued struct {
	Job *Job
	// Duplicate is true when the job was not created because a non-final
	// job with the same UniqueKey exists; Job is that job.
	Duplicate bool
}

// ListParams are the arguments of Driver.List. Empty filters match all.
type ListParams struct {
	State    State
	Kind     string
	Queue    string
	ParentID string
	// WorkflowID lists the jobs of one workflow.
	WorkflowID string
	// Limit is the page size; zero means DefaultListLimit, and it is
	// capped at MaxListLimit.
	Limit int
	// Cursor is ListResult.Next of the previous page, or empty for the first.
	Cursor string
}

// Page sizes of List.
const (
	DefaultListLimit = 50
	MaxListLimit     = 1000
)

// ListResult is one page of Driver.List.
type ListResult struct {
	Jobs []*Job
	// Next is the cursor of the next page, or empty after the last page.
	Next string
}

// ClaimParams are the arguments of Driver.Claim.
type ClaimParams struct {
	Queue string
	// Max is the most jobs to claim; it is the caller's free worker slots.
	Max int
	// Kinds, when not nil, limits the claim to these kinds.
	Kinds []string
	// ExcludeKinds are never claimed (the kinds that have in-process
	// handlers, when external workers lease).
	ExcludeKinds []string
	// LeaseFor is how long the lease lasts unless extended.
	LeaseFor time.Duration
	Now      time.Time
}

// ClaimResult is the outcome of Driver.Claim.
type ClaimResult struct {
	Jobs []*Job
	// RateWait, when the queue's rate (Limits) held the claim to fewer
	// than Max jobs, is how long until the next token: claiming again
	// sooner finds none.
	RateWait time.Duration
}

// HeartbeatParams are the arguments of Driver.Heartbeat. Progress and
// Checkpoint are kept as they are when nil.
type HeartbeatParams struct {
	ID         string
	LeaseToken string
	Progress   *Progress
	Checkpoint json.RawMessage
	// ExtendBy moves the lease's end to Now+ExtendBy, never earlier than
	// it is: a heartbeat extends a lease and never shortens it. Zero keeps
	// it.
	ExtendBy time.Duration
	Now      time.Time
}

// Outcome is how an attempt ended.
type Outcome string

// The outcomes of an attempt.
const (
	// OutcomeSucceeded: the job succeeded; Result is recorded.
	OutcomeSucceeded Outcome = "succeeded"
	// OutcomeFailed: the attempt failed. The job is retried at RetryAt
	// while attempts remain, unless Permanent; otherwise it fails.
	OutcomeFailed Outcome = "failed"
	// OutcomeSnoozed: the job runs again at RetryAt without spending the
	// attempt.
	OutcomeSnoozed Outcome = "snoozed"
	// OutcomeCancelled: the handler cancelled its own job.
	OutcomeCancelled Outcome = "cancelled"
	// OutcomeReleased: the worker gave the job back unfinished (shutdown):
	// it is available at once, without spending the attempt.
	OutcomeReleased Outcome = "released"
	// OutcomeAwaitChildren: the handler spawned children (EnqueueParams.
	// Parent) and waits for them without holding a worker: the job is
	// waiting, without spending the attempt, and runs again once the jobs
	// it waits for are final (succeeded, for DependencyCancel; a child that
	// failed or was cancelled cancels it).
	OutcomeAwaitChildren Outcome = "await_children"
)

// FinishItem is the outcome of one attempt.
type FinishItem struct {
	ID         string
	LeaseToken string
	Outcome    Outcome
	// Result is recorded on success; a JSON value.
	Result json.RawMessage
	// Error describes a failed or cancelled attempt.
	Error *AttemptError
	// Permanent fails the job now whatever attempts remain.
	Permanent bool
	// RetryAt is when a failed job is retried, or a snoozed one runs again.
	RetryAt time.Time
}

// FinishParams are the arguments of Driver.Finish.
type FinishParams struct {
	Items []FinishItem
	Now   time.Time
}

// FinishResult is the outcome of Driver.Finish, one entry per item.
type FinishResult struct {
	// Jobs[i] is the job after item i, or nil when Errs[i] is not nil.
	Jobs []*Job
	Errs []error
}

// CancelParams are the arguments of Driver.Cancel.
type CancelParams struct {
	ID     string
	Reason string
	Now    time.Time
}

// RetryParams are the arguments of Driver.Retry.
type RetryParams struct {
	ID  string
	Now time.Time
}

// RescueParams are the arguments of Driver.Rescue.
type RescueParams struct {
	Now time.Time
	// Limit bounds the jobs rescued in one call; zero means no bound.
	Limit int
	// Backoff returns the delay before the next attempt of a job whose
	// attempt'th attempt failed.
	Backoff func(attempt int) time.Duration
}

// RescueResult is the outcome of Driver.Rescue.
type RescueResult struct {
	// Jobs are the rescued jobs, in their new state.
	Jobs []*Job
}

// PromoteParams are the arguments of Driver.Promote.
type PromoteParams struct {
	Now time.Time
	// Limit bounds the jobs promoted in one call; zero means no bound.
	Limit int
}

// PromoteResult is the outcome of Driver.Promote.
type PromoteResult struct {
	Promoted int
}

// PruneParams are the arguments of Driver.Prune.
type PruneParams struct {
	FinishedBefore time.Time
	// Now decides which idempotency keys expired.
	Now time.Time
	// Limit bounds the jobs deleted in one call; zero means no bound.
	Limit int
}

// PruneResult is the outcome of Driver.Prune.
type PruneResult struct {
	Deleted int
	// BlobKeys are the blobs the deleted jobs referred to; the caller
	// deletes them from the blob store.
	BlobKeys []string
}

// PauseParams are the arguments of Driver.PauseQueue.
type PauseParams struct {
	Queue  string
	Paused bool
}

// QueueInfo describes one queue.
type QueueInfo struct {
	Name   string
	Paused bool
	// Counts holds the number of jobs in each state; absent means zero.
	Counts map[State]int64
	// OldestAvailableAt is when the job that has been available the longest
	// became available; zero when none is.
	OldestAvailableAt time.Time
	// Limits are the queue's stored limits (LimitStore); nil when it has
	// none.
	Limits *Limits
}

// Errors every driver returns, wrapped or as they are; callers test them
// with errors.Is.
var (
	// ErrNotFound: no job with that id.
	ErrNotFound = errors.New("job not found")
	// ErrLeaseLost: the lease token is not the current one of a running job
	// (the lease expired, the job was cancelled, or another attempt holds it).
	ErrLeaseLost = errors.New("lease lost")
	// ErrConflict: the job is not in a state that allows the change.
	ErrConflict = errors.New("conflict")
	// ErrInvalid: the input is not acceptable; see *FieldError.
	ErrInvalid = errors.New("invalid")
	// ErrClosed: the store was closed. Unlike ErrUnavailable, waiting
	// does not help: the caller closed it.
	ErrClosed = errors.New("store closed")
	// ErrUnavailable: the store cannot serve requests now (it lost or
	// cannot reach its database, or must be reopened); the same call may
	// succeed later, or on another node. Drivers wrap it together with the
	// cause, so that errors.Is finds it and errors.As finds the cause; the
	// HTTP API answers it with 503 and Retry-After. Other I/O errors are not
	// unavailability unless a driver says so with this sentinel.
	ErrUnavailable = errors.New("store unavailable")
	// ErrInsufficientStorage: the disk under the store (or the blob store)
	// is full. Drivers wrap it together with the cause, and with
	// ErrUnavailable when the store cannot serve until space is freed; the
	// HTTP API answers it with 507 and Retry-After. Test it before
	// ErrUnavailable. NoSpace wraps an error that says so. It is the same
	// error as blob.ErrInsufficientStorage.
	ErrInsufficientStorage = diskfull.Err
)

// NoSpace returns err wrapped with ErrInsufficientStorage when it says
// that a disk is full (ENOSPC, or EDQUOT: a quota is used up), and err
// otherwise. Drivers wrap the errors of their disk writes with it.
func NoSpace(err error) error { return diskfull.Wrap(err) }

// Liveness is an optional capability, found with As, of a store that can
// fail in a way it cannot leave by itself (the embedded store, whose
// database can be left unusable by a failure it cannot undo without a
// restart). The HTTP API's /healthz answers 503 while Live returns an
// error, so that a supervisor restarts the process. A store without it is
// always live: one that cannot reach its database (PostgreSQL) recovers
// when the database returns, which readiness (Ping) reports.
type Liveness interface {
	// Live returns nil while the store serves or can recover by itself
	// (after a full disk has space again, say), and the reason otherwise.
	Live() error
}

// TransitionError refuses a change that the job's state does not allow.
type TransitionError struct {
	ID   string
	From State
	// To is the state the change would have led to.
	To State
	// Reason, when set, explains more than the states do.
	Reason string
}

func (e *TransitionError) Error() string {
	msg := fmt.Sprintf("job %s is %s and cannot become %s", e.ID, e.From, e.To)
	if e.Reason != "" {
		msg += ": " + e.Reason
	}
	return msg
}

// Is makes errors.Is(err, ErrConflict) true for every TransitionError.
func (e *TransitionError) Is(target error) bool { return target == ErrConflict }

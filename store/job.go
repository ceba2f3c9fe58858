package store

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/gantry-dev/gantry/blob"
)

// State is where a job is in its life. A job is in exactly one state; see
// docs/state-machine.md for the legal transitions.
type State string

// The states of a job. Succeeded, failed and cancelled are final.
const (
	// StateScheduled jobs wait for their RunAt time.
	StateScheduled State = "scheduled"
	// StateWaiting jobs wait for their dependencies to succeed.
	StateWaiting State = "waiting"
	// StateAvailable jobs may be claimed by a worker now.
	StateAvailable State = "available"
	// StateRunning jobs are held by a worker under a lease.
	StateRunning State = "running"
	// StateRetrying jobs failed an attempt and wait for their backoff to end.
	StateRetrying State = "retrying"
	// StateSucceeded jobs finished successfully. Final.
	StateSucceeded State = "succeeded"
	// StateFailed jobs used up their attempts or failed permanently. Final.
	StateFailed State = "failed"
	// StateCancelled jobs were cancelled, directly or because a dependency
	// did not succeed. Final.
	StateCancelled State = "cancelled"
)

// States lists every state in the order a job usually passes through them.
var States = []State{
	StateWaiting, StateScheduled, StateAvailable, StateRunning,
	StateRetrying, StateSucceeded, StateFailed, StateCancelled,
}

// Final reports whether no further transition happens without a manual retry.
func (s State) Final() bool {
	return s == StateSucceeded || s == StateFailed || s == StateCancelled
}

// Valid reports whether s is one of the states above.
func (s State) Valid() bool {
	for _, v := range States {
		if s == v {
			return true
		}
	}
	return false
}

// Priority bounds. Smaller runs first among the available jobs of a queue.
const (
	MinPriority     = 1
	MaxPriority     = 9
	DefaultPriority = 5
)

// Job is one unit of work and everything recorded about it. It is the row
// every store keeps and every API returns.
type Job struct {
	// ID is the ticket: a time-ordered unique id (UUIDv7), assigned by the
	// store at enqueue.
	ID string `json:"id"`
	// Kind names the handler.
	Kind string `json:"kind"`
	// Queue is the queue the job runs in.
	Queue string `json:"queue"`
	// State is where the job is in its life.
	State State `json:"state"`
	// Args is the job's input, a JSON object.
	Args json.RawMessage `json:"args"`
	// Blob is the job's optional binary payload in the blob store.
	Blob *blob.Info `json:"blob,omitempty"`
	// Priority orders available jobs of a queue: smaller runs first.
	Priority int `json:"priority"`
	// Attempt counts the attempts started so far (0 before the first).
	Attempt int `json:"attempt"`
	// MaxAttempts is how many attempts the job gets before it fails.
	MaxAttempts int `json:"max_attempts"`
	// Timeout limits one attempt; zero means the engine's default.
	Timeout time.Duration `json:"timeout,omitempty"`
	// UniqueKey, when set, allows at most one non-final job with this key.
	UniqueKey string `json:"unique_key,omitempty"`
	// DependsOn lists the ids of jobs that must succeed before this one runs.
	DependsOn []string `json:"depends_on,omitempty"`
	// ParentID is the job this one is a child of in a tree.
	ParentID string `json:"parent_id,omitempty"`
	// WorkflowID is the workflow the job belongs to, if any.
	WorkflowID string `json:"workflow_id,omitempty"`
	// Ref is the job's name within its workflow, if any.
	Ref string `json:"ref,omitempty"`
	// IfDependencyFails says what becomes of the job when a dependency
	// fails or is cancelled; empty means DependencyCancel.
	IfDependencyFails DependencyPolicy `json:"if_dependency_fails,omitempty"`
	// LimitKey is the job's key under its queue's Limits.Key, read once at
	// enqueue (Limits.KeyOf) and kept with the job, so that claims serve
	// keys in turn and apply per-key limits without parsing args. Empty
	// when the queue has no key path, or the job lacks the field
	// (DefaultLimitKey).
	LimitKey string `json:"limit_key,omitempty"`
	// TraceParent is the W3C trace context (a traceparent header value) of
	// the request that enqueued the job, empty when it had none: attempts
	// run as its children, so that they join the enqueuer's trace. It is
	// not part of the job resource.
	TraceParent string `json:"-"`
	// RunAt is the earliest time the job may run; for a retrying job, the
	// end of its backoff.
	RunAt time.Time `json:"run_at"`
	// CreatedAt is when the job was enqueued.
	CreatedAt time.Time `json:"created_at"`
	// StartedAt is when the latest attempt started; zero before the first.
	StartedAt time.Time `json:"started_at,omitzero"`
	// FinishedAt is when the job reached a final state; zero before.
	FinishedAt time.Time `json:"finished_at,omitzero"`
	// Progress is what the handler last reported, if anything.
	Progress *Progress `json:"progress,omitempty"`
	// Result is what the handler recorded on success, a JSON value.
	Result json.RawMessage `json:"result,omitempty"`
	// Errors has one entry per failed attempt, oldest first.
	Errors []AttemptError `json:"errors,omitempty"`
	// Checkpoint is what a heartbeat saved; the next attempt receives it.
	Checkpoint json.RawMessage `json:"checkpoint,omitempty"`
	// CancelReason says why a cancelled job was cancelled.
	CancelReason string `json:"cancel_reason,omitempty"`
	// Snoozes counts the snoozes (OutcomeSnoozed) the job has had without
	// spending an attempt, and FirstSnoozedAt is when the first of them
	// was recorded (zero before any). Past MaxSnoozes of them, or
	// MaxSnoozeAge after the first, a snooze counts as a failed attempt.
	// A manual retry resets both.
	Snoozes        int       `json:"-"`
	FirstSnoozedAt time.Time `json:"-"`

	// Dependencies are the outcomes of the jobs this one waited for (its
	// dependencies, and the children a parent waited for), keyed by
	// DependencyKey. Only claim results carry them.
	Dependencies map[string]Dependency `json:"dependencies,omitempty"`

	// LeaseToken fences the current attempt of a running job. Only claim
	// results carry it; reads of a job never do.
	LeaseToken string `json:"lease_token,omitempty"`
	// LeaseExpiresAt is when the current lease ends unless extended.
	LeaseExpiresAt time.Time `json:"lease_expires_at,omitzero"`
}

// Blob is the description of a job's binary payload, which the blob
// package owns: the job record keeps what the blob store returned.
type Blob = blob.Info

// Progress is a running job's own report of how far it got.
type Progress struct {
	// Percent is 0 to 100.
	Percent int `json:"percent"`
	// Message is a short human description, at most MaxProgressMessage bytes.
	Message string `json:"message,omitempty"`
}

// HandlerProgress is a handler's report as it is recorded: percent must be
// 0 to 100, and a message longer than MaxProgressMessage bytes is cut. The
// engine and gantrytest take handlers' reports through it.
func HandlerProgress(percent int, message string) (*Progress, error) {
	if percent < 0 || percent > 100 {
		return nil, fmt.Errorf("progress %d is not between 0 and 100", percent)
	}
	if len(message) > MaxProgressMessage {
		message = message[:MaxProgressMessage]
	}
	return &Progress{Percent: percent, Message: message}, nil
}

// AttemptError records one failed attempt.
type AttemptError struct {
	// Attempt is the attempt that failed, starting at 1.
	Attempt int `json:"attempt"`
	// At is when it failed.
	At time.Time `json:"at"`
	// Message is the error's text.
	Message string `json:"message"`
	// Stack is the goroutine stack when the attempt panicked.
	Stack string `json:"stack,omitempty"`
}

// Limits on the fields of a job, enforced by ValidateNew.
const (
	MaxNameLen         = 128
	MaxUniqueKeyLen    = 256
	MaxProgressMessage = 256
	MaxDependencies    = 1000
	MaxMaxAttempts     = 1000
)

// NameRule says what ValidName accepts, in the words every error about a
// name uses.
const NameRule = "must be 1-128 characters of letters, digits, '.', '_', '-', ':'"

// CheckName returns a *FieldError naming field when s is not a valid name
// (ValidName), and nil when it is.
func CheckName(field, s string) error {
	if ValidName(s) {
		return nil
	}
	return &FieldError{Index: -1, Field: field, Reason: NameRule}
}

// ValidName reports whether s may be a kind or a queue name: 1-128
// characters of ASCII letters, digits, '.', '_', '-' and ':'.
func ValidName(s string) bool {
	if len(s) == 0 || len(s) > MaxNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '.', c == '_', c == '-', c == ':':
		default:
			return false
		}
	}
	return true
}

// FieldError says which field of a request is invalid and why: of a new
// job, or of the params of a call. Stores and the client return it (wrapped
// in ErrInvalid) so that callers can name the field to the user.
type FieldError struct {
	// Index is the job's position in a batch, or -1 for a single job.
	Index int
	// Field names the field by its Go name, as in NewJob, EnqueueOpts or
	// the call's params: "Kind", "DependsOn[2]", "LeaseFor",
	// "Progress.Message". Empty means the job itself (a nil job in a
	// batch). The HTTP API maps these names to its JSON ones.
	Field string
	// Reason is a short human explanation.
	Reason string
}

func (e *FieldError) Error() string {
	switch {
	case e.Index >= 0 && e.Field == "":
		return fmt.Sprintf("jobs[%d]: %s", e.Index, e.Reason)
	case e.Index >= 0:
		return fmt.Sprintf("jobs[%d].%s: %s", e.Index, e.Field, e.Reason)
	}
	return e.Field + ": " + e.Reason
}

// Is makes errors.Is(err, ErrInvalid) true for every FieldError.
func (e *FieldError) Is(target error) bool { return target == ErrInvalid }

// ValidateNew checks a job about to be enqueued, after defaults were
// applied. It returns a *FieldError naming the first bad field.
func ValidateNew(j *NewJob) error { return validateNew(j, false) }

// ValidateNewIn is ValidateNew for a job of an Enqueue call: in a
// workflow, DependsOn is not bound by MaxDependencies.
func ValidateNewIn(j *NewJob, inWorkflow bool) error { return validateNew(j, inWorkflow) }

func validateNew(j *NewJob, inWorkflow bool) error {
	bad := func(field, reason string) error { return &FieldError{Index: -1, Field: field, Reason: reason} }
	switch {
	case !ValidName(j.Kind):
		return bad("Kind", NameRule)
	case !ValidName(j.Queue):
		return bad("Queue", NameRule)
	case j.Priority < MinPriority || j.Priority > MaxPriority:
		return bad("Priority", fmt.Sprintf("must be between %d and %d", MinPriority, MaxPriority))
	case j.MaxAttempts < 1 || j.MaxAttempts > MaxMaxAttempts:
		return bad("MaxAttempts", fmt.Sprintf("must be between 1 and %d", MaxMaxAttempts))
	case j.Timeout < 0:
		return bad("Timeout", "must not be negative")
	case len(j.UniqueKey) > MaxUniqueKeyLen:
		return bad("UniqueKey", fmt.Sprintf("must be at most %d bytes", MaxUniqueKeyLen))
	case len(j.DependsOn) > MaxDependencies && !inWorkflow:
		return bad("DependsOn", fmt.Sprintf("must list at most %d jobs", MaxDependencies))
	case j.RunAt.IsZero():
		return bad("RunAt", "must be set")
	case !InWindow(j.RunAt):
		return bad("RunAt", TimeRule)
	}
	if len(j.Args) > 0 && !isJSONObject(j.Args) {
		return bad("Args", "must be a JSON object")
	}
	seen := make(map[string]bool, len(j.DependsOn))
	for i, d := range j.DependsOn {
		if d == "" {
			return bad(fmt.Sprintf("DependsOn[%d]", i), "must not be empty")
		}
		if seen[d] {
			return bad(fmt.Sprintf("DependsOn[%d]", i), "lists "+d+" twice")
		}
		seen[d] = true
	}
	return nil
}

func isJSONObject(b json.RawMessage) bool {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		case '{':
			return json.Valid(b)
		}
		return false
	}
	return false
}

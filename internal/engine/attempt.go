package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/store"
)

// progressFlushEvery bounds how often progress reports reach the store; a
// report that comes sooner is kept and written by the next heartbeat.
const progressFlushEvery = 100 * time.Millisecond

// Attempt is one run of a job on a worker. Handlers use it to report
// progress and save checkpoints.
type Attempt struct {
	// Job is the claimed job: running, with its lease token. Read-only.
	Job *store.Job

	e      *Engine
	cancel context.CancelCauseFunc
	took   time.Duration

	mu          sync.Mutex
	lastFlush   time.Time
	pending     *store.Progress // not yet written
	leaseUntil  time.Time
	isAbandoned bool
}

func newAttempt(e *Engine, j *store.Job, cancel context.CancelCauseFunc) *Attempt {
	return &Attempt{Job: j, e: e, cancel: cancel, leaseUntil: j.LeaseExpiresAt}
}

// Progress reports how far the attempt got: percent from 0 to 100 and a
// short message. Reports are written to the store at most every 100ms; the
// latest one always gets there while the attempt runs.
func (a *Attempt) Progress(ctx context.Context, percent int, message string) error {
	p, err := store.HandlerProgress(percent, message)
	if err != nil {
		return err
	}
	now := time.Now()
	a.mu.Lock()
	if now.Sub(a.lastFlush) < progressFlushEvery {
		a.pending = p
		a.mu.Unlock()
		return nil
	}
	a.lastFlush = now
	a.pending = nil
	a.mu.Unlock()
	return a.heartbeat(ctx, p, nil, 0)
}

// Owner returns Config.Owner of the engine that runs the attempt.
func (a *Attempt) Owner() any { return a.e.cfg.Owner }

// Now returns the engine's time.
func (a *Attempt) Now() time.Time { return a.e.cfg.Now() }

// Spawn enqueues jobs as children of the attempt's job (p.Parent is set
// to it, and p.Now), idempotently for the attempt: p's idempotency key is
// store.SpawnKey of the job, the attempt and refs.
func (a *Attempt) Spawn(ctx context.Context, p *store.EnqueueParams, refs []string) (*store.EnqueueResult, error) {
	p.Parent = &store.ParentLease{ID: a.Job.ID, LeaseToken: a.Job.LeaseToken}
	p.IdempotencyKey = store.SpawnKey(a.Job.ID, a.Job.Attempt, refs)
	p.IdempotencyHash = p.IdempotencyKey
	p.IdempotencyExpires = p.Now.Add(spawnKeyTTL)
	res, err := a.e.store.Enqueue(ctx, p)
	if errors.Is(err, store.ErrLeaseLost) {
		a.cancel(ErrLeaseLost)
	}
	return res, err
}

// spawnKeyTTL is how long a spawn's idempotency key is kept.
const spawnKeyTTL = 24 * time.Hour

// SaveCheckpoint records data that the next attempt of this job receives
// if this one does not succeed, so that it can resume rather than restart.
func (a *Attempt) SaveCheckpoint(ctx context.Context, data json.RawMessage) error {
	if !json.Valid(data) {
		return errors.New("checkpoint is not valid JSON")
	}
	return a.heartbeat(ctx, nil, data, 0)
}

func (a *Attempt) heartbeat(ctx context.Context, p *store.Progress, checkpoint json.RawMessage, extend time.Duration) error {
	j, err := a.e.store.Heartbeat(ctx, &store.HeartbeatParams{
		ID:         a.Job.ID,
		LeaseToken: a.Job.LeaseToken,
		Progress:   p,
		Checkpoint: checkpoint,
		ExtendBy:   extend,
		Now:        a.e.cfg.Now(),
	})
	if errors.Is(err, store.ErrLeaseLost) {
		a.cancel(ErrLeaseLost)
		return err
	}
	if err != nil {
		return err
	}
	if extend > 0 {
		a.mu.Lock()
		a.leaseUntil = j.LeaseExpiresAt
		a.mu.Unlock()
	}
	return nil
}

// takePending returns the progress not yet written, if any.
func (a *Attempt) takePending() *store.Progress {
	a.mu.Lock()
	defer a.mu.Unlock()
	p := a.pending
	a.pending = nil
	if p != nil {
		a.lastFlush = time.Now()
	}
	return p
}

func (a *Attempt) leaseEnd() time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.leaseUntil
}

func (a *Attempt) abandon() {
	a.mu.Lock()
	a.isAbandoned = true
	a.mu.Unlock()
}

func (a *Attempt) abandoned() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.isAbandoned
}

// TimeoutError is the cause of an attempt's context when the job's timeout
// passed.
type TimeoutError struct {
	Timeout time.Duration
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("attempt timed out after %v", e.Timeout)
}

// Is makes errors.Is(err, context.DeadlineExceeded) true.
func (e *TimeoutError) Is(target error) bool { return target == context.DeadlineExceeded }

// PanicError is the error of an attempt whose handler panicked.
type PanicError struct {
	Value any
}

func (e *PanicError) Error() string { return fmt.Sprintf("panic: %v", e.Value) }

func stack() string {
	const max = 16 << 10
	s := debug.Stack()
	if len(s) > max {
		s = s[:max]
	}
	return string(s)
}

package gantry

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/gantry-dev/gantry/internal/engine"
	"github.com/gantry-dev/gantry/store"
)

// Bounds of the external-worker protocol (Workers).
const (
	// MaxLeaseJobs is the most jobs one Lease call hands out.
	MaxLeaseJobs = engine.DefaultMaxClaim
	// MinLeaseFor and MaxLeaseFor bound how long a lease lasts without a
	// heartbeat.
	MinLeaseFor = time.Second
	MaxLeaseFor = engine.MaxLeaseFor
	// MaxFailMessage is the longest error message Fail records; longer
	// ones are cut.
	MaxFailMessage = 16 << 10
)

// leasePollNotified is how often a waiting Lease looks at the store when
// the store sends change notifications: a safety net for what sends none,
// such as a queue that was resumed, or a job that came due while no
// maintenance runs to promote it. Without notifications, a waiting Lease
// looks every Config.PollInterval.
const leasePollNotified = 5 * time.Second

// Workers is the protocol of workers outside the client, in this program or
// behind the HTTP API: they lease jobs of kinds the client has no handler
// for, and report on each with Heartbeat, Complete or Fail, naming the
// attempt by its lease token. A report from an attempt that no longer holds
// the lease is refused with ErrLeaseLost. Get it from Client.Workers.
type Workers struct {
	c *Client
}

// Workers returns the external-worker protocol of the client.
func (c *Client) Workers() *Workers { return &c.workers }

// LeaseParams are the arguments of Workers.Lease.
type LeaseParams struct {
	// Queue is the queue to lease from. Default DefaultQueue.
	Queue string
	// Max is the most jobs to lease, 1 to MaxLeaseJobs. Default 1.
	Max int
	// LeaseFor is how long the leases last unless a heartbeat extends
	// them; after that the attempt counts as failed and the job is retried.
	// MinLeaseFor to MaxLeaseFor. Default: the client's LeaseFor.
	LeaseFor time.Duration
	// Wait is how long Lease waits for jobs when none is available. Zero
	// returns at once.
	Wait time.Duration
	// Kinds, when not empty, limits the lease to these kinds.
	Kinds []string
	// ExcludeKinds are never leased (besides the kinds that have a
	// handler in this client).
	ExcludeKinds []string
}

// HeartbeatParams are the arguments of Workers.Heartbeat.
type HeartbeatParams struct {
	// ID and LeaseToken name the job and its current attempt.
	ID         string
	LeaseToken string
	// Progress, when not nil, replaces the job's progress.
	Progress *Progress
	// Checkpoint, when not empty, is saved for the next attempt (a JSON
	// value).
	Checkpoint json.RawMessage
	// Extend moves the end of the lease to now+Extend, at most MaxLeaseFor.
	// Default: the client's LeaseFor. Negative keeps the lease's end.
	Extend time.Duration
}

// CompleteParams are the arguments of Workers.Complete.
type CompleteParams struct {
	// ID and LeaseToken name the job and its current attempt.
	ID         string
	LeaseToken string
	// Result, when not empty, is recorded as the job's result (a JSON
	// value).
	Result json.RawMessage
	// AwaitChildren, instead of succeeding, makes the job wait for the
	// children it spawned (Workers.Spawn) without holding the lease: it is
	// leased again, in an attempt that does not count against
	// max_attempts, once they are final, with their outcomes in
	// Job.Dependencies.
	AwaitChildren bool
}

// SpawnParams are the arguments of Workers.Spawn.
type SpawnParams struct {
	// ID and LeaseToken name the job and its current attempt.
	ID         string
	LeaseToken string
	// Jobs are the children, as in a Workflow; refs are local to the job.
	Jobs []WorkflowJob
}

// FailParams are the arguments of Workers.Fail.
type FailParams struct {
	// ID and LeaseToken name the job and its current attempt.
	ID         string
	LeaseToken string
	// Error says why the attempt failed; it is recorded in the job's
	// errors. At most MaxFailMessage bytes are kept.
	Error string
	// Permanent fails the job now, whatever attempts remain. Otherwise the
	// job is retried while attempts remain.
	Permanent bool
	// RetryIn is the delay before the next attempt; now+RetryIn must lie
	// before store.MaxTime. Default: the client's Backoff.
	RetryIn time.Duration
}

func leaseField(field, reason string) error {
	return &FieldError{Index: -1, Field: field, Reason: reason}
}

// Lease hands jobs of a queue to an external worker: it claims up to p.Max
// available jobs of kinds that have no handler in this client, each running
// under a lease with its own token. The worker reports with Heartbeat,
// Complete or Fail; a lease that ends without them counts as a failed
// attempt. When no job is available, Lease waits up to p.Wait for one,
// woken by the store's change notifications (or by polling a store without
// them), and returns an empty slice if none came. A wait ends early with
// ctx's error when ctx ends, and with ErrStopped when the client stops.
//
// Invalid params give an error wrapping ErrInvalid (a *FieldError).
func (w *Workers) Lease(ctx context.Context, p *LeaseParams) ([]*Job, error) {
	c := w.c
	claim, err := c.claimParams(p)
	if err != nil {
		return nil, err
	}
	jobs, _, err := c.claim(ctx, claim)
	if err != nil || len(jobs) > 0 || p == nil || p.Wait == 0 {
		return jobs, err
	}

	// Wait: subscribe before the next look, so that no job made available
	// between the look and the wait is missed.
	wake, notifies, stop, err := c.hub.waitQueue(claim.Queue)
	if err != nil {
		return nil, err
	}
	defer stop()
	poll := c.cfg.PollInterval
	if notifies {
		poll = max(poll, leasePollNotified)
	}
	deadline := time.NewTimer(p.Wait)
	defer deadline.Stop()
	ticker := time.NewTicker(poll)
	defer ticker.Stop()
	// A queue's rate (Limits) that held a claim back is tried again when
	// its next token is there: no change notification tells of that.
	for {
		// The first look after subscribing sees a job that came between
		// the look above and the subscription.
		jobs, rateWait, err := c.claim(ctx, claim)
		if err != nil || len(jobs) > 0 {
			return jobs, err
		}
		var rateC <-chan time.Time
		if rateWait > 0 {
			rateC = time.After(rateWait) // collected unfired once unreferenced (Go 1.23)
		}
		select {
		case <-rateC:
		case <-wake:
		case <-ticker.C:
		case <-deadline.C:
			return []*Job{}, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-c.hub.ctx.Done():
			return nil, ErrStopped
		}
	}
}

// claimParams checks a lease request and applies its defaults.
func (c *Client) claimParams(p *LeaseParams) (*store.ClaimParams, error) {
	var q LeaseParams
	if p != nil {
		q = *p
	}
	if q.Queue == "" {
		q.Queue = DefaultQueue
	}
	if q.Max == 0 {
		q.Max = 1
	}
	if q.LeaseFor == 0 {
		q.LeaseFor = c.cfg.LeaseFor
	}
	if err := store.CheckName("Queue", q.Queue); err != nil {
		return nil, err
	}
	switch {
	case q.Max < 1 || q.Max > MaxLeaseJobs:
		return nil, leaseField("Max", fmt.Sprintf("must be between 1 and %d", MaxLeaseJobs))
	case q.LeaseFor < MinLeaseFor || q.LeaseFor > MaxLeaseFor:
		return nil, leaseField("LeaseFor", fmt.Sprintf("must be between %v and %v", MinLeaseFor, MaxLeaseFor))
	case q.Wait < 0:
		return nil, leaseField("Wait", "must not be negative")
	}
	for i, k := range q.Kinds {
		if err := store.CheckName(fmt.Sprintf("Kinds[%d]", i), k); err != nil {
			return nil, err
		}
	}
	for i, k := range q.ExcludeKinds {
		if err := store.CheckName(fmt.Sprintf("ExcludeKinds[%d]", i), k); err != nil {
			return nil, err
		}
	}
	claim := &store.ClaimParams{
		Queue:        q.Queue,
		Max:          q.Max,
		ExcludeKinds: append(c.Kinds(), q.ExcludeKinds...),
		LeaseFor:     q.LeaseFor,
	}
	if len(q.Kinds) > 0 {
		claim.Kinds = slices.Clone(q.Kinds)
	}
	return claim, nil
}

// claim claims jobs for an external worker and tells the Started hook. It
// also returns the claim's store.ClaimResult.RateWait.
func (c *Client) claim(ctx context.Context, p *store.ClaimParams) ([]*Job, time.Duration, error) {
	p.Now = c.cfg.Now()
	// claimParams bounded LeaseFor; the lease must also end in the window.
	if err := store.CheckAfter("LeaseFor", p.Now, p.LeaseFor); err != nil {
		return nil, 0, err
	}
	res, err := c.store.Claim(ctx, p)
	if err != nil {
		return nil, 0, err
	}
	if h := c.cfg.Hooks.Started; h != nil {
		for _, j := range res.Jobs {
			h(j)
		}
	}
	if h := c.cfg.Hooks.RateWaited; h != nil && res.RateWait > 0 {
		h(p.Queue, res.RateWait)
	}
	return res.Jobs, res.RateWait, nil
}

// Heartbeat tells that the worker holding a job's lease is still at it: it
// extends the lease and records progress and a checkpoint. It returns the
// job as recorded, or an error wrapping ErrLeaseLost when the token is not
// the current one of the running job (the lease expired and another attempt
// began, or the job was cancelled), or ErrNotFound.
func (w *Workers) Heartbeat(ctx context.Context, p *HeartbeatParams) (*Job, error) {
	c := w.c
	if p == nil {
		return nil, leaseField("ID", "must be set")
	}
	if err := checkLeased(p.ID, p.LeaseToken); err != nil {
		return nil, err
	}
	hp := &store.HeartbeatParams{ID: p.ID, LeaseToken: p.LeaseToken, ExtendBy: p.Extend}
	switch {
	case p.Extend == 0:
		hp.ExtendBy = c.cfg.LeaseFor
	case p.Extend < 0:
		hp.ExtendBy = 0
	case p.Extend > MaxLeaseFor:
		return nil, leaseField("Extend", fmt.Sprintf("must be at most %v", MaxLeaseFor))
	}
	if p.Progress != nil {
		if p.Progress.Percent < 0 || p.Progress.Percent > 100 {
			return nil, leaseField("Progress", "must be between 0 and 100")
		}
		if len(p.Progress.Message) > store.MaxProgressMessage {
			return nil, leaseField("Progress.Message", fmt.Sprintf("must be at most %d bytes", store.MaxProgressMessage))
		}
		pr := *p.Progress
		hp.Progress = &pr
	}
	if len(p.Checkpoint) > 0 {
		if !json.Valid(p.Checkpoint) {
			return nil, leaseField("Checkpoint", "must be a JSON value")
		}
		hp.Checkpoint = p.Checkpoint
	}
	hp.Now = c.cfg.Now()
	if err := store.CheckAfter("Extend", hp.Now, hp.ExtendBy); err != nil {
		return nil, err
	}
	return c.store.Heartbeat(ctx, hp)
}

// Complete records that the attempt holding the lease succeeded, with
// p.Result as the job's result. It returns the job as recorded, or an error
// wrapping ErrLeaseLost or ErrNotFound.
func (w *Workers) Complete(ctx context.Context, p *CompleteParams) (*Job, error) {
	if p == nil {
		return nil, leaseField("ID", "must be set")
	}
	if err := checkLeased(p.ID, p.LeaseToken); err != nil {
		return nil, err
	}
	if len(p.Result) > 0 && !json.Valid(p.Result) {
		return nil, leaseField("Result", "must be a JSON value")
	}
	if p.AwaitChildren {
		return w.c.finish(ctx, store.FinishItem{ID: p.ID, LeaseToken: p.LeaseToken, Outcome: store.OutcomeAwaitChildren})
	}
	return w.c.finish(ctx, store.FinishItem{ID: p.ID, LeaseToken: p.LeaseToken, Outcome: store.OutcomeSucceeded, Result: p.Result})
}

// Spawn adds children to a leased job, durably, all or none, and returns
// them by ref; complete the job with AwaitChildren to wait for them.
// Spawning the same refs again in the same attempt creates nothing and
// returns the first children. Errors are as for EnqueueWorkflow, or wrap
// ErrLeaseLost.
func (w *Workers) Spawn(ctx context.Context, p *SpawnParams) (map[string]*Job, error) {
	if p == nil {
		return nil, leaseField("ID", "must be set")
	}
	if err := checkLeased(p.ID, p.LeaseToken); err != nil {
		return nil, err
	}
	attempt, ok := store.LeaseAttempt(p.LeaseToken)
	if !ok {
		return nil, store.ErrLeaseLost
	}
	c := w.c
	plan, err := planJobs(&Workflow{Jobs: p.Jobs}, DefaultMaxWorkflowJobs, c.cfg.Now(), c.newJob, p.ID)
	if err != nil {
		return nil, err
	}
	plan.params.Parent.LeaseToken = p.LeaseToken
	key := store.SpawnKey(p.ID, attempt, plan.refs)
	plan.params.IdempotencyKey, plan.params.IdempotencyHash = key, key
	plan.params.IdempotencyExpires = plan.params.Now.Add(DefaultIdempotencyTTL)
	res, err := c.store.Enqueue(ctx, plan.params)
	if err != nil {
		return nil, plan.storeError(err)
	}
	return plan.byRef(res), nil
}

// Fail records that the attempt holding the lease failed. The job is
// retried after p.RetryIn (or the client's backoff) while attempts remain,
// unless p.Permanent; otherwise it fails. It returns the job as recorded, or
// an error wrapping ErrLeaseLost or ErrNotFound.
func (w *Workers) Fail(ctx context.Context, p *FailParams) (*Job, error) {
	c := w.c
	if p == nil {
		return nil, leaseField("ID", "must be set")
	}
	if err := checkLeased(p.ID, p.LeaseToken); err != nil {
		return nil, err
	}
	if p.RetryIn < 0 {
		return nil, leaseField("RetryIn", "must not be negative")
	}
	// A well-formed token names its attempt; a malformed one matches no
	// lease, and the store says so.
	attempt, _ := store.LeaseAttempt(p.LeaseToken)
	msg := p.Error
	if msg == "" {
		msg = "failed by its worker"
	}
	if len(msg) > MaxFailMessage {
		msg = msg[:MaxFailMessage]
	}
	now := c.cfg.Now()
	retryIn := p.RetryIn
	if retryIn == 0 {
		retryIn = c.cfg.Backoff(max(attempt, 1))
	}
	if err := store.CheckAfter("RetryIn", now, retryIn); err != nil {
		return nil, err
	}
	return c.finish(ctx, store.FinishItem{
		ID:         p.ID,
		LeaseToken: p.LeaseToken,
		Outcome:    store.OutcomeFailed,
		Error:      &store.AttemptError{Attempt: attempt, At: now, Message: msg},
		Permanent:  p.Permanent,
		RetryAt:    now.Add(retryIn),
	})
}

// SnoozeParams are the arguments of Workers.Snooze.
type SnoozeParams struct {
	// ID and LeaseToken name the job and its current attempt.
	ID         string
	LeaseToken string
	// RetryIn is the delay before the job runs again; now+RetryIn must lie
	// before store.MaxTime. Zero gives the job back to run at once.
	RetryIn time.Duration
	// Reason optionally says why (e.g. "the target answered 503"). It is
	// recorded only when the snooze is past the cap (store.MaxSnoozes,
	// store.MaxSnoozeAge) and counts as a failed attempt, after the cap's
	// own message.
	Reason string
}

// Snooze ends the attempt holding the lease without spending it: the job
// is scheduled to run again after p.RetryIn. Workers snooze a job they
// could not start because something downstream is overloaded (an HTTP
// 429 or 503, an exit status 75). A job is snoozed at most
// store.MaxSnoozes (100) times and for store.MaxSnoozeAge (24 hours) from
// its first snooze; past that, a snooze counts as a failed attempt, retried
// after p.RetryIn while attempts remain. It returns the job as recorded,
// or an error wrapping ErrLeaseLost or ErrNotFound.
func (w *Workers) Snooze(ctx context.Context, p *SnoozeParams) (*Job, error) {
	if p == nil {
		return nil, leaseField("ID", "must be set")
	}
	if err := checkLeased(p.ID, p.LeaseToken); err != nil {
		return nil, err
	}
	if p.RetryIn < 0 {
		return nil, leaseField("RetryIn", "must not be negative")
	}
	now := w.c.cfg.Now()
	if err := store.CheckAfter("RetryIn", now, p.RetryIn); err != nil {
		return nil, err
	}
	item := store.FinishItem{ID: p.ID, LeaseToken: p.LeaseToken, Outcome: store.OutcomeSnoozed, RetryAt: now.Add(p.RetryIn)}
	if p.Reason != "" {
		item.Error = &store.AttemptError{Message: p.Reason}
	}
	return w.c.finish(ctx, item)
}

func (c *Client) finish(ctx context.Context, item store.FinishItem) (*Job, error) {
	now := c.cfg.Now()
	res, err := c.store.Finish(ctx, &store.FinishParams{Items: []store.FinishItem{item}, Now: now})
	if err != nil {
		return nil, err
	}
	if len(res.Errs) > 0 && res.Errs[0] != nil {
		return nil, res.Errs[0]
	}
	if len(res.Jobs) == 0 || res.Jobs[0] == nil {
		return nil, fmt.Errorf("gantry: finishing job %s: the store returned no job", item.ID)
	}
	j := res.Jobs[0]
	if h := c.cfg.Hooks.Finished; h != nil {
		var took time.Duration
		if !j.StartedAt.IsZero() {
			took = now.Sub(j.StartedAt)
		}
		h(j, took)
	}
	return j, nil
}

func checkLeased(id, token string) error {
	switch {
	case id == "":
		return leaseField("ID", "must be set")
	case token == "":
		return leaseField("LeaseToken", "must be set")
	}
	return nil
}

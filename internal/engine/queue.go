package engine

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/gantry-dev/gantry/store"
)

// queue is one queue's fetcher and its fixed set of workers. The fetcher
// claims at most as many jobs as there are idle workers, so the jobs channel
// never holds more than the worker count and never blocks the fetcher.
type queue struct {
	e       *Engine
	name    string
	workers int
	busy    atomic.Int64 // claimed and not yet done
	jobs    chan *store.Job
	wakeC   chan struct{} // the store has new available jobs
	freeC   chan struct{} // a worker became idle
}

func newQueue(e *Engine, name string, workers int) *queue {
	return &queue{
		e:       e,
		name:    name,
		workers: workers,
		jobs:    make(chan *store.Job, workers),
		wakeC:   make(chan struct{}, 1),
		freeC:   make(chan struct{}, 1),
	}
}

func (q *queue) start() {
	e := q.e
	for range q.workers {
		e.workers.Add(1)
		go func() {
			defer e.workers.Done()
			q.work()
		}()
	}
	e.fetchers.Add(1)
	go func() {
		defer e.fetchers.Done()
		q.fetch()
	}()
}

func (q *queue) wake() {
	select {
	case q.wakeC <- struct{}{}:
	default:
	}
}

func (q *queue) fetch() {
	e := q.e
	ctx := e.fetchCtx
	if len(e.cfg.Kinds) == 0 {
		<-ctx.Done()
		return
	}
	poll := e.cfg.PollInterval
	if !e.hasNotifier && poll > 100*time.Millisecond {
		poll = 100 * time.Millisecond
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	failures := 0
	for {
		free := q.workers - int(q.busy.Load())
		if free <= 0 {
			select {
			case <-q.freeC:
				continue
			case <-ctx.Done():
				return
			}
		}
		free = min(free, DefaultMaxClaim)
		res, err := e.store.Claim(ctx, &store.ClaimParams{
			Queue:    q.name,
			Max:      free,
			Kinds:    e.cfg.Kinds,
			LeaseFor: e.cfg.LeaseFor,
			Now:      e.cfg.Now(),
		})
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			failures++
			e.log.Warn("claim failed", slog.String("queue", q.name), slog.Any("error", err))
			if !sleep(ctx, min(time.Duration(failures)*100*time.Millisecond, 5*time.Second)) {
				return
			}
			continue
		}
		failures = 0
		for _, j := range res.Jobs {
			q.busy.Add(1)
			q.jobs <- j
		}
		if len(res.Jobs) == free {
			continue // there may be more; claim again while workers are idle
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		if res.RateWait > 0 {
			// The queue's rate held the claim back: claim again when the
			// next token is there, not sooner, whatever wakes come.
			if h := e.cfg.Hooks.RateWaited; h != nil {
				h(q.name, res.RateWait)
			}
			timer.Reset(res.RateWait)
			select {
			case <-timer.C:
			case <-ctx.Done():
				return
			}
			continue
		}
		timer.Reset(poll)
		select {
		case <-q.wakeC:
		case <-timer.C:
		case <-ctx.Done():
			return
		}
	}
}

func (q *queue) work() {
	e := q.e
	for j := range q.jobs {
		if e.fetchCtx.Err() != nil {
			// Stopping: give back what has not started.
			e.completer.add(store.FinishItem{ID: j.ID, LeaseToken: j.LeaseToken, Outcome: store.OutcomeReleased}, nil)
		} else {
			e.run(j)
		}
		q.busy.Add(-1)
		select {
		case q.freeC <- struct{}{}:
		default:
		}
	}
}

// run executes one attempt and hands its outcome to the completer.
func (e *Engine) run(j *store.Job) {
	timeout := j.Timeout
	if timeout <= 0 {
		timeout = e.cfg.Timeout
	}
	ctx, cancel := context.WithCancelCause(e.workCtx)
	defer cancel(nil)
	ctx, cancelTimeout := context.WithTimeoutCause(ctx, timeout, &TimeoutError{Timeout: timeout})
	defer cancelTimeout()

	a := newAttempt(e, j, cancel)
	e.track(a)
	if h := e.cfg.Hooks.Started; h != nil {
		h(j)
	}
	start := time.Now()
	callCtx, traced := ctx, func(error) {}
	if e.cfg.Trace != nil {
		callCtx, traced = e.cfg.Trace(ctx, j)
	}
	res := e.call(callCtx, a)
	traced(res.Err)
	took := time.Since(start)
	e.untrack(a)

	if a.abandoned() {
		return // Stop released its lease already
	}
	cause := context.Cause(ctx)
	if errors.Is(cause, ErrJobCancelled) || errors.Is(cause, ErrLeaseLost) {
		// The store already moved the job on; nothing to record.
		e.log.Debug("attempt ended after losing its job", slog.String("job_id", j.ID), slog.Any("cause", cause))
		return
	}
	if p := a.takePending(); p != nil {
		// The last report came within the throttle of the one before: it is
		// written now, so that the job ends with the progress its handler
		// last reported.
		if err := a.heartbeat(context.WithoutCancel(ctx), p, nil, 0); err != nil {
			e.log.Debug("writing the last progress report failed", slog.String("job_id", j.ID), slog.Any("error", err))
		}
	}
	item := store.FinishItem{ID: j.ID, LeaseToken: j.LeaseToken}
	now := e.cfg.Now()
	switch {
	case res.Err == nil:
		item.Outcome = store.OutcomeSucceeded
		item.Result = res.Output
	case errors.Is(cause, ErrShutdown):
		item.Outcome = store.OutcomeReleased
	case res.AwaitChildren:
		item.Outcome = store.OutcomeAwaitChildren
	case res.Snooze > 0:
		item.Outcome = store.OutcomeSnoozed
		// A snooze or backoff that would end past store.MaxTime ends just
		// before it: the store refuses a time outside its window.
		item.RetryAt = store.AddCapped(now, res.Snooze)
		if res.Err != nil {
			// Recorded only past the snooze cap, as the failed attempt's error.
			item.Error = &store.AttemptError{Attempt: j.Attempt, At: now, Message: res.Err.Error()}
		}
	case res.Cancel:
		item.Outcome = store.OutcomeCancelled
		item.Error = &store.AttemptError{Attempt: j.Attempt, At: now, Message: res.Err.Error()}
	default:
		msg := res.Err.Error()
		var te *TimeoutError
		if errors.As(cause, &te) && ctx.Err() != nil {
			msg = te.Error() + ": " + msg
		}
		item.Outcome = store.OutcomeFailed
		item.Permanent = res.Permanent
		item.Error = &store.AttemptError{Attempt: j.Attempt, At: now, Message: msg, Stack: res.Stack}
		item.RetryAt = store.AddCapped(now, e.cfg.Backoff(j.Attempt))
	}
	a.took = took
	e.completer.add(item, a)
}

// call runs the work function, turning a panic into a failed attempt that
// carries the stack.
func (e *Engine) call(ctx context.Context, a *Attempt) (res Result) {
	defer func() {
		if r := recover(); r != nil {
			res = Result{Err: &PanicError{Value: r}, Stack: stack()}
		}
	}()
	return e.cfg.Work(ctx, a)
}

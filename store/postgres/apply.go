package postgres

import (
	"slices"
	"time"

	"github.com/gantry-dev/gantry/store"
)

// This file holds what Finish, Cancel, Retry and Rescue do to one job, as
// pure functions on a *store.Job. The SQL around them loads the rows
// (locked), applies these and writes the rows back, so that the rules live
// in Go, in one place, and match the embedded store's.

// rescueMessage is the error recorded for an attempt whose lease expired.
const rescueMessage = "lease expired: the worker stopped reporting"

// leaseHeld reports whether token is the current lease of running job j.
func leaseHeld(j *store.Job, token string) bool {
	return j.State == store.StateRunning && token != "" && j.LeaseToken == token
}

// applyFinish records the outcome of the attempt it.LeaseToken holds. It
// returns store.ErrLeaseLost when that is not j's current lease.
func applyFinish(j *store.Job, it *store.FinishItem, now time.Time) error {
	if !leaseHeld(j, it.LeaseToken) {
		return store.ErrLeaseLost
	}
	switch it.Outcome {
	case store.OutcomeSucceeded:
		j.State = store.StateSucceeded
		j.Result = slices.Clone(it.Result)
		j.FinishedAt = now
	case store.OutcomeFailed:
		e := store.AttemptError{Attempt: j.Attempt, At: now}
		if it.Error != nil {
			e = *it.Error
			e.At = e.At.Truncate(time.Microsecond)
		}
		j.Errors = append(j.Errors, e)
		if it.Permanent || j.Attempt >= j.MaxAttempts {
			j.State = store.StateFailed
			j.FinishedAt = now
		} else {
			j.State = store.StateRetrying
			j.RunAt = retryAt(it.RetryAt, now)
		}
	case store.OutcomeSnoozed:
		j.State = store.StateScheduled
		j.Attempt--
		j.RunAt = retryAt(it.RetryAt, now)
	case store.OutcomeCancelled:
		j.State = store.StateCancelled
		j.FinishedAt = now
		if it.Error != nil {
			j.CancelReason = it.Error.Message
		}
	case store.OutcomeReleased:
		j.State = store.StateAvailable
		j.Attempt--
	default:
		return &store.FieldError{Index: -1, Field: "outcome", Reason: "unknown outcome " + string(it.Outcome)}
	}
	j.LeaseToken, j.LeaseExpiresAt = "", time.Time{}
	return nil
}

func retryAt(at, now time.Time) time.Time {
	if at.IsZero() {
		return now
	}
	return at.Truncate(time.Microsecond).UTC()
}

// applyCancel cancels a non-final job.
func applyCancel(j *store.Job, reason string, now time.Time) error {
	if j.State.Final() {
		return &store.TransitionError{ID: j.ID, From: j.State, To: store.StateCancelled}
	}
	j.State = store.StateCancelled
	j.CancelReason = reason
	j.FinishedAt = now
	j.LeaseToken, j.LeaseExpiresAt = "", time.Time{}
	return nil
}

// depSummary is what Retry needs to know of a job's dependencies.
type depSummary struct {
	pending int    // not succeeded yet
	bad     string // a dependency that failed or was cancelled, if any
	badSt   store.State
}

// applyRetry gives a failed or cancelled job a fresh set of attempts.
func applyRetry(j *store.Job, deps depSummary, now time.Time) error {
	if j.State != store.StateFailed && j.State != store.StateCancelled {
		return &store.TransitionError{ID: j.ID, From: j.State, To: store.StateAvailable}
	}
	if deps.bad != "" {
		return &store.TransitionError{ID: j.ID, From: j.State, To: store.StateAvailable,
			Reason: depReason(deps.bad, deps.badSt)}
	}
	j.State = store.StateAvailable
	if deps.pending > 0 {
		j.State = store.StateWaiting
	}
	j.Attempt = 0
	j.FinishedAt = time.Time{}
	j.CancelReason = ""
	j.LeaseToken, j.LeaseExpiresAt = "", time.Time{}
	return nil
}

// applyRescue ends the expired lease of a running job: a failed attempt.
func applyRescue(j *store.Job, now time.Time, backoff func(int) time.Duration) {
	j.Errors = append(j.Errors, store.AttemptError{Attempt: j.Attempt, At: now, Message: rescueMessage})
	j.LeaseToken, j.LeaseExpiresAt = "", time.Time{}
	if j.Attempt >= j.MaxAttempts {
		j.State = store.StateFailed
		j.FinishedAt = now
		return
	}
	j.State = store.StateRetrying
	var d time.Duration
	if backoff != nil {
		d = backoff(j.Attempt)
	}
	j.RunAt = now.Add(d).Truncate(time.Microsecond)
}

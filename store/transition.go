package store

import (
	"fmt"
	"time"
)

// The functions in this file are the state machine of a job, written once
// for every driver: each takes a job as it is stored and changes it in
// place to what it becomes, or returns an error and leaves it untouched.
// They read no clock and no store; the driver loads the job, calls one of
// them, and writes the job and its indexes back. A driver keeps the
// unique key of a job reserved while the job is not final and releases it
// when the state becomes final.

// The snooze cap: a job is snoozed without spending an attempt at most
// MaxSnoozes times and for at most MaxSnoozeAge from its first snooze;
// past either, a snooze counts as a failed attempt.
const (
	MaxSnoozes   = 100
	MaxSnoozeAge = 24 * time.Hour
)

// snoozeCapped returns why a snooze of j at now counts as a failed
// attempt, or "" while j is within the snooze cap.
func snoozeCapped(j *Job, now time.Time) string {
	switch {
	case j.Snoozes >= MaxSnoozes:
		return fmt.Sprintf("gantry: snoozed %d times, the most a job may be without spending an attempt", j.Snoozes)
	case j.Snoozes > 0 && !j.FirstSnoozedAt.IsZero() && now.Sub(j.FirstSnoozedAt) >= MaxSnoozeAge:
		return fmt.Sprintf("gantry: snoozed since %s, %s ago, the longest a job may be without spending an attempt",
			j.FirstSnoozedAt.UTC().Format(time.RFC3339), now.Sub(j.FirstSnoozedAt).Round(time.Second))
	}
	return ""
}

// LeaseExpiredMessage is the error recorded for an attempt whose lease
// expired before the worker finished it.
const LeaseExpiredMessage = "lease expired"

// CheckLease returns ErrLeaseLost unless j is running under the lease
// token.
func CheckLease(j *Job, token string) error {
	if j.State != StateRunning || token == "" || j.LeaseToken != token {
		return ErrLeaseLost
	}
	return nil
}

// ClaimJob starts the next attempt of an available job: it becomes running
// with a lease that ends at now+leaseFor, held by token.
func ClaimJob(j *Job, token string, leaseFor time.Duration, now time.Time) error {
	if j.State != StateAvailable {
		return &TransitionError{ID: j.ID, From: j.State, To: StateRunning}
	}
	j.State = StateRunning
	j.Attempt++
	j.StartedAt = now
	j.LeaseToken = token
	j.LeaseExpiresAt = now.Add(leaseFor)
	return nil
}

// HeartbeatJob extends the lease of a running job and records its progress
// and checkpoint, keeping those that p leaves nil. It returns ErrLeaseLost
// when p.LeaseToken is not the current lease.
func HeartbeatJob(j *Job, p *HeartbeatParams) error {
	if err := CheckLease(j, p.LeaseToken); err != nil {
		return err
	}
	if p.Progress != nil {
		pr := *p.Progress
		j.Progress = &pr
	}
	if p.Checkpoint != nil {
		j.Checkpoint = p.Checkpoint
	}
	if end := p.Now.Add(p.ExtendBy); p.ExtendBy > 0 && end.After(j.LeaseExpiresAt) {
		j.LeaseExpiresAt = end
	}
	return nil
}

// FinishJob records the outcome of the attempt that it.LeaseToken fences:
//
//   - succeeded: the job succeeds with it.Result;
//   - failed: the error is appended with the attempt's number; the job
//     fails when it.Permanent or its attempts are used up, and is retrying
//     until it.RetryAt (now when zero) otherwise;
//   - snoozed: the job is scheduled at it.RetryAt and the attempt is not
//     spent, at most MaxSnoozes times and until MaxSnoozeAge after the
//     first snooze; past that the snooze counts as a failed attempt (its
//     error says why, followed by it.Error's message when there is one);
//   - cancelled: the job is cancelled, with the error's message as reason;
//   - released: the job is available at once and the attempt is not spent;
//   - await_children: the job is waiting (for the children it spawned) and
//     the attempt is not spent; the driver then settles it (SettleAwait).
//
// It returns ErrLeaseLost for a stale token, a *FieldError naming
// retry_at for a RetryAt outside the window (CheckTime), and an error
// wrapping ErrInvalid for an unknown outcome.
func FinishJob(j *Job, it *FinishItem, now time.Time) error {
	if err := CheckLease(j, it.LeaseToken); err != nil {
		return err
	}
	if !it.RetryAt.IsZero() && (it.Outcome == OutcomeFailed || it.Outcome == OutcomeSnoozed) && !InWindow(it.RetryAt) {
		return &FieldError{Index: -1, Field: "retry_at", Reason: TimeRule}
	}
	switch it.Outcome {
	case OutcomeSucceeded:
		j.State = StateSucceeded
		j.Result = it.Result
		j.FinishedAt = now
	case OutcomeFailed:
		appendError(j, it.Error, now)
		if it.Permanent || j.Attempt >= j.MaxAttempts {
			j.State = StateFailed
			j.FinishedAt = now
		} else {
			j.State = StateRetrying
			j.RunAt = notBefore(it.RetryAt, now)
		}
	case OutcomeSnoozed:
		if msg := snoozeCapped(j, now); msg != "" {
			// Past the cap the snooze is a failed attempt, retried at
			// RetryAt while attempts remain.
			e := AttemptError{Message: msg}
			if it.Error != nil && it.Error.Message != "" {
				e.Message = msg + ": " + it.Error.Message
			}
			appendError(j, &e, now)
			if j.Attempt >= j.MaxAttempts {
				j.State = StateFailed
				j.FinishedAt = now
			} else {
				j.State = StateRetrying
				j.RunAt = notBefore(it.RetryAt, now)
			}
			break
		}
		if j.Snoozes == 0 || j.FirstSnoozedAt.IsZero() {
			j.FirstSnoozedAt = now
		}
		j.Snoozes++
		j.State = StateScheduled
		j.RunAt = notBefore(it.RetryAt, now)
		j.Attempt--
	case OutcomeCancelled:
		if it.Error != nil {
			appendError(j, it.Error, now)
			j.CancelReason = it.Error.Message
		}
		if j.CancelReason == "" {
			j.CancelReason = "cancelled by its handler"
		}
		j.State = StateCancelled
		j.FinishedAt = now
	case OutcomeReleased:
		j.State = StateAvailable
		j.RunAt = now
		j.Attempt--
	case OutcomeAwaitChildren:
		// The store counts what the job waits for and releases it when
		// nothing is pending.
		j.State = StateWaiting
		j.RunAt = now
		j.Attempt--
	default:
		return fmt.Errorf("%w: unknown outcome %q", ErrInvalid, it.Outcome)
	}
	clearLease(j)
	return nil
}

// RescueJob ends the expired lease of a running job: the attempt counts as
// failed with LeaseExpiredMessage, and the job is retrying after
// backoff(attempt) (at the latest just before MaxTime: see AddCapped), or
// failed when its attempts are used up. backoff may be nil for no delay.
func RescueJob(j *Job, now time.Time, backoff func(attempt int) time.Duration) error {
	if j.State != StateRunning {
		return &TransitionError{ID: j.ID, From: j.State, To: StateRetrying, Reason: "only running jobs have a lease"}
	}
	if now.Before(j.LeaseExpiresAt) {
		return &TransitionError{ID: j.ID, From: j.State, To: StateRetrying, Reason: "the lease has not expired"}
	}
	appendError(j, &AttemptError{Message: LeaseExpiredMessage}, now)
	if j.Attempt >= j.MaxAttempts {
		j.State = StateFailed
		j.FinishedAt = now
	} else {
		j.State = StateRetrying
		var d time.Duration
		if backoff != nil {
			d = max(backoff(j.Attempt), 0)
		}
		j.RunAt = AddCapped(now, d)
	}
	clearLease(j)
	return nil
}

// CancelJob cancels a job that is not final, with the given reason. A
// running job loses its lease. A final job gives a *TransitionError.
func CancelJob(j *Job, reason string, now time.Time) error {
	if j.State.Final() {
		return &TransitionError{ID: j.ID, From: j.State, To: StateCancelled}
	}
	if reason == "" {
		reason = "cancelled"
	}
	j.State = StateCancelled
	j.CancelReason = reason
	j.FinishedAt = now
	clearLease(j)
	return nil
}

// CancelForDependency cancels a job that is not final because dependency
// depID ended in depState (failed or cancelled). Final jobs are left as
// they are and reported false.
func CancelForDependency(j *Job, depID string, depState State, now time.Time) bool {
	if j.State.Final() {
		return false
	}
	_ = CancelJob(j, DependencyReason(depID, depState), now)
	return true
}

// DependencyReason is the CancelReason of a job cancelled because its
// dependency depID ended in depState.
func DependencyReason(depID string, depState State) string {
	return fmt.Sprintf("dependency %s %s", depID, depState)
}

// RetryJob moves a failed or cancelled job back to available with a fresh
// set of attempts (Attempt 0, errors kept), or to waiting when some of its
// dependencies, whose states deps lists in any order, still hold it back
// (DependencyPolicy.Pending). A dependency that failed or was cancelled
// (unless the job's policy is DependencyRun), or a job in another state,
// gives a *TransitionError: retry the dependency, which revives its
// dependents. A dependency that no longer exists is passed as
// StateSucceeded: only final jobs are ever deleted.
func RetryJob(j *Job, deps []State, now time.Time) error {
	if j.State != StateFailed && j.State != StateCancelled {
		return &TransitionError{ID: j.ID, From: j.State, To: StateAvailable, Reason: "only failed and cancelled jobs can be retried"}
	}
	to := StateAvailable
	for _, d := range deps {
		switch {
		case !j.IfDependencyFails.runs(d) && d.Final():
			return &TransitionError{ID: j.ID, From: j.State, To: StateAvailable, Reason: "a dependency " + string(d)}
		case j.IfDependencyFails.Pending(d):
			to = StateWaiting
		}
	}
	j.State = to
	j.Attempt = 0
	j.Snoozes = 0
	j.FirstSnoozedAt = time.Time{}
	j.RunAt = now
	j.FinishedAt = time.Time{}
	j.CancelReason = ""
	j.Result = nil
	clearLease(j)
	return nil
}

// PromoteJob makes a scheduled or retrying job whose RunAt has come
// available; it reports false and leaves the job as it is otherwise.
func PromoteJob(j *Job, now time.Time) bool {
	if (j.State != StateScheduled && j.State != StateRetrying) || j.RunAt.After(now) {
		return false
	}
	j.State = StateAvailable
	return true
}

// ReleaseDependent makes a waiting job whose dependencies have all
// succeeded available, or scheduled when its RunAt is still ahead. Jobs
// in other states are left as they are and reported false.
func ReleaseDependent(j *Job, now time.Time) bool {
	if j.State != StateWaiting {
		return false
	}
	if j.RunAt.After(now) {
		j.State = StateScheduled
	} else {
		j.State = StateAvailable
	}
	return true
}

// InitialState is the state of a new job at enqueue: cancelled when a
// dependency already failed or was cancelled (the reason says which),
// waiting while dependencies are pending, scheduled when runAt is after
// now, available otherwise. deps are the states of its dependencies by id.
func InitialState(runAt, now time.Time, depIDs []string, deps []State) (State, string) {
	return InitialStateFor(DependencyCancel, runAt, now, depIDs, deps)
}

// InitialStateFor is InitialState for a job with the given policy: with
// DependencyRun, a dependency that failed or was cancelled does not cancel
// the job, and only dependencies that are not final keep it waiting.
func InitialStateFor(policy DependencyPolicy, runAt, now time.Time, depIDs []string, deps []State) (State, string) {
	waiting := false
	for i, d := range deps {
		switch {
		case d.Final() && !policy.runs(d):
			return StateCancelled, DependencyReason(depIDs[i], d)
		case policy.Pending(d):
			waiting = true
		}
	}
	switch {
	case waiting:
		return StateWaiting, ""
	case runAt.After(now):
		return StateScheduled, ""
	default:
		return StateAvailable, ""
	}
}

func appendError(j *Job, e *AttemptError, now time.Time) {
	ae := AttemptError{Attempt: j.Attempt, At: now}
	if e != nil {
		ae.Message = e.Message
		ae.Stack = e.Stack
		if !e.At.IsZero() {
			ae.At = e.At
		}
	}
	if ae.Message == "" {
		ae.Message = "attempt failed"
	}
	// Never write into a backing array the caller may share.
	j.Errors = append(j.Errors[:len(j.Errors):len(j.Errors)], ae)
}

func clearLease(j *Job) {
	j.LeaseToken = ""
	j.LeaseExpiresAt = time.Time{}
}

func notBefore(t, now time.Time) time.Time {
	if t.IsZero() || t.Before(now) {
		return now
	}
	return t
}

// SettleAwait decides what becomes of a job that finished with
// OutcomeAwaitChildren, from the states of the jobs it waits for (ids
// gives their ids): it stays waiting while some hold it back, is cancelled
// when one failed or was cancelled (unless its policy is DependencyRun),
// and is available otherwise. It returns how many hold it back.
func SettleAwait(j *Job, ids []string, states []State, now time.Time) int {
	st, reason := InitialStateFor(j.IfDependencyFails, now, now, ids, states)
	pending := 0
	for _, s := range states {
		if j.IfDependencyFails.Pending(s) {
			pending++
		}
	}
	switch st {
	case StateCancelled:
		_ = CancelJob(j, reason, now)
	case StateAvailable:
		ReleaseDependent(j, now)
	}
	return pending
}

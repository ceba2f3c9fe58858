package gantry

import (
	"errors"
	"fmt"
	"time"

	"github.com/gantry-dev/gantry/store"
)

// Errors that callers branch on with errors.Is.
var (
	// ErrNotFound: no job with that id.
	ErrNotFound = store.ErrNotFound
	// ErrConflict: the job's state does not allow the change (cancelling a
	// finished job, retrying a running one).
	ErrConflict = store.ErrConflict
	// ErrInvalid: the job is not acceptable; errors.As with *FieldError
	// names the field.
	ErrInvalid = store.ErrInvalid
	// ErrLeaseLost: a lease token is not the current one of a running job.
	ErrLeaseLost = store.ErrLeaseLost
	// ErrStopped: the client was stopped.
	ErrStopped = errors.New("gantry: client stopped")
)

// FieldError names the field of a job that is not acceptable.
type FieldError = store.FieldError

// Permanent wraps err so that the job fails now, without further attempts.
// Use it for errors that retrying cannot fix, such as bad input.
func Permanent(err error) error {
	if err == nil {
		err = errors.New("permanent failure")
	}
	return &PermanentError{Err: err}
}

// PermanentError is the error Permanent returns.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }

// Unwrap returns the wrapped error.
func (e *PermanentError) Unwrap() error { return e.Err }

// Snooze returns an error that makes the job run again after d, without
// spending an attempt: for work that is not ready yet.
func Snooze(d time.Duration) error {
	if d <= 0 {
		d = time.Millisecond
	}
	return &SnoozeError{After: d}
}

// SnoozeError is the error Snooze returns.
type SnoozeError struct{ After time.Duration }

func (e *SnoozeError) Error() string { return fmt.Sprintf("snoozed for %v", e.After) }

// Cancel wraps err so that the job is cancelled: it ends in the cancelled
// state, and jobs that depend on it are cancelled too.
func Cancel(err error) error {
	if err == nil {
		err = errors.New("cancelled by its handler")
	}
	return &CancelError{Err: err}
}

// CancelError is the error Cancel returns.
type CancelError struct{ Err error }

func (e *CancelError) Error() string { return e.Err.Error() }

// Unwrap returns the wrapped error.
func (e *CancelError) Unwrap() error { return e.Err }

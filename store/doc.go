// Package store defines the seam between Gantry and the durable stores that
// hold its jobs: the Job record every store keeps, the Driver interface every
// store implements, and the errors callers branch on.
//
// Drivers live in their own packages (store/embedded, the default, and
// store/postgres) and all pass the conformance suite in store/storetest.
//
// # Using a store
//
// Callers hold a Driver and test its errors with errors.Is: ErrNotFound,
// ErrLeaseLost, ErrConflict (and *TransitionError, *IdempotencyError),
// ErrInvalid (and *FieldError), ErrClosed, and ErrUnavailable for a store
// that cannot serve now and may later. Optional capabilities, Notifier and
// Elector, are found with As, which looks through wrappers; each has a
// fallback (polling, and leading alone) when a store lacks it.
//
// # Writing a driver
//
// A driver implements Driver and passes storetest.Run. These functions are
// there for driver authors, so that every driver keeps the same rules:
//
//   - ValidateNew checks each job given to Enqueue; NewID gives it its id.
//   - The state machine, in one function per change, which reads no clock
//     and no store: InitialState at enqueue, ClaimJob (with a token from
//     NewLeaseToken), HeartbeatJob, FinishJob, RescueJob, CancelJob,
//     CancelForDependency, RetryJob, PromoteJob and ReleaseDependent; and
//     CheckLease, DependencyReason and LeaseExpiredMessage for a driver
//     that makes the same change in its own query language.
//   - Errors: a driver wraps ErrUnavailable with the cause when its backend
//     cannot serve (a lost connection, a store that must be reopened), and
//     returns ErrClosed after Close.
//   - A driver that wraps another gives it back with a method
//     Unwrap() Driver, so that As finds the capabilities of the wrapped
//     store without the wrapper implementing them.
package store

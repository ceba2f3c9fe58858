package store

import (
	"time"
)

// The window of times a store keeps. Every time a job records (run_at, a
// lease's end, a retry's time, an idempotency key's expiry) lies strictly
// between MinTime and MaxTime. Drivers refuse a time outside it rather
// than store it: the embedded store keys times by Unix nanoseconds, which
// wrap outside 1678-2262, and no job needs a time outside the window.
// Inside it, a time before now still means "now".
var (
	MinTime = time.Date(1970, time.January, 1, 0, 0, 0, 0, time.UTC)
	MaxTime = time.Date(2200, time.January, 1, 0, 0, 0, 0, time.UTC)
)

// TimeRule says what CheckTime accepts, in the words every error about a
// time uses.
const TimeRule = "must be between 1970-01-01T00:00:00Z and 2200-01-01T00:00:00Z"

// The window in Unix seconds, so that a check is two integer compares.
var (
	minUnix = MinTime.Unix()
	maxUnix = MaxTime.Unix()
)

// InWindow reports whether t lies strictly between MinTime and MaxTime.
func InWindow(t time.Time) bool {
	u := t.Unix()
	// The epoch itself is excluded: the embedded store encodes the zero
	// time as 0, and a time of exactly 0 would read back as zero.
	return (u > minUnix || (u == minUnix && t.Nanosecond() > 0)) && u < maxUnix
}

// CheckTime returns a *FieldError naming field unless t lies in the window
// (InWindow), and nil when it does.
func CheckTime(field string, t time.Time) error {
	if InWindow(t) {
		return nil
	}
	return &FieldError{Index: -1, Field: field, Reason: TimeRule}
}

// CheckAfter returns a *FieldError naming field unless now+d lies in the
// window. It compares d with the time left before MaxTime and never
// computes a sum that could overflow, so no duration, however large, wraps
// around.
func CheckAfter(field string, now time.Time, d time.Duration) error {
	if InWindow(now) && d < MaxTime.Sub(now) && (d >= 0 || InWindow(now.Add(d))) {
		return nil
	}
	return &FieldError{Index: -1, Field: field, Reason: "now + " + field + " " + TimeRule}
}

// AddCapped returns now+d, or MaxTime less a second when that is later:
// for times Gantry computes from its own configuration (a handler's
// snooze, a backoff), which are better late than refused.
func AddCapped(now time.Time, d time.Duration) time.Time {
	end := MaxTime.Add(-time.Second)
	if d >= end.Sub(now) {
		return end
	}
	return now.Add(d)
}

// CheckLeaseFor returns a *FieldError naming LeaseFor unless a lease taken at
// now for d is positive and ends in the window. Drivers check
// ClaimParams.LeaseFor with it.
func CheckLeaseFor(now time.Time, d time.Duration) error {
	if d <= 0 {
		return &FieldError{Index: -1, Field: "LeaseFor", Reason: "must be positive"}
	}
	return CheckAfter("LeaseFor", now, d)
}

// CheckIdempotencyExpires returns a *FieldError naming
// IdempotencyExpires when p records an idempotency key whose expiry lies
// outside the window. Drivers call it in Enqueue.
func CheckIdempotencyExpires(p *EnqueueParams) error {
	if p.IdempotencyKey == "" || p.IdempotencyExpires.IsZero() {
		return nil
	}
	return CheckTime("IdempotencyExpires", p.IdempotencyExpires)
}

// Package chaos is Gantry's chaos loop: HTTP clients enqueue jobs (one at
// a time, in batches and as workflows), external workers lease, heartbeat, complete and
// fail them, while a supervisor SIGKILLs `gantry serve` at random moments
// (and, on PostgreSQL, restarts the database in immediate mode). Every
// request and its answer is appended to a history, one JSON object a line
// (see Event and docs/reliability.md), and Check reads a history offline
// and says whether it breaks one of Gantry's promises: an acknowledged job
// is never lost, no outcome is applied from a stale lease, no job succeeds
// that no worker completed, and work done twice stays within what the
// faults explain.
//
// The short version runs in `go test` (and so in `make test`); `make
// chaos` runs the full one (50,000 jobs, at least 20 kills on each store).
package chaos

// Package push delivers jobs to HTTP targets named in the configuration:
// each job of a target's kind (or queue) is leased in this process and
// POSTed as the job resource a leased worker sees, signed with the
// target's secrets, and the answer ends the attempt (see docs/workers.md
// for the contract a target follows).
//
// How many requests a target has in flight on this node adapts between
// its configured minimum and maximum (Limiter: additive increase while
// latency stays near its baseline, multiplicative decrease on overload,
// docs/decisions/0012-push-adaptive-concurrency.md), and a target's rate is
// a token bucket of this node (internal/ratelimit).
//
// Targets come only from configuration; nothing in a job or a request
// names a URL, and redirects are never followed.
package push

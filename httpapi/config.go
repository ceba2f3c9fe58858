package httpapi

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gantry-dev/gantry"
	"github.com/gantry-dev/gantry/blob"
	"github.com/gantry-dev/gantry/store"
)

// Defaults and bounds of Config and of the requests the server accepts.
const (
	// DefaultMaxJSONBody is the default of Config.MaxJSONBody: 1 MiB.
	DefaultMaxJSONBody = 1 << 20
	// DefaultMaxBlobBody is the default of Config.MaxBlobBody: 5 GiB.
	DefaultMaxBlobBody = 5 << 30
	// DefaultIdempotencyTTL is the default of Config.IdempotencyTTL.
	DefaultIdempotencyTTL = gantry.DefaultIdempotencyTTL
	// DefaultUploadIdleTimeout is the default of Config.UploadIdleTimeout.
	DefaultUploadIdleTimeout = 30 * time.Second
	// DefaultAdmissionRefresh is the default of Config.AdmissionRefresh.
	DefaultAdmissionRefresh = 200 * time.Millisecond

	// MaxWait bounds the wait of a long-poll (GET /v1/jobs/{id}?wait=) and
	// of a lease request; longer waits are shortened to it.
	MaxWait = 60 * time.Second
	// MaxJSONDepth is how deeply arrays and objects may nest in a request
	// body, args included.
	MaxJSONDepth = 64
	// MaxBatchJobs is the most jobs one batch request may carry.
	MaxBatchJobs = 10000
	// KeepAliveInterval is how often an event stream without events sends
	// a comment, so that proxies keep the connection open.
	KeepAliveInterval = 15 * time.Second
	// DrainRetryAfter is the Retry-After of requests refused while the
	// server drains.
	DrainRetryAfter = 5 * time.Second
	// StreamRetryAfter is the Retry-After of long-lived requests refused
	// because MaxStreams (or MaxStreamsPerToken) is reached.
	StreamRetryAfter = 5 * time.Second
	// UnavailableRetryAfter is the Retry-After of requests that failed
	// because the store is unreachable.
	UnavailableRetryAfter = 2 * time.Second
)

// Scope is a permission a token grants.
type Scope string

// The scopes. Each route needs one; ScopeAdmin grants them all.
const (
	// ScopeEnqueue: POST /v1/jobs and POST /v1/jobs/batch.
	ScopeEnqueue Scope = "enqueue"
	// ScopeRead: GET of jobs, their events and blobs, and queues.
	ScopeRead Scope = "read"
	// ScopeWork: the external-worker protocol (lease, heartbeat, complete,
	// fail).
	ScopeWork Scope = "work"
	// ScopeAdmin: cancel, retry, pause and resume, and everything else.
	ScopeAdmin Scope = "admin"
)

// Token is a bearer token and what it may do.
type Token struct {
	// Value is the secret a client sends as "Authorization: Bearer Value".
	Value string
	// Scopes are the permissions it grants; at least one.
	Scopes []Scope
}

// Config configures a Server. Only Client is required.
type Config struct {
	// Client is the Gantry client the server acts through. Required.
	Client *gantry.Client

	// Metrics, when set, is served at GET /metrics (and HEAD), without a
	// token, with Cache-Control: no-store and X-Content-Type-Options:
	// nosniff; other methods there are 405 problems like the API's. Nil:
	// no /metrics.
	Metrics http.Handler

	// Blobs keeps the binary payloads of jobs enqueued with a non-JSON
	// body. Nil: such requests are refused with 415 and a problem saying
	// that this server has no blob store.
	Blobs blob.Store

	// Tokens are the accepted bearer tokens. Empty: no authentication;
	// every request may do everything. Tokens are compared in constant
	// time.
	Tokens []Token

	// MaxPending is the admission limit of every queue: the most non-final
	// jobs (available, scheduled, waiting, running, retrying) a queue may
	// hold before enqueues into it are refused with 429. Zero: no limit.
	MaxPending int
	// MaxPendingPerQueue overrides MaxPending for the named queues; zero
	// means no limit for that queue.
	MaxPendingPerQueue map[string]int
	// AdmissionRefresh is how long the queue counts that admission control
	// relies on may be reused before they are read from the store again.
	// Jobs this server admits in between are counted as they go. Default
	// DefaultAdmissionRefresh.
	AdmissionRefresh time.Duration

	// MaxJSONBody limits JSON request bodies, in bytes. Default
	// DefaultMaxJSONBody.
	MaxJSONBody int64
	// MaxBlobBody limits binary payloads, in bytes. Default
	// DefaultMaxBlobBody.
	MaxBlobBody int64
	// MaxWorkflowBody limits the body of POST /v1/workflows, in bytes.
	// Default DefaultMaxWorkflowBody.
	MaxWorkflowBody int64
	// MaxWorkflowJobs bounds the jobs of one workflow. Default
	// DefaultMaxWorkflowJobs.
	MaxWorkflowJobs int
	// UploadIdleTimeout is how long a binary upload may go without
	// receiving a byte before it is answered 408 body_incomplete: each read
	// of the body extends the deadline, so a slow upload that keeps
	// progressing takes as long as it needs. Default
	// DefaultUploadIdleTimeout; negative: none.
	UploadIdleTimeout time.Duration

	// MaxStreams bounds the long-lived requests served at once: event
	// streams, long-polls (GET /v1/jobs/{id}?wait=), lease requests that
	// wait and binary uploads. Beyond it such a request is answered 503
	// server_busy with Retry-After (StreamRetryAfter); short requests are
	// never refused by it. Zero: no limit.
	MaxStreams int
	// MaxStreamsPerToken bounds the long-lived requests of one bearer
	// token (of one client address when the server has no tokens). Zero:
	// no limit.
	MaxStreamsPerToken int

	// IdempotencyTTL is how long an Idempotency-Key is remembered. Default
	// DefaultIdempotencyTTL.
	IdempotencyTTL time.Duration

	// TrustedOrigins are browser origins (e.g. "https://ops.example.com")
	// allowed to send state-changing requests from another site. Others are
	// refused with 403: cross-site request forgery protection, which
	// matters most when no tokens are configured. Requests without browser
	// headers (curl, programs) are not affected.
	TrustedOrigins []string

	// DeclaredKinds, when not empty, are the only kinds that may be
	// enqueued (together with the client's registered kinds when
	// StrictKinds is set); others are refused with 422 unknown_kind.
	DeclaredKinds []string
	// StrictKinds refuses kinds that have no handler in the client's
	// registry and are not in DeclaredKinds. It has no effect while the
	// client has no handlers and DeclaredKinds is empty.
	StrictKinds bool

	// Logger receives the server's logs: internal errors with their causes.
	// Default: none.
	Logger *slog.Logger
	// Observe, when set, is called after each request with its route
	// pattern (e.g. "GET /v1/jobs/{id}", or "/" when no route matched), its
	// status and how long it took. It must not block.
	Observe func(route string, status int, took time.Duration)
	// OnReject, when set, is called with the problem code of each request
	// answered with a problem (e.g. "queue_full", "draining",
	// "unauthorized"). It must not block.
	OnReject func(reason string)
	// Now returns the current time. Default time.Now.
	Now func() time.Time
}

func (c *Config) withDefaults() Config {
	cfg := *c
	if cfg.AdmissionRefresh == 0 {
		cfg.AdmissionRefresh = DefaultAdmissionRefresh
	}
	if cfg.MaxWorkflowBody == 0 {
		cfg.MaxWorkflowBody = DefaultMaxWorkflowBody
	}
	if cfg.MaxWorkflowJobs == 0 {
		cfg.MaxWorkflowJobs = DefaultMaxWorkflowJobs
	}
	if cfg.MaxJSONBody == 0 {
		cfg.MaxJSONBody = DefaultMaxJSONBody
	}
	if cfg.MaxBlobBody == 0 {
		cfg.MaxBlobBody = DefaultMaxBlobBody
	}
	if cfg.UploadIdleTimeout == 0 {
		cfg.UploadIdleTimeout = DefaultUploadIdleTimeout
	}
	if cfg.IdempotencyTTL == 0 {
		cfg.IdempotencyTTL = DefaultIdempotencyTTL
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.MaxPendingPerQueue = maps.Clone(cfg.MaxPendingPerQueue)
	cfg.DeclaredKinds = slices.Clone(cfg.DeclaredKinds)
	cfg.Tokens = slices.Clone(cfg.Tokens)
	cfg.TrustedOrigins = slices.Clone(cfg.TrustedOrigins)
	return cfg
}

func (c *Config) validate() error {
	switch {
	case c.Client == nil:
		return errors.New("httpapi: Config.Client is required")
	case c.MaxPending < 0:
		return fmt.Errorf("httpapi: MaxPending %d is negative", c.MaxPending)
	case c.AdmissionRefresh < 0:
		return fmt.Errorf("httpapi: AdmissionRefresh %v is negative", c.AdmissionRefresh)
	case c.MaxWorkflowBody < 0:
		return fmt.Errorf("httpapi: MaxWorkflowBody %d is negative", c.MaxWorkflowBody)
	case c.MaxWorkflowJobs < 0:
		return fmt.Errorf("httpapi: MaxWorkflowJobs %d is negative", c.MaxWorkflowJobs)
	case c.MaxJSONBody < 0:
		return fmt.Errorf("httpapi: MaxJSONBody %d is negative", c.MaxJSONBody)
	case c.MaxBlobBody < 0:
		return fmt.Errorf("httpapi: MaxBlobBody %d is negative", c.MaxBlobBody)
	case c.MaxStreams < 0:
		return fmt.Errorf("httpapi: MaxStreams %d is negative", c.MaxStreams)
	case c.MaxStreamsPerToken < 0:
		return fmt.Errorf("httpapi: MaxStreamsPerToken %d is negative", c.MaxStreamsPerToken)
	case c.IdempotencyTTL < 0:
		return fmt.Errorf("httpapi: IdempotencyTTL %v is negative", c.IdempotencyTTL)
	}
	for q, n := range c.MaxPendingPerQueue {
		if !store.ValidName(q) {
			return fmt.Errorf("httpapi: MaxPendingPerQueue: queue name %q is not valid", q)
		}
		if n < 0 {
			return fmt.Errorf("httpapi: MaxPendingPerQueue[%q] = %d is negative", q, n)
		}
	}
	for _, k := range c.DeclaredKinds {
		if !store.ValidName(k) {
			return fmt.Errorf("httpapi: DeclaredKinds: kind %q is not valid", k)
		}
	}
	for i, t := range c.Tokens {
		if t.Value == "" || strings.ContainsAny(t.Value, " \t\r\n") {
			return fmt.Errorf("httpapi: Tokens[%d]: the value must be non-empty and without spaces", i)
		}
		if len(t.Scopes) == 0 {
			return fmt.Errorf("httpapi: Tokens[%d] has no scopes", i)
		}
		for _, s := range t.Scopes {
			switch s {
			case ScopeEnqueue, ScopeRead, ScopeWork, ScopeAdmin:
			default:
				return fmt.Errorf("httpapi: Tokens[%d]: unknown scope %q", i, s)
			}
		}
	}
	return nil
}

// limitFor returns the admission limit of queue, 0 for none.
func (c *Config) limitFor(queue string) int {
	if n, ok := c.MaxPendingPerQueue[queue]; ok {
		return n
	}
	return c.MaxPending
}

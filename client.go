package gantry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/gantry-dev/gantry/internal/cron"
	"github.com/gantry-dev/gantry/internal/engine"
	"github.com/gantry-dev/gantry/internal/tracing"
	"github.com/gantry-dev/gantry/store"
)

// Defaults of Config and EnqueueOpts. They are the engine's own constants,
// so that the library and `gantry serve` cannot disagree.
const (
	DefaultQueue               = "default"
	DefaultWorkers             = engine.DefaultWorkers
	DefaultMaxAttempts         = engine.DefaultMaxAttempts
	DefaultLeaseFor            = engine.DefaultLeaseFor
	DefaultTimeout             = engine.DefaultTimeout
	DefaultRetention           = engine.DefaultRetention
	DefaultPollInterval        = engine.DefaultPollInterval
	DefaultMaintenanceInterval = engine.DefaultMaintenanceInterval
	DefaultStopGrace           = engine.DefaultStopGrace
)

// MaxWorkers is the most workers one queue may have in one client.
const MaxWorkers = engine.MaxWorkers

// Config configures a Client. The zero value is valid: it runs the handlers
// of no registry (an insert-only client) and otherwise uses the defaults.
type Config struct {
	// Registry holds the handlers this client runs. Nil: none.
	Registry *Registry
	// Queues configures the queues this client works. Default: the
	// "default" queue with DefaultWorkers workers.
	Queues map[string]QueueConfig
	// Limits sets queues' stored limits, by queue name, at Start (see
	// Limits and Client.SetLimits), whether this client works the queue
	// or not: the last client to start wins, and a queue whose stored
	// limits differ logs a warning naming the difference. A queue not
	// listed keeps its stored limits.
	Limits map[string]Limits
	// MaxAttempts is the attempts a job gets when it sets none, 1 to
	// store.MaxMaxAttempts. Default DefaultMaxAttempts.
	MaxAttempts int
	// Timeout limits an attempt of a job that sets none. Default
	// DefaultTimeout.
	Timeout time.Duration
	// LeaseFor is how long a claimed job stays leased without a heartbeat;
	// after it, the job is retried elsewhere. Running jobs are heartbeated
	// automatically. Default DefaultLeaseFor.
	LeaseFor time.Duration
	// Backoff is the delay before retrying after the attempt'th failed
	// attempt. Default: exponential from 1s to 1h with full jitter.
	Backoff func(attempt int) time.Duration
	// Retention is how long finished jobs are kept. Default
	// DefaultRetention; negative keeps them forever.
	Retention time.Duration
	// PollInterval is how often idle workers look for jobs when the store
	// sends no wake-ups. Default DefaultPollInterval.
	PollInterval time.Duration
	// MaintenanceInterval is how often expired leases are rescued and due
	// jobs promoted. Default DefaultMaintenanceInterval.
	MaintenanceInterval time.Duration
	// StopGrace is how long Stop waits for handlers to return after its
	// deadline cancelled them. Default DefaultStopGrace.
	StopGrace time.Duration
	// Periodic jobs are enqueued once per tick of their schedule.
	Periodic []PeriodicJob
	// DisableMaintenance leaves rescues, promotion, retention and periodic
	// jobs to other processes on the same store.
	DisableMaintenance bool
	// Logger receives the client's logs. Default: none.
	Logger *slog.Logger
	// OnPrune is called with the blob keys of the jobs that retention
	// deleted, so that their payloads are deleted too.
	OnPrune func(ctx context.Context, blobKeys []string)
	// Hooks receive events for metrics. Optional.
	Hooks Hooks
	// TracerProvider receives the client's OpenTelemetry spans (store
	// calls, enqueues, attempts; docs/observability.md). Default: the
	// global provider, otel.GetTracerProvider(), which drops them unless
	// the program installs an SDK. The client never installs an exporter.
	TracerProvider trace.TracerProvider
	// Test holds settings for tests only; the zero value is what programs
	// use.
	Test TestConfig
}

// TestConfig holds the settings of a Config that only tests need.
type TestConfig struct {
	// Clock, when set, is the client's only source of the current time:
	// every time it records (enqueue, run_at from a delay, lease expiry,
	// retry times, rescues) comes from it, so a test can move time by
	// hand, forward or back. Timers and polling still run on real time.
	// gantrytest.Clock is one. Default: the system clock.
	Clock Clock
}

// Clock tells the time; see TestConfig.
type Clock interface {
	Now() time.Time
}

// Hooks are optional callbacks for metrics and logs. They run on the
// client's goroutines and must not block.
type Hooks struct {
	// Started is called when an attempt starts: in one of the client's
	// workers, or leased to an external worker (Workers.Lease).
	Started func(j *Job)
	// Finished is called when an attempt's outcome is recorded, with the
	// job as recorded and the attempt's run time: by the client's workers,
	// or reported by an external worker (Workers.Complete, Workers.Fail).
	// Refused reports (a stale lease) are not outcomes.
	Finished func(j *Job, took time.Duration)
	// RateWaited is called when a claim of queue (by the client's workers,
	// or Workers.Lease) got fewer jobs than it asked for because the
	// queue's rate limits (Limits.Rate, Limits.PerKeyRate) held them back
	// for wait, until the next token.
	RateWaited func(queue string, wait time.Duration)
}

// QueueConfig configures one queue.
type QueueConfig struct {
	// Workers is how many jobs of the queue run at once in this client, 1
	// to MaxWorkers. Default DefaultWorkers.
	Workers int
}

// PeriodicJob is a job enqueued once per tick of a cron schedule.
type PeriodicJob struct {
	// Name identifies the periodic job across restarts and nodes.
	Name string
	// Schedule is a cron expression ("*/5 * * * *"), a descriptor
	// ("@hourly") or "@every 10m". Ticks are in UTC unless the schedule
	// starts with CRON_TZ=Area/City.
	Schedule string
	// Args are the job's args.
	Args Args
	// Opts are the job's options; RunAt, Delay and UniqueKey are set per
	// tick.
	Opts *EnqueueOpts
}

// engineConfig is cfg as the engine takes it, with every default applied
// (engine.Config.WithDefaults is the one place that knows them) and every
// setting checked. The engine owns the settings it shares with Config; this
// is the one place that hands them over.
func (c *Config) engineConfig(st store.Driver) (engine.Config, error) {
	reg := c.Registry
	if reg == nil {
		reg = NewRegistry()
	}
	ec := engine.Config{
		Store:               st,
		Work:                reg.work,
		Kinds:               reg.Kinds(),
		Queues:              make(map[string]int, len(c.Queues)),
		MaxAttempts:         c.MaxAttempts,
		LeaseFor:            c.LeaseFor,
		Timeout:             c.Timeout,
		Backoff:             c.Backoff,
		PollInterval:        c.PollInterval,
		MaintenanceInterval: c.MaintenanceInterval,
		Retention:           c.Retention,
		OnPrune:             c.OnPrune,
		StopGrace:           c.StopGrace,
		DisableMaintenance:  c.DisableMaintenance,
		Logger:              c.Logger,
		Hooks:               engine.Hooks(c.Hooks),
	}
	if c.Test.Clock != nil {
		ec.Now = c.Test.Clock.Now
	}
	for name, q := range c.Queues {
		ec.Queues[name] = q.Workers
	}
	ec = ec.WithDefaults()
	if err := ec.Validate(); err != nil {
		return ec, fmt.Errorf("gantry: %w", err)
	}
	return ec, nil
}

// Client enqueues jobs into a store and, once started, runs the jobs its
// registry has handlers for. It is safe for concurrent use.
type Client struct {
	cfg     engine.Config // fully defaulted
	store   store.Driver
	engine  *engine.Engine
	hub     *hub
	workers Workers
	// limits are the Limits of Config.Queues, applied at Start.
	limits map[string]Limits
}

// NewClient returns a client on st. It checks cfg but does not touch the
// store: Start does.
func NewClient(st store.Driver, cfg *Config) (*Client, error) {
	if st == nil {
		return nil, errors.New("gantry: NewClient needs a store")
	}
	if cfg == nil {
		cfg = &Config{}
	}
	// Every store call gets a span; the enqueue span's context is kept
	// with each new job, and its attempts run as its children.
	st = tracing.Store(st, cfg.TracerProvider)
	ec, err := cfg.engineConfig(st)
	if err != nil {
		return nil, err
	}
	tr := tracing.Tracer(cfg.TracerProvider)
	ec.Trace = func(ctx context.Context, j *store.Job) (context.Context, func(error)) {
		return tracing.Attempt(ctx, tr, j)
	}
	c := &Client{cfg: ec, store: st, limits: map[string]Limits{}}
	for name, l := range cfg.Limits {
		if err := store.CheckName("Queue", name); err != nil {
			return nil, fmt.Errorf("gantry: Limits: %w", err)
		}
		if err := l.Validate(); err != nil {
			return nil, fmt.Errorf("gantry: Limits[%s]: %w", name, err)
		}
		c.limits[name] = l
	}
	c.cfg.Owner = c
	c.workers.c = c
	if c.cfg.Periodic, err = c.periodic(cfg.Periodic); err != nil {
		return nil, err
	}
	if c.engine, err = engine.New(c.cfg); err != nil {
		return nil, fmt.Errorf("gantry: %w", err)
	}
	c.hub = newHub(st, c.cfg.Now)
	return c, nil
}

func (c *Client) periodic(jobs []PeriodicJob) ([]engine.Periodic, error) {
	out := make([]engine.Periodic, 0, len(jobs))
	for i, p := range jobs {
		if err := store.CheckName("Name", p.Name); err != nil {
			return nil, fmt.Errorf("gantry: periodic job %d: %w", i, err)
		}
		sched, err := cron.Parse(p.Schedule)
		if err != nil {
			return nil, fmt.Errorf("gantry: periodic job %q: %w", p.Name, err)
		}
		if p.Args == nil {
			return nil, fmt.Errorf("gantry: periodic job %q has no args", p.Name)
		}
		opts := EnqueueOpts{}
		if p.Opts != nil {
			opts = *p.Opts
		}
		opts.RunAt, opts.Delay, opts.UniqueKey = time.Time{}, 0, ""
		spec, err := Spec(p.Args, &opts)
		if err != nil {
			return nil, fmt.Errorf("gantry: periodic job %q: %w", p.Name, err)
		}
		nj, err := c.newJob(spec, c.cfg.Now())
		if err == nil {
			err = store.ValidateNew(nj)
		}
		if err != nil {
			return nil, fmt.Errorf("gantry: periodic job %q: %w", p.Name, err)
		}
		out = append(out, engine.Periodic{Name: p.Name, Next: sched.Next, Job: *nj})
	}
	return out, nil
}

// Start checks that the store answers, records the Config.Limits (the last client to start wins), then starts working
// the configured queues. The client works until Stop, whatever happens to
// ctx.
func (c *Client) Start(ctx context.Context) error {
	if err := c.applyLimits(ctx); err != nil {
		return err
	}
	return c.engine.Start(ctx)
}

// Stop stops claiming jobs and waits for running ones to finish. If ctx
// ends first, running handlers are cancelled (context.Cause of their ctx is
// an error saying the client is shutting down) and their jobs released, so
// that they run again at once on the next start. Stop returns ctx's error
// in that case. Watches end too. Stop does not close the store.
func (c *Client) Stop(ctx context.Context) error {
	err := c.engine.Stop(ctx)
	c.hub.close()
	return err
}

// EnqueueOpts are the options of one job. The zero value means: queue
// "default", priority 5, run now, the client's MaxAttempts and Timeout. A
// zero field always means its default (Priority 0 is DefaultPriority,
// MaxAttempts 0 the client's MaxAttempts); the HTTP API, where a client can
// send a zero, refuses one instead.
type EnqueueOpts struct {
	// Queue is the job's queue. Default DefaultQueue.
	Queue string
	// Priority orders available jobs of a queue, 1 first to 9 last.
	// Default DefaultPriority.
	Priority int
	// RunAt is the earliest time the job runs; a time already past means
	// now. Do not set with Delay. RunAt, and now+Delay, must lie between
	// store.MinTime (1970) and store.MaxTime (2200).
	RunAt time.Time
	// Delay runs the job this long after it is enqueued.
	Delay time.Duration
	// MaxAttempts is how many attempts the job gets.
	MaxAttempts int
	// Timeout limits each attempt.
	Timeout time.Duration
	// UniqueKey allows at most one non-final job with this key: enqueueing
	// another returns the existing one, marked Duplicate.
	UniqueKey string
	// DependsOn lists jobs that must succeed before this one runs. If one
	// fails or is cancelled, this job is cancelled.
	DependsOn []string
	// ParentID is the job this one is a child of: a link that does not
	// make the parent wait (in a Workflow, Children do).
	ParentID string
	// IfDependencyFails says what becomes of the job when a dependency
	// fails or is cancelled: DependencyCancel (the default) or
	// DependencyRun (it runs once every dependency is final, and reads
	// their outcomes in Task.Dependencies).
	IfDependencyFails DependencyPolicy
	// Blob is the job's binary payload, already in the blob store.
	Blob *Blob
}

// JobSpec is a job to enqueue with untyped args, for batches and for
// programs that receive jobs as JSON.
type JobSpec struct {
	// Kind names the handler.
	Kind string
	// Args is a JSON object; empty means {}.
	Args json.RawMessage
	// Opts may be nil.
	Opts *EnqueueOpts
}

// Spec encodes typed args into a JobSpec.
func Spec(args Args, opts *EnqueueOpts) (JobSpec, error) {
	if args == nil {
		return JobSpec{}, &FieldError{Index: -1, Field: "Args", Reason: "must not be nil"}
	}
	b, err := json.Marshal(args)
	if err != nil {
		return JobSpec{}, fmt.Errorf("gantry: encoding args of kind %s: %w", args.Kind(), err)
	}
	return JobSpec{Kind: args.Kind(), Args: b, Opts: opts}, nil
}

// Enqueue records one job durably and returns it. A job with the UniqueKey
// of a non-final job is not created: the existing job is returned with
// Duplicate set.
func (c *Client) Enqueue(ctx context.Context, args Args, opts *EnqueueOpts) (*Enqueued, error) {
	spec, err := Spec(args, opts)
	if err != nil {
		return nil, err
	}
	res, err := c.EnqueueBatch(ctx, []JobSpec{spec}, nil)
	if err != nil {
		var fe *FieldError
		if errors.As(err, &fe) {
			fe.Index = -1
		}
		return nil, err
	}
	return &res.Jobs[0], nil
}

// DefaultIdempotencyTTL is how long an idempotency key is remembered.
const DefaultIdempotencyTTL = 24 * time.Hour

// BatchOpts are options of a whole EnqueueBatch call.
type BatchOpts struct {
	// IdempotencyKey makes the call idempotent: a repeat with the same key
	// and RequestHash within KeepFor creates nothing and returns the jobs
	// of the first call; a repeat with another RequestHash fails with an
	// error wrapping ErrConflict.
	IdempotencyKey string
	// RequestHash identifies the request, e.g. the SHA-256 of its body.
	RequestHash string
	// KeepFor is how long the key is remembered. Default
	// DefaultIdempotencyTTL.
	KeepFor time.Duration
}

// BatchResult is the outcome of EnqueueBatch.
type BatchResult struct {
	Jobs []Enqueued
	// Replayed is true when the idempotency key had been used before.
	Replayed bool
}

// EnqueueBatch records jobs durably in one commit, all or none. On an
// invalid job it returns an error wrapping a *FieldError whose Index is the
// job's position. opts may be nil.
func (c *Client) EnqueueBatch(ctx context.Context, specs []JobSpec, opts *BatchOpts) (*BatchResult, error) {
	if len(specs) == 0 {
		return &BatchResult{}, nil
	}
	now := c.cfg.Now()
	jobs := make([]*store.NewJob, len(specs))
	for i, s := range specs {
		nj, err := c.newJob(s, now)
		if err != nil {
			var fe *FieldError
			if errors.As(err, &fe) {
				fe.Index = i
			}
			return nil, err
		}
		jobs[i] = nj
	}
	p := &store.EnqueueParams{Jobs: jobs, Now: now}
	if opts != nil && opts.IdempotencyKey != "" {
		keep := opts.KeepFor
		if keep <= 0 {
			keep = DefaultIdempotencyTTL
		}
		p.IdempotencyKey = opts.IdempotencyKey
		p.IdempotencyHash = opts.RequestHash
		if err := store.CheckAfter("KeepFor", now, keep); err != nil {
			return nil, err
		}
		p.IdempotencyExpires = now.Add(keep)
	}
	res, err := c.store.Enqueue(ctx, p)
	if err != nil {
		return nil, err
	}
	return &BatchResult{Jobs: res.Jobs, Replayed: res.Replayed}, nil
}

// newJob applies defaults to a spec.
func (c *Client) newJob(s JobSpec, now time.Time) (*store.NewJob, error) {
	var o EnqueueOpts
	if s.Opts != nil {
		o = *s.Opts
	}
	nj := &store.NewJob{
		Kind:        s.Kind,
		Queue:       o.Queue,
		Args:        s.Args,
		Blob:        o.Blob,
		Priority:    o.Priority,
		RunAt:       o.RunAt,
		MaxAttempts: o.MaxAttempts,
		Timeout:     o.Timeout,
		UniqueKey:   o.UniqueKey,
		DependsOn:   o.DependsOn,
		ParentID:    o.ParentID,

		IfDependencyFails: o.IfDependencyFails,
	}
	switch {
	case !o.RunAt.IsZero() && o.Delay != 0:
		return nil, &FieldError{Index: -1, Field: "Delay", Reason: "must not be set together with run_at"}
	case o.Delay < 0:
		return nil, &FieldError{Index: -1, Field: "Delay", Reason: "must not be negative"}
	}
	if nj.Queue == "" {
		nj.Queue = DefaultQueue
	}
	if nj.Priority == 0 {
		nj.Priority = DefaultPriority
	}
	if nj.RunAt.IsZero() {
		// Checked before adding, so that no delay wraps the time around.
		if err := store.CheckAfter("Delay", now, o.Delay); err != nil {
			return nil, err
		}
		nj.RunAt = now.Add(o.Delay)
	} else if err := store.CheckTime("RunAt", nj.RunAt); err != nil {
		return nil, err
	}
	if nj.MaxAttempts == 0 {
		nj.MaxAttempts = c.cfg.MaxAttempts
	}
	if len(nj.Args) == 0 {
		nj.Args = json.RawMessage("{}")
	}
	// The store validates the job (every driver does, and the conformance
	// suite checks it): checking here too would scan the args twice.
	return nj, nil
}

// Get returns the job with id, or an error wrapping ErrNotFound.
func (c *Client) Get(ctx context.Context, id string) (*Job, error) {
	return c.store.Get(ctx, id)
}

// ListParams filter and page a job listing. Empty filters match all.
type ListParams = store.ListParams

// ListResult is one page of jobs, newest first, and the cursor of the next.
type ListResult = store.ListResult

// List returns jobs newest first, one page at a time.
func (c *Client) List(ctx context.Context, p *ListParams) (*ListResult, error) {
	if p == nil {
		p = &ListParams{}
	}
	return c.store.List(ctx, p)
}

// Cancel cancels a job that has not finished. A running job's handler sees
// its context cancelled with a cause saying so. Jobs that depend on it are
// cancelled too.
func (c *Client) Cancel(ctx context.Context, id, reason string) (*Job, error) {
	if reason == "" {
		reason = "cancelled on request"
	}
	return c.store.Cancel(ctx, &store.CancelParams{ID: id, Reason: reason, Now: c.cfg.Now()})
}

// Retry makes a failed or cancelled job available again with a fresh set
// of attempts.
func (c *Client) Retry(ctx context.Context, id string) (*Job, error) {
	return c.store.Retry(ctx, &store.RetryParams{ID: id, Now: c.cfg.Now()})
}

// Queues returns every queue that exists, by name, with its counts per
// state: a queue exists when Config.Queues configures it (with no jobs, its
// counts are zero) or the store holds a job of it or a setting (a queue
// paused before its first job).
func (c *Client) Queues(ctx context.Context) ([]QueueInfo, error) {
	infos, err := c.store.Queues(ctx)
	if err != nil {
		return nil, err
	}
	listed := make(map[string]bool, len(infos))
	for _, qi := range infos {
		listed[qi.Name] = true
	}
	for name := range c.cfg.Queues {
		if !listed[name] {
			infos = append(infos, QueueInfo{Name: name, Counts: map[State]int64{}})
		}
	}
	slices.SortFunc(infos, func(a, b QueueInfo) int { return strings.Compare(a.Name, b.Name) })
	return infos, nil
}

// PauseQueue stops every client on the store from claiming jobs of queue;
// running jobs go on. ResumeQueue undoes it. A queue that does not exist
// yet (see Queues) is paused in advance, and exists from then on.
func (c *Client) PauseQueue(ctx context.Context, queue string) error {
	return c.setPaused(ctx, queue, true)
}

// ResumeQueue lets clients claim jobs of a paused queue again. This
// client's workers look for them at once; other clients on a shared store
// at their next poll (Config.PollInterval).
func (c *Client) ResumeQueue(ctx context.Context, queue string) error {
	return c.setPaused(ctx, queue, false)
}

func (c *Client) setPaused(ctx context.Context, queue string, paused bool) error {
	if err := store.CheckName("Queue", queue); err != nil {
		return err
	}
	if err := c.store.PauseQueue(ctx, &store.PauseParams{Queue: queue, Paused: paused}); err != nil {
		return err
	}
	if !paused {
		// The store announces jobs, not queues: without this the queue's
		// jobs would wait for the next poll. Other clients on a shared
		// store pick them up at their next poll.
		c.engine.Wake(queue)
	}
	return nil
}

// Store returns the store the client works on.
func (c *Client) Store() store.Driver { return c.store }

// Kinds returns the kinds this client has handlers for.
func (c *Client) Kinds() []string { return c.engine.Kinds() }

// Wait blocks until the job is final and returns it, or returns ctx's
// error when ctx ends first (with the job as last seen, if any).
func (c *Client) Wait(ctx context.Context, id string) (*Job, error) {
	events, err := c.Watch(ctx, id)
	if err != nil {
		return nil, err
	}
	var last *Job
	for ev := range events {
		last = ev.Job
	}
	if last != nil && last.State.Final() {
		return last, nil
	}
	if ctx.Err() != nil {
		return last, ctx.Err()
	}
	return last, ErrStopped
}

// EventType says what changed in a job.
type EventType string

// The types of Event.
const (
	// EventState: the job's state changed (the first event of a watch
	// carries the state the job had when the watch began).
	EventState EventType = "state"
	// EventProgress: the running job reported progress.
	EventProgress EventType = "progress"
)

// Event is one change of a watched job.
type Event struct {
	Type EventType
	// Job is the job right after the change. Read-only.
	Job *Job
}

// Watch follows a job: the channel first carries the job as it is, then
// one event per change of state or progress, in order, and is closed after
// the job reaches a final state, when ctx ends, or when the client stops.
// A slow reader may miss intermediate progress events, never the final
// state.
func (c *Client) Watch(ctx context.Context, id string) (<-chan Event, error) {
	return c.hub.watch(ctx, id)
}

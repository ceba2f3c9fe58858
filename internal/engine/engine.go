package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gantry-dev/gantry/store"
)

// Defaults of Config.
const (
	DefaultWorkers             = 16
	DefaultLeaseFor            = 30 * time.Second
	DefaultTimeout             = 10 * time.Minute
	DefaultPollInterval        = time.Second
	DefaultMaintenanceInterval = time.Second
	DefaultRetention           = 24 * time.Hour
	DefaultStopGrace           = 5 * time.Second
	DefaultMaxClaim            = 1000
	DefaultCompleterBatch      = 1000
	// DefaultMaxAttempts is the attempts of a job that sets none.
	DefaultMaxAttempts = 20
)

// MaxWorkers is the most workers one queue may have in one engine.
const MaxWorkers = 10000

// Errors set as the cause of a cancelled attempt's context.
var (
	// ErrShutdown: the engine stopped and its deadline passed.
	ErrShutdown = errors.New("client shutting down")
	// ErrJobCancelled: the job was cancelled while it ran.
	ErrJobCancelled = errors.New("job cancelled")
	// ErrLeaseLost: the attempt's lease expired or was taken over.
	ErrLeaseLost = errors.New("lease lost")
)

// errStopping is the cause of the fetch context's cancellation.
var errStopping = errors.New("client stopping")

// Result is what a WorkFunc reports about one attempt.
type Result struct {
	// Err is nil on success.
	Err error
	// Output is recorded as the job's result on success.
	Output []byte
	// Permanent fails the job at once, whatever attempts remain.
	Permanent bool
	// Snooze, when positive, runs the job again after this long without
	// spending the attempt.
	Snooze time.Duration
	// Cancel cancels the job (the handler gave up on it for good).
	Cancel bool
	// AwaitChildren makes the job wait, without holding a worker and
	// without spending the attempt, for the children it spawned; it runs
	// again once they are final.
	AwaitChildren bool
	// Stack is set when the attempt panicked.
	Stack string
}

// WorkFunc runs one attempt of a job. It is called on a worker goroutine
// with the attempt's context, which ends at the job's timeout, when the job
// is cancelled, or when the engine stops.
type WorkFunc func(ctx context.Context, a *Attempt) Result

// Hooks are optional callbacks for metrics and logs. They run on engine
// goroutines and must not block.
type Hooks struct {
	// Started is called when an attempt starts.
	Started func(j *store.Job)
	// Finished is called when an attempt's outcome is recorded; j is the
	// job as the store returned it, took is the attempt's run time.
	Finished func(j *store.Job, took time.Duration)
	// RateWaited is called when a claim of queue got fewer jobs than it
	// asked for because the queue's rate limits held them back, wait being
	// the claim's store.ClaimResult.RateWait.
	RateWaited func(queue string, wait time.Duration)
}

// Periodic is a job enqueued once per tick of a schedule.
type Periodic struct {
	// Name identifies the periodic job across restarts and nodes.
	Name string
	// Next returns the first tick strictly after t, or the zero time when
	// there is none.
	Next func(t time.Time) time.Time
	// Job is the job to enqueue; its RunAt and UniqueKey are set per tick.
	Job store.NewJob
}

// Config configures an Engine.
type Config struct {
	// Store holds the jobs. Required.
	Store store.Driver
	// Owner is opaque to the engine: what runs it (the gantry.Client),
	// which handlers reach through Attempt.Owner.
	Owner any
	// Work runs an attempt. Required.
	Work WorkFunc
	// Kinds are the kinds Work can run; fetchers claim only these. Empty
	// means the engine claims nothing (it still runs maintenance).
	Kinds []string
	// Queues maps each queue to run to its number of workers, 1 to
	// MaxWorkers; zero means DefaultWorkers. Empty means {"default":
	// DefaultWorkers}.
	Queues map[string]int
	// MaxAttempts is the attempts of a job enqueued without its own, 1 to
	// store.MaxMaxAttempts. The engine does not enqueue with it; it keeps
	// it so that its client reads every default from one place. Default
	// DefaultMaxAttempts.
	MaxAttempts int
	// LeaseFor is how long a claim lasts before a heartbeat must extend
	// it. Default DefaultLeaseFor.
	LeaseFor time.Duration
	// Timeout limits an attempt whose job sets none. Default DefaultTimeout.
	Timeout time.Duration
	// Backoff is the delay before retrying after the attempt'th failure.
	// Default: Backoff (exponential with full jitter).
	Backoff func(attempt int) time.Duration
	// PollInterval is how often an idle fetcher looks for jobs even
	// without a wake-up from the store. Default DefaultPollInterval.
	PollInterval time.Duration
	// MaintenanceInterval is how often expired leases are rescued and due
	// jobs promoted. Default DefaultMaintenanceInterval.
	MaintenanceInterval time.Duration
	// Retention is how long finished jobs are kept. Default
	// DefaultRetention; negative keeps them forever.
	Retention time.Duration
	// OnPrune is called with the blob keys of pruned jobs so that their
	// payloads are deleted too. Optional.
	OnPrune func(ctx context.Context, blobKeys []string)
	// StopGrace is how long Stop waits for handlers to return after it
	// cancelled them. Default DefaultStopGrace.
	StopGrace time.Duration
	// Periodic jobs to enqueue.
	Periodic []Periodic
	// DisableMaintenance leaves rescues, promotion, retention and periodic
	// jobs to another node.
	DisableMaintenance bool
	// Now returns the current time. Default: the store's time when the
	// store has a store.Clock (PostgreSQL's), kept between syncs (every
	// ClockSyncEvery) by the local monotonic clock, so that every node on
	// the store agrees on when leases end and jobs are due; time.Now
	// otherwise.
	Now func() time.Time
	// clock is the store's clock behind the default Now, when there is one.
	clock *storeClock
	// localNow replaces time.Now under the store's clock in tests (a node
	// whose own clock is wrong).
	localNow func() time.Time
	// Logger receives the engine's logs. Default: discard.
	Logger *slog.Logger
	// Hooks receive events for metrics. Optional.
	Hooks Hooks
	// Trace, when set, starts the trace span of an attempt of j: the
	// handler runs with the context it returns, and end is called with
	// the handler's error when it returns. Optional.
	Trace func(ctx context.Context, j *store.Job) (_ context.Context, end func(error))
}

// WithDefaults returns c with every zero setting replaced by its default.
// It is the one place that knows the defaults: the gantry package reads
// them back from the returned Config.
func (c Config) WithDefaults() Config {
	if len(c.Queues) == 0 {
		c.Queues = map[string]int{"default": DefaultWorkers}
	} else {
		c.Queues = maps.Clone(c.Queues)
	}
	for name, n := range c.Queues {
		if n == 0 {
			c.Queues[name] = DefaultWorkers
		}
	}
	c.Kinds = slices.Clone(c.Kinds)
	set(&c.MaxAttempts, DefaultMaxAttempts)
	set(&c.LeaseFor, DefaultLeaseFor)
	set(&c.Timeout, DefaultTimeout)
	set(&c.PollInterval, DefaultPollInterval)
	set(&c.MaintenanceInterval, DefaultMaintenanceInterval)
	set(&c.Retention, DefaultRetention)
	set(&c.StopGrace, DefaultStopGrace)
	if c.Backoff == nil {
		c.Backoff = Backoff
	}
	if c.Now == nil {
		local := c.localNow
		if local == nil {
			local = time.Now
		}
		c.Now = local
		if src, ok := store.As[store.Clock](c.Store); ok {
			c.clock = &storeClock{src: src, local: local}
			c.Now = c.clock.Now
		}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// set replaces a zero *v with def.
func set[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// Validate checks a Config that WithDefaults returned. Its errors name the
// settings by their Go names, which the gantry package shares.
func (c *Config) Validate() error {
	switch {
	case c.Store == nil:
		return errors.New("a store is required")
	case c.Work == nil:
		return errors.New("a work function is required")
	case c.MaxAttempts < 1 || c.MaxAttempts > store.MaxMaxAttempts:
		return fmt.Errorf("invalid MaxAttempts %d: want 1 to %d", c.MaxAttempts, store.MaxMaxAttempts)
	case c.LeaseFor < 100*time.Millisecond:
		return fmt.Errorf("invalid LeaseFor %v: want at least 100ms", c.LeaseFor)
	case c.Timeout < 0:
		return fmt.Errorf("invalid Timeout %v: must not be negative", c.Timeout)
	case c.PollInterval < 0 || c.MaintenanceInterval < 0 || c.StopGrace < 0:
		return errors.New("invalid PollInterval, MaintenanceInterval or StopGrace: must not be negative")
	}
	for name, n := range c.Queues {
		if err := store.CheckName("Queue", name); err != nil {
			return fmt.Errorf("invalid Queues: %w", err)
		}
		if n < 1 || n > MaxWorkers {
			return fmt.Errorf("queue %q has %d workers, want 1 to %d", name, n, MaxWorkers)
		}
	}
	for _, k := range c.Kinds {
		if err := store.CheckName("Kind", k); err != nil {
			return err
		}
	}
	seen := map[string]bool{}
	for _, p := range c.Periodic {
		if p.Name == "" || p.Next == nil {
			return errors.New("a periodic job needs a Name and a schedule")
		}
		if seen[p.Name] {
			return fmt.Errorf("periodic job %q is declared twice", p.Name)
		}
		seen[p.Name] = true
	}
	return nil
}

// Engine runs jobs from a store. Create it with New, then Start and Stop it
// once each.
type Engine struct {
	cfg    Config
	store  store.Driver
	log    *slog.Logger
	queues map[string]*queue

	// fetchCtx ends when Stop begins; workCtx when Stop's deadline passes.
	fetchCtx    context.Context
	stopFetch   context.CancelCauseFunc
	workCtx     context.Context
	cancelWork  context.CancelCauseFunc
	bgCtx       context.Context // heartbeater and maintenance
	stopBG      context.CancelFunc
	stopNotify  func()
	fetchers    sync.WaitGroup
	workers     sync.WaitGroup
	background  sync.WaitGroup
	completer   *completer
	hasNotifier bool

	// lifecycle serializes Start and Stop; Start holds it while it pings
	// the store. mu guards running only, so that the store's notify
	// goroutine and the workers never wait for store I/O.
	lifecycle sync.Mutex
	started   bool
	stopped   bool
	mu        sync.Mutex
	running   map[string]*Attempt
	leader    atomic.Bool // maintenance runs here; see Leader
}

// New checks cfg and returns an engine that has not started.
func New(cfg Config) (*Engine, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	e := &Engine{
		cfg:     cfg,
		store:   cfg.Store,
		log:     cfg.Logger,
		queues:  make(map[string]*queue, len(cfg.Queues)),
		running: make(map[string]*Attempt),
	}
	for name, n := range cfg.Queues {
		e.queues[name] = newQueue(e, name, n)
	}
	return e, nil
}

// Start checks that the store answers and starts the fetchers, workers,
// completer, heartbeater and maintenance. The goroutines outlive ctx's
// cancellation: Stop ends them.
func (e *Engine) Start(ctx context.Context) error {
	e.lifecycle.Lock()
	defer e.lifecycle.Unlock()
	if e.started {
		return errors.New("already started")
	}
	if err := e.store.Ping(ctx); err != nil {
		return fmt.Errorf("store unreachable: %w", err)
	}
	if c := e.cfg.clock; c != nil {
		if err := c.sync(ctx); err != nil {
			return fmt.Errorf("reading the store's clock: %w", err)
		}
	}
	e.started = true
	base := context.WithoutCancel(ctx)
	e.fetchCtx, e.stopFetch = context.WithCancelCause(base)
	e.workCtx, e.cancelWork = context.WithCancelCause(base)
	e.bgCtx, e.stopBG = context.WithCancel(base)
	e.completer = newCompleter(e)

	if n, ok := store.As[store.Notifier](e.store); ok {
		e.hasNotifier = true
		e.stopNotify = n.Notify(e.onChanges)
	}
	for _, q := range e.queues {
		q.start()
	}
	e.background.Add(1)
	go func() {
		defer e.background.Done()
		e.heartbeatLoop()
	}()
	if !e.cfg.DisableMaintenance {
		if _, ok := store.As[store.Elector](e.store); !ok {
			e.leader.Store(true) // the only node: it leads from the start
		}
		e.background.Add(1)
		go func() {
			defer e.background.Done()
			e.maintenanceLoop()
		}()
	}
	return nil
}

// Stop stops claiming jobs and waits for running attempts to finish. When
// ctx ends first, it cancels the running attempts (their context's cause is
// ErrShutdown), waits up to StopGrace for their handlers to return, and
// releases their leases so that the jobs run again at once on the next
// start or on another node. Recording the last outcomes is bounded by ctx
// too (or by StopGrace when ctx has already ended): what is not recorded
// by then runs again when its lease expires. It returns ctx's error when
// it had to cancel.
func (e *Engine) Stop(ctx context.Context) error {
	e.lifecycle.Lock()
	if !e.started || e.stopped {
		e.lifecycle.Unlock()
		return nil
	}
	e.stopped = true
	e.lifecycle.Unlock()

	e.stopFetch(errStopping)
	e.fetchers.Wait()
	for _, q := range e.queues {
		close(q.jobs) // workers release what they have not started
	}

	done := make(chan struct{})
	go func() {
		e.workers.Wait()
		close(done)
	}()
	var stopErr error
	select {
	case <-done:
	case <-ctx.Done():
		stopErr = ctx.Err()
		e.cancelWork(ErrShutdown)
		grace := time.NewTimer(e.cfg.StopGrace)
		select {
		case <-done:
		case <-grace.C:
			e.releaseAbandoned()
		}
		grace.Stop()
	}

	e.stopBG()
	e.background.Wait()
	if e.stopNotify != nil {
		e.stopNotify()
	}
	if err := e.completer.close(ctx, e.cfg.StopGrace); err != nil && stopErr == nil {
		stopErr = err
	}
	e.cancelWork(ErrShutdown)
	return stopErr
}

// releaseAbandoned gives back the leases of attempts whose handlers did not
// return within the grace period. Their late results will be refused.
func (e *Engine) releaseAbandoned() {
	e.mu.Lock()
	abandoned := make([]*Attempt, 0, len(e.running))
	for _, a := range e.running {
		abandoned = append(abandoned, a)
	}
	e.mu.Unlock()
	for _, a := range abandoned {
		e.log.Error("handler did not return after cancellation; releasing its lease",
			slog.String("job_id", a.Job.ID), slog.String("kind", a.Job.Kind))
		a.abandon()
		e.completer.add(store.FinishItem{ID: a.Job.ID, LeaseToken: a.Job.LeaseToken, Outcome: store.OutcomeReleased}, a)
	}
}

// onChanges runs on the store's goroutine: it must not block.
func (e *Engine) onChanges(changes []store.Change) {
	for i := range changes {
		c := &changes[i]
		switch c.State {
		case store.StateAvailable:
			if q := e.queues[c.Queue]; q != nil {
				q.wake()
			}
		case store.StateCancelled:
			e.mu.Lock()
			a := e.running[c.ID]
			e.mu.Unlock()
			if a != nil {
				a.cancel(ErrJobCancelled)
			}
		}
	}
}

// Wake makes the fetcher of queue look for jobs now instead of at its next
// poll, for a change the store does not announce (a queue resumed). It
// does nothing for a queue this engine does not work.
func (e *Engine) Wake(queue string) {
	if q := e.queues[queue]; q != nil {
		q.wake()
	}
}

func (e *Engine) track(a *Attempt) {
	e.mu.Lock()
	e.running[a.Job.ID] = a
	e.mu.Unlock()
}

func (e *Engine) untrack(a *Attempt) {
	e.mu.Lock()
	if e.running[a.Job.ID] == a {
		delete(e.running, a.Job.ID)
	}
	e.mu.Unlock()
}

// Running returns how many attempts are running now.
func (e *Engine) Running() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.running)
}

// Kinds returns the kinds the engine claims.
func (e *Engine) Kinds() []string { return slices.Clone(e.cfg.Kinds) }

// sleep waits for d or until ctx ends, and reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

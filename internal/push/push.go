package push

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/gantry-dev/gantry"
	"github.com/gantry-dev/gantry/internal/tracing"
	"github.com/gantry-dev/gantry/store"
)

// Timing of the dispatch loops.
const (
	// leaseWait is how long one lease call waits for jobs.
	leaseWait = 5 * time.Second
	// leaseGrace is how much longer than the target's timeout a lease
	// lasts, so that an answer that comes at the timeout is still
	// recorded; a target that answered 202 heartbeats before it ends.
	leaseGrace = 10 * time.Second
	// reportTimeout bounds recording a push's outcome.
	reportTimeout = 10 * time.Second
	// errorPause is how long a dispatch loop waits after a failed lease.
	errorPause = time.Second
)

// Config configures a Dispatcher.
type Config struct {
	// Client leases the targets' jobs and records their outcomes.
	Client *gantry.Client
	// Targets are the push targets; each is checked by Validate after
	// WithDefaults.
	Targets []Target
	// Logger receives warnings. Default: none.
	Logger *slog.Logger
	// Observe, when not nil, is told of every push: the target's name, its
	// outcome (OutcomeSucceeded...) and how long it took.
	Observe func(target, outcome string, took time.Duration)
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// TracerProvider receives a client span per push, in the job's trace;
	// the push's traceparent header names it. Default: the global
	// provider.
	TracerProvider trace.TracerProvider
}

// Dispatcher leases the jobs of its targets and pushes them.
type Dispatcher struct {
	cfg     Config
	log     *slog.Logger
	runners []*runner

	mu         sync.Mutex
	started    bool
	stopFetch  context.CancelFunc
	stopWork   context.CancelFunc
	loops      sync.WaitGroup // the dispatch loops
	deliveries sync.WaitGroup // the pushes in flight
}

// runner is one target's dispatch state.
type runner struct {
	t       Target
	lim     *Limiter
	bucket  tokens // nil without a rate
	burst   int    // the bucket's burst
	http    *http.Client
	now     func() time.Time
	observe func(target, outcome string, took time.Duration)
	log     *slog.Logger
	tracer  trace.Tracer // nil: the global provider's
	// lease and report are the jobs' source and sink: the client's
	// Workers, or a benchmark's stand-in.
	lease  func(ctx context.Context, n int) ([]*gantry.Job, error)
	report func(ctx context.Context, j *gantry.Job, res *result)
	// overloads counts overload answers in a row, for the backoff.
	overloads atomic.Int64
	// wakeAt is the earliest time (unix ns) a job this runner snoozed runs
	// again, 0 for none: a lease waits no longer than that, since the
	// store sends no notification when a snoozed job comes due.
	wakeAt atomic.Int64
}

// leaseWait is how long the next lease may wait for jobs.
func (r *runner) leaseWait() time.Duration {
	w := r.wakeAt.Load()
	if w == 0 {
		return leaseWait
	}
	d := time.Until(time.Unix(0, w))
	if d <= 0 {
		r.wakeAt.CompareAndSwap(w, 0)
		return 0
	}
	return min(d+10*time.Millisecond, leaseWait)
}

// snoozed notes that a job runs again after d.
func (r *runner) snoozed(d time.Duration) {
	at := time.Now().Add(d).UnixNano()
	for {
		w := r.wakeAt.Load()
		if w != 0 && w <= at || r.wakeAt.CompareAndSwap(w, at) {
			return
		}
	}
}

// New checks the targets and returns a dispatcher for them.
func New(cfg *Config) (*Dispatcher, error) {
	if cfg == nil || cfg.Client == nil {
		return nil, errors.New("gantry: push: Config.Client must be set")
	}
	d := &Dispatcher{cfg: *cfg, log: cfg.Logger}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	if d.cfg.Now == nil {
		d.cfg.Now = time.Now
	}
	own := map[string][]string{} // queue -> kinds with a target of their own
	seen := map[string]bool{}
	for i := range d.cfg.Targets {
		t := d.cfg.Targets[i].WithDefaults()
		if err := t.Validate(); err != nil {
			return nil, fmt.Errorf("gantry: push target %w", err)
		}
		if seen[t.Name] {
			return nil, fmt.Errorf("gantry: push target %q is configured twice", t.Name)
		}
		seen[t.Name] = true
		if k := t.Kind(); k != "" {
			own[t.Queue] = append(own[t.Queue], k)
		}
		d.cfg.Targets[i] = t
	}
	for _, t := range d.cfg.Targets {
		d.runners = append(d.runners, d.newRunner(t, own[t.Queue]))
	}
	return d, nil
}

func (d *Dispatcher) newRunner(t Target, exclude []string) *runner {
	r := &runner{
		t:       t,
		lim:     NewLimiter(t.Min, t.Max, d.cfg.Now),
		http:    NewHTTPClient(t.Max),
		now:     d.cfg.Now,
		observe: d.cfg.Observe,
		log:     d.log,
		tracer:  tracing.Tracer(d.cfg.TracerProvider),
	}
	if t.Rate != nil {
		r.burst = int(max(t.Rate.PerSecond(), 1))
		r.bucket = newTokens(t, r.burst, d.cfg.Client.Store(), d.cfg.Now, d.log)
	}
	w := d.cfg.Client.Workers()
	p := gantry.LeaseParams{Queue: t.Queue, LeaseFor: t.Timeout + leaseGrace}
	if k := t.Kind(); k != "" {
		p.Kinds = []string{k}
	} else {
		p.ExcludeKinds = exclude
	}
	p.LeaseFor = min(max(p.LeaseFor, gantry.MinLeaseFor), gantry.MaxLeaseFor)
	r.lease = func(ctx context.Context, n int) ([]*gantry.Job, error) {
		q := p
		q.Max, q.Wait = n, r.leaseWait()
		return w.Lease(ctx, &q)
	}
	r.report = func(ctx context.Context, j *gantry.Job, res *result) {
		delay := r.overloadDelay(res)
		if res.outcome == OutcomeOverload {
			r.snoozed(delay)
		}
		d.record(ctx, j, res, delay)
	}
	return r
}

// NewHTTPClient returns the client of one target: it follows no redirect,
// and keeps up to conns idle connections so that a target at its limit
// does not open a new one per request.
func NewHTTPClient(conns int) *http.Client {
	tr := &http.Transport{
		Proxy:                 nil, // a target is reached directly, never through a proxy from the environment
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          conns,
		MaxIdleConnsPerHost:   conns,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		ForceAttemptHTTP2:     true,
	}
	return &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Targets returns the targets with their defaults applied.
func (d *Dispatcher) Targets() []Target { return d.cfg.Targets }

// Stat is a target's state on this node.
type Stat struct {
	Target   string
	Limit    int
	InFlight int
}

// Stats returns every target's current limit and requests in flight.
func (d *Dispatcher) Stats() []Stat {
	out := make([]Stat, len(d.runners))
	for i, r := range d.runners {
		out[i] = Stat{Target: r.t.Name, Limit: r.lim.Limit(), InFlight: r.lim.InFlight()}
	}
	return out
}

// Start starts a dispatch loop per target. It logs a warning for every
// target that has no secret: its requests go unsigned.
func (d *Dispatcher) Start(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.started {
		return errors.New("gantry: push: the dispatcher was started already")
	}
	d.started = true
	fetch, stopFetch := context.WithCancel(context.WithoutCancel(ctx))
	work, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	d.stopFetch, d.stopWork = stopFetch, stopWork
	for _, r := range d.runners {
		rate := "none"
		if r.t.Rate != nil {
			rate = r.t.Rate.String()
		}
		u := r.t.URL
		if pu, err := url.Parse(u); err == nil {
			u = pu.Redacted()
		}
		d.log.Info("pushing jobs to a target", slog.String("target", r.t.Name), slog.String("url", u),
			slog.String("queue", r.t.Queue), slog.Int("min", r.t.Min), slog.Int("max", r.t.Max),
			slog.Duration("timeout", r.t.Timeout), slog.String("rate", rate), slog.Int("secrets", len(r.t.Secrets)))
		if len(r.t.Secrets) == 0 {
			d.log.Warn("push target has no secret: its requests are not signed, and the target cannot tell them from forged ones",
				slog.String("target", r.t.Name))
		}
		d.loops.Go(func() { r.run(fetch, work, &d.deliveries) })
	}
	return nil
}

// Stop stops leasing and waits for the pushes in flight until ctx ends;
// then it cuts them off and gives their leases back, so that the jobs run
// again at once elsewhere. It returns ctx's error when it had to cut some
// off.
func (d *Dispatcher) Stop(ctx context.Context) error {
	d.mu.Lock()
	started := d.started
	d.mu.Unlock()
	if !started {
		return nil
	}
	d.stopFetch()
	d.loops.Wait()
	done := make(chan struct{})
	go func() { d.deliveries.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("gantry: push: pushes in flight were cut off and their jobs released: %w", ctx.Err())
		d.stopWork()
		<-done
	}
	d.stopWork()
	for _, r := range d.runners {
		r.http.CloseIdleConnections()
	}
	return err
}

// run is a target's dispatch loop: take free slots (and tokens), lease as
// many jobs, push each in its own goroutine, which gives its slot back.
// Goroutines are bounded by the target's concurrency.max.
func (r *runner) run(fetch, work context.Context, wg *sync.WaitGroup) {
	for fetch.Err() == nil {
		slots, err := r.slots(fetch)
		if err != nil {
			return
		}
		n := len(slots)
		if r.bucket != nil {
			// A target with a rate leases at most a burst of jobs (one
			// second's worth) and takes their tokens just before pushing
			// them, so that no token is held while the lease waits.
			n = min(n, r.burst)
			releaseAll(slots[n:])
			slots = slots[:n]
		}
		jobs, err := r.lease(fetch, n)
		if fetch.Err() != nil && len(jobs) > 0 {
			// Stopping: give them back untried.
			r.releaseJobs(work, jobs)
			jobs = nil
		}
		releaseAll(slots[len(jobs):])
		if err != nil {
			if fetch.Err() != nil || errors.Is(err, gantry.ErrStopped) {
				return
			}
			r.log.Warn("push: leasing jobs failed", slog.String("target", r.t.Name), slog.Any("error", err))
			t := time.NewTimer(errorPause)
			select {
			case <-t.C:
			case <-fetch.Done():
				t.Stop()
			}
			continue
		}
		for i := 0; i < len(jobs); {
			got := len(jobs) - i
			if r.bucket != nil {
				if got, err = r.bucket.Wait(fetch, got); err != nil {
					// Stopping while waiting for tokens: give the rest back.
					releaseAll(slots[i:len(jobs)])
					r.releaseJobs(work, jobs[i:])
					return
				}
			}
			for k := i; k < i+got; k++ {
				s, j := slots[k], jobs[k]
				wg.Go(func() { r.deliver(work, s, j) })
			}
			i += got
		}
	}
}

// releaseJobs gives leased jobs back untried.
func (r *runner) releaseJobs(ctx context.Context, jobs []*gantry.Job) {
	for _, j := range jobs {
		r.report(ctx, j, &result{outcome: OutcomeReleased})
	}
}

// slots waits for one slot and takes every other slot free now, at most
// gantry.MaxLeaseJobs.
func (r *runner) slots(ctx context.Context) ([]*Slot, error) {
	s, err := r.lim.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	out := []*Slot{s}
	for len(out) < gantry.MaxLeaseJobs {
		s := r.lim.TryAcquire()
		if s == nil {
			break
		}
		out = append(out, s)
	}
	return out, nil
}

func releaseAll(slots []*Slot) {
	for _, s := range slots {
		s.Release(Sample{Ignore: true})
	}
}

// deliver pushes one job and records the outcome.
func (r *runner) deliver(work context.Context, s *Slot, j *gantry.Job) {
	res := r.send(work, j)
	s.Release(res.sample())
	if res.outcome == OutcomeOverload {
		r.overloads.Add(1)
	} else if res.outcome == OutcomeSucceeded || res.outcome == OutcomeAccepted {
		r.overloads.Store(0)
	}
	if r.observe != nil {
		r.observe(r.t.Name, res.outcome, res.latency)
	}
	r.report(work, j, res)
}

// overloadDelay is the snooze of an overload answer.
func (r *runner) overloadDelay(res *result) time.Duration {
	if res.retryAfter > 0 {
		return res.retryAfter
	}
	return overloadBackoff(int(r.overloads.Load()))
}

// record records a push's outcome through the lease protocol.
func (d *Dispatcher) record(ctx context.Context, j *gantry.Job, res *result, snooze time.Duration) {
	c := d.cfg.Client
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), reportTimeout)
	defer cancel()
	w := c.Workers()
	var err error
	switch res.outcome {
	case OutcomeSucceeded:
		_, err = w.Complete(ctx, &gantry.CompleteParams{ID: j.ID, LeaseToken: j.LeaseToken, Result: res.body})
	case OutcomeAccepted:
		return // the target reports
	case OutcomeOverload:
		_, err = w.Snooze(ctx, &gantry.SnoozeParams{ID: j.ID, LeaseToken: j.LeaseToken, RetryIn: snooze, Reason: res.msg})
	case OutcomeRejected:
		_, err = w.Fail(ctx, &gantry.FailParams{ID: j.ID, LeaseToken: j.LeaseToken, Error: res.msg, Permanent: true})
	case OutcomeReleased:
		var fr *store.FinishResult
		fr, err = c.Store().Finish(ctx, &store.FinishParams{Now: d.cfg.Now(), Items: []store.FinishItem{{
			ID: j.ID, LeaseToken: j.LeaseToken, Outcome: store.OutcomeReleased}}})
		if err == nil && len(fr.Errs) > 0 {
			err = fr.Errs[0]
		}
	default:
		_, err = w.Fail(ctx, &gantry.FailParams{ID: j.ID, LeaseToken: j.LeaseToken, Error: res.msg})
	}
	if err != nil && !errors.Is(err, gantry.ErrLeaseLost) && !errors.Is(err, gantry.ErrNotFound) {
		d.log.Warn("push: recording an outcome failed", slog.String("job_id", j.ID), slog.String("outcome", res.outcome), slog.Any("error", err))
	}
}

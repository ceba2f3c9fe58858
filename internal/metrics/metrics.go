// Package metrics exports Gantry's Prometheus metrics on a registry of its
// own (never the global default one).
//
// Metrics never slow work down. Counters and histograms are fed from
// events: the client's Hooks (JobStarted, JobFinished), the store's
// enqueues (JobsEnqueued, or InstrumentStore), and the HTTP API's hooks
// (ObserveHTTP, Problem); each event costs a few atomic additions. Gauges
// that describe the backlog are computed at scrape time by asking the store
// for its queues, so nothing is maintained while jobs flow.
//
// Series, with their labels:
//
//	gantry_jobs_enqueued_total{queue,kind}               jobs created (duplicates and replays excluded)
//	gantry_jobs_started_total{queue,kind}                attempts started
//	gantry_jobs_finished_total{queue,kind,state}         attempts ended, by the state they left the job in:
//	                                                     succeeded, failed, cancelled, retrying, scheduled
//	                                                     (snoozed) or available (released at shutdown)
//	gantry_job_wait_seconds{queue,kind}                  histogram: from when the job could run (the later
//	                                                     of run_at and created_at) to the start of the attempt
//	gantry_job_run_seconds{queue,kind}                   histogram: how long attempts ran
//	gantry_job_end_to_end_seconds{kind,state}            histogram: ticket latency, from enqueue to the final
//	                                                     state (succeeded, failed, cancelled)
//	gantry_node_jobs_running{node}                       jobs this node's workers run now, at scrape time
//	gantry_node_worker_slots{node}                       jobs they may run at once
//	gantry_node_worker_utilization{node}                 running / slots (0 with no slots): an autoscaling
//	                                                     signal, with backlog per slot (docs/observability.md)
//	gantry_queue_jobs{queue,state}                       jobs per queue and state, at scrape time
//	gantry_queue_oldest_available_age_seconds{queue}     age of the job available the longest (0: none)
//	gantry_queue_paused{queue}                           1 when the queue is paused
//	gantry_limit_held_jobs{queue}                        available jobs the queue's limits hold back, at scrape time
//	gantry_limit_tokens{queue}                           tokens in the queue's bucket (queues with a rate)
//	gantry_limit_keys{queue}                             keys with available or running jobs (keyed queues)
//	gantry_limit_key_held_jobs{queue,key}                available jobs of a key held back, and running jobs of
//	gantry_limit_key_running{queue,key}                  a key, for the MaxLimitKeys keys with most available jobs
//	gantry_limit_delays_total{queue}                     claims that the queue's rate limits held back
//	gantry_limit_delay_seconds{queue}                    histogram: how long they held them back
//	gantry_store_up                                      1 when the last scrape could read the queues
//	gantry_http_requests_total{route,code}               requests by route pattern and status code
//	gantry_http_request_duration_seconds{route,code}     histogram of their latency
//	gantry_http_problems_total{code}                     requests answered with an error, by its problem code:
//	                                                     queue_full (429) and draining (503) are load shedding
//
// plus the standard go_* and process_* series.
//
// Kinds, queues, routes and codes can come from requests, so each label
// takes at most Config.MaxLabelValues distinct values; the rest are counted
// under OtherLabel, and a flood of made-up kinds cannot exhaust memory.
package metrics

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gantry-dev/gantry/store"
)

// Defaults of Config.
const (
	DefaultScrapeTimeout  = 5 * time.Second
	DefaultMaxLabelValues = 256
)

// OtherLabel stands for the label values beyond Config.MaxLabelValues.
const OtherLabel = "_other"

// Namespace prefixes every Gantry series.
const Namespace = "gantry"

// jobBuckets span a few milliseconds to an hour: Gantry's jobs are slow.
var jobBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600}

// httpBuckets are for request latency; long-polls and uploads land in the
// top buckets.
var httpBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

// QueueLister reads the queues at scrape time. A store.Driver and a
// *gantry.Client both are one.
type QueueLister interface {
	Queues(ctx context.Context) ([]store.QueueInfo, error)
}

// Config configures Metrics. The zero value is valid: no queue gauges.
type Config struct {
	// Queues is asked for the queues at every scrape. Nil: the queue gauges
	// and gantry_store_up are not exported.
	Queues QueueLister
	// Limits, when set, is asked at every scrape how the limits of each
	// queue with limits stand (the gantry_limit_* gauges); a store has it
	// when store.As finds store.LimitStatsStore. Nil: no limit gauges.
	Limits store.LimitStatsStore
	// ScrapeTimeout bounds the Queues call of one scrape. Default
	// DefaultScrapeTimeout.
	ScrapeTimeout time.Duration
	// MaxLabelValues bounds the distinct values of each of the labels kind,
	// queue, route and (problem) code. Default DefaultMaxLabelValues.
	MaxLabelValues int
	// DisableRuntime leaves out the Go and process collectors.
	DisableRuntime bool
	// Now returns the current time. Default time.Now.
	Now func() time.Time
	// Logger receives scrape errors. Default: none.
	Logger *slog.Logger
}

// Metrics holds Gantry's metrics. Its methods are safe for concurrent use
// and never block on I/O.
type Metrics struct {
	reg *prometheus.Registry
	now func() time.Time
	log *slog.Logger

	kinds, queues, routes, problemCodes *limiter

	enqueued, started, finished *prometheus.CounterVec
	wait, run                   *prometheus.HistogramVec
	httpRequests, problems      *prometheus.CounterVec
	httpDuration                *prometheus.HistogramVec
	endToEnd                    *prometheus.HistogramVec // latency.go
	delays                      *prometheus.CounterVec   // limits.go
	delay                       *prometheus.HistogramVec
}

// New returns Metrics registered on a new registry.
func New(cfg *Config) *Metrics {
	if cfg == nil {
		cfg = &Config{}
	}
	c := *cfg
	if c.ScrapeTimeout <= 0 {
		c.ScrapeTimeout = DefaultScrapeTimeout
	}
	if c.MaxLabelValues <= 0 {
		c.MaxLabelValues = DefaultMaxLabelValues
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	m := &Metrics{
		reg:          prometheus.NewRegistry(),
		now:          c.Now,
		log:          c.Logger,
		kinds:        newLimiter(c.MaxLabelValues),
		queues:       newLimiter(c.MaxLabelValues),
		routes:       newLimiter(c.MaxLabelValues),
		problemCodes: newLimiter(c.MaxLabelValues),
		enqueued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "jobs_enqueued_total",
			Help: "Jobs created, by queue and kind (duplicates of a unique key and idempotent replays excluded).",
		}, []string{"queue", "kind"}),
		started: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "jobs_started_total",
			Help: "Attempts started, by queue and kind.",
		}, []string{"queue", "kind"}),
		finished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "jobs_finished_total",
			Help: "Attempts ended, by queue, kind and the state they left the job in (succeeded, failed, cancelled, retrying, scheduled when snoozed, available when released).",
		}, []string{"queue", "kind", "state"}),
		wait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "job_wait_seconds",
			Help:    "Time from when a job could run (the later of run_at and created_at) to the start of its attempt.",
			Buckets: jobBuckets,
		}, []string{"queue", "kind"}),
		run: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "job_run_seconds",
			Help:    "How long attempts ran.",
			Buckets: jobBuckets,
		}, []string{"queue", "kind"}),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "http_requests_total",
			Help: "HTTP requests by route pattern and status code.",
		}, []string{"route", "code"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "http_request_duration_seconds",
			Help:    "HTTP request latency by route pattern and status code.",
			Buckets: httpBuckets,
		}, []string{"route", "code"}),
		problems: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "http_problems_total",
			Help: "HTTP requests answered with an error, by problem code; queue_full (429) and draining (503) are load shedding.",
		}, []string{"code"}),
	}
	m.delays, m.delay = newLimitDelays()
	m.reg.MustRegister(m.enqueued, m.started, m.finished, m.wait, m.run, m.httpRequests, m.httpDuration, m.problems, m.delays, m.delay)
	m.registerLatency()
	if c.Queues != nil {
		m.reg.MustRegister(newQueueCollector(m, c.Queues, c.Limits, c.ScrapeTimeout))
	}
	if !c.DisableRuntime {
		m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	return m
}

// Registry returns the registry the metrics are on, to add more.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus text (or OpenMetrics)
// format, for GET /metrics. A failing collector does not fail the scrape:
// the other series are still served.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:            slogAdapter{m.log},
		ErrorHandling:       promhttp.ContinueOnError,
		Registry:            m.reg,
		MaxRequestsInFlight: 4,
	})
}

type slogAdapter struct{ log *slog.Logger }

func (a slogAdapter) Println(v ...any) {
	a.log.Warn("metrics: serving /metrics", slog.String("error", fmt.Sprint(v...)))
}

// JobsEnqueued counts the jobs an enqueue created; duplicates are skipped.
// Call it after a successful enqueue that was not an idempotent replay.
func (m *Metrics) JobsEnqueued(jobs []store.Enqueued) {
	for _, e := range jobs {
		if e.Duplicate || e.Job == nil {
			continue
		}
		m.enqueued.WithLabelValues(m.queues.value(e.Job.Queue), m.kinds.value(e.Job.Kind)).Inc()
	}
}

// JobStarted counts an attempt that started and observes how long the job
// waited for it. It has the signature of gantry.Hooks.Started.
func (m *Metrics) JobStarted(j *store.Job) {
	q, k := m.queues.value(j.Queue), m.kinds.value(j.Kind)
	m.started.WithLabelValues(q, k).Inc()
	ready := j.RunAt
	if j.CreatedAt.After(ready) {
		ready = j.CreatedAt
	}
	start := j.StartedAt
	if start.IsZero() {
		start = m.now()
	}
	m.wait.WithLabelValues(q, k).Observe(max(start.Sub(ready), 0).Seconds())
}

// JobFinished counts an attempt that ended, by the state it left the job
// in, and observes its run time. It has the signature of
// gantry.Hooks.Finished.
func (m *Metrics) JobFinished(j *store.Job, took time.Duration) {
	q, k := m.queues.value(j.Queue), m.kinds.value(j.Kind)
	m.finished.WithLabelValues(q, k, string(j.State)).Inc()
	m.run.WithLabelValues(q, k).Observe(max(took, 0).Seconds())
}

// ObserveHTTP counts a request to a route (the pattern that matched, as
// "GET /v1/jobs/{id}"; empty for none) that was answered with status after
// took. It has the signature of the HTTP API's Observe hook.
func (m *Metrics) ObserveHTTP(route string, status int, took time.Duration) {
	if route == "" {
		route = "unmatched"
	}
	r, code := m.routes.value(route), strconv.Itoa(status)
	m.httpRequests.WithLabelValues(r, code).Inc()
	m.httpDuration.WithLabelValues(r, code).Observe(took.Seconds())
}

// Problem counts a request answered with an error, by its problem code
// ("queue_full", "draining", "not_found", ...). It has the signature of
// the HTTP API's OnReject hook.
func (m *Metrics) Problem(code string) {
	m.problems.WithLabelValues(m.problemCodes.value(code)).Inc()
}

// limiter admits up to max distinct label values; the rest map to
// OtherLabel.
type limiter struct {
	mu   sync.RWMutex
	seen map[string]struct{}
	max  int
}

func newLimiter(n int) *limiter {
	return &limiter{seen: make(map[string]struct{}), max: n}
}

func (l *limiter) value(v string) string {
	l.mu.RLock()
	_, ok := l.seen[v]
	l.mu.RUnlock()
	if ok {
		return v
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.seen[v]; ok {
		return v
	}
	if len(l.seen) >= l.max {
		return OtherLabel
	}
	l.seen[v] = struct{}{}
	return v
}

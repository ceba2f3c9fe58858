package main

import (
	"strings"
	"time"
)

// The rows (workloads) in the order they run and print.
const (
	rowEnqueue = "enqueue"
	rowBatch   = "batch"
	rowE2E     = "e2e"
	rowSleep   = "sleep"
	rowPickup  = "pickup"
	rowBacklog = "backlog"
	rowSeed    = "seed"
)

var rowOrder = []string{rowEnqueue, rowBatch, rowE2E, rowSleep, rowPickup, rowBacklog, rowSeed}

// rowTitle describes a row in the table.
var rowTitle = map[string]string{
	rowEnqueue: "enqueue, one job per call, 64 goroutines",
	rowBatch:   "enqueue, batches of 1,000",
	rowE2E:     "end to end, no-op handler, 64 workers",
	rowSleep:   "end to end, 50 ms handler, 100 workers",
	rowPickup:  "pickup latency, idle queue, one job at a time",
	rowBacklog: "backlog of 1,000,000 jobs: work-off, 64 workers",
	rowSeed:    "1,000,000 HTTP requests in one minute, 50 ms jobs, 64 workers",
}

// Where a system keeps its jobs: what it needs from the machine.
const (
	needNone  = ""
	needPG    = "postgres"
	needRedis = "redis"
)

// system is one configuration of one queue.
type system struct {
	Name string `json:"name"`
	// Family groups the configurations of one queue: gantry, river,
	// asynq, seed.
	Family string `json:"family"`
	// Best marks the configuration a peer's ratios use.
	Best bool `json:"best"`
	// Settings says what is set, for the report.
	Settings string `json:"settings"`
	// Durability says what an acknowledged job survives.
	Durability string `json:"durability"`
	Needs      string `json:"-"`
	// AOF turns Redis persistence on for the run.
	AOF bool `json:"aof,omitempty"`
}

// The fetch settings the "best" configurations use. River documents
// FetchCooldown as the limit of its throughput and 1 ms as its minimum
// (FetchCooldownMin); FetchPollInterval is the fallback when LISTEN/NOTIFY
// brings no news, and must not be shorter than FetchCooldown. asynq's
// TaskCheckInterval is how long an idle processor sleeps between looks
// at an empty queue (default 1 s; "setting this value too low may add
// significant load to redis"); 1 ms, like River's minimum, gives asynq
// its lowest pickup latency at the price of about a thousand polls a
// second of an idle server.
const (
	riverBestCooldown     = time.Millisecond
	riverBestPollInterval = 50 * time.Millisecond
	asynqBestCheck        = time.Millisecond
)

var systems = []system{
	{Name: "gantry", Family: "gantry", Best: true, Settings: "embedded store (Pebble), defaults; workers per row",
		Durability: "fsynced before Enqueue returns (group commit)"},
	{Name: "gantry-pg", Family: "gantry", Best: true, Needs: needPG, Settings: "store/postgres, defaults (pool 16, LISTEN/NOTIFY); workers per row",
		Durability: "committed in PostgreSQL (fsync on, synchronous_commit on)"},
	{Name: "river-default", Family: "river", Needs: needPG, Settings: "River defaults: FetchCooldown 100ms, FetchPollInterval 1s; pgxpool of 16",
		Durability: "committed in PostgreSQL (fsync on, synchronous_commit on)"},
	{Name: "river-best", Family: "river", Best: true, Needs: needPG, Settings: "FetchCooldown 1ms (its minimum), FetchPollInterval 50ms; pgxpool of 16",
		Durability: "committed in PostgreSQL (fsync on, synchronous_commit on)"},
	{Name: "asynq-default", Family: "asynq", Needs: needRedis, Settings: "asynq defaults: TaskCheckInterval 1s; Redis persistence off",
		Durability: "none: in Redis memory only (save \"\", appendonly no)"},
	{Name: "asynq-best", Family: "asynq", Best: true, Needs: needRedis, Settings: "TaskCheckInterval 1ms; Redis persistence off",
		Durability: "none: in Redis memory only (save \"\", appendonly no)"},
	{Name: "asynq-aof", Family: "asynq-aof", Best: true, Needs: needRedis, AOF: true, Settings: "TaskCheckInterval 1ms; Redis appendonly yes, appendfsync everysec",
		Durability: "Redis AOF, fsynced once a second: up to 1 s of acknowledged jobs lost on a crash"},
	{Name: "gantry-http", Family: "gantry", Best: true, Settings: "`gantry serve --workers 64` (embedded store), built-in kind gantry.sleep",
		Durability: "fsynced before the 202"},
	{Name: "seed-goroutine", Family: "seed", Settings: "goroutine per request (seed 001, default mode)",
		Durability: "none: in memory"},
	{Name: "seed-channel", Family: "seed", Settings: "buffered channel, MAX_QUEUE 10000, one processor (seeds 000 and 001)",
		Durability: "none: in memory"},
	{Name: "seed-pool", Family: "seed", Settings: "chan chan Job dispatcher, MAX_QUEUE 10000, MAX_WORKERS 64 (seeds 000 and 001)",
		Durability: "none: in memory"},
}

// rowSystems lists the systems each row runs, in order. Fetch settings do
// not touch inserts, so the enqueue rows run each peer once (its
// defaults); asynq has no batch insert. The backlog row, the longest,
// runs each peer at its best settings only, and asynq without
// persistence only (the configuration the target names).
var rowSystems = map[string][]string{
	rowEnqueue: {"gantry", "gantry-pg", "river-default", "asynq-default", "asynq-aof"},
	rowBatch:   {"gantry", "gantry-pg", "river-default"},
	rowE2E:     {"gantry", "gantry-pg", "river-default", "river-best", "asynq-default", "asynq-best", "asynq-aof"},
	rowSleep:   {"gantry", "gantry-pg", "river-default", "river-best", "asynq-default", "asynq-best", "asynq-aof"},
	rowPickup:  {"gantry", "gantry-pg", "river-default", "river-best", "asynq-default", "asynq-best", "asynq-aof"},
	rowBacklog: {"gantry", "gantry-pg", "river-best", "asynq-best"},
	rowSeed:    {"gantry-http", "seed-goroutine", "seed-channel", "seed-pool"},
}

func systemByName(name string) (system, bool) {
	for _, s := range systems {
		if s.Name == name {
			return s, true
		}
	}
	return system{}, false
}

// sizes are the sizes of every row; full and quick are the two sets.
type sizes struct {
	Warmup     time.Duration `json:"warmup_ns"`
	EnqueueFor time.Duration `json:"enqueue_for_ns"`
	BatchFor   time.Duration `json:"batch_for_ns"`
	E2EJobs    int           `json:"e2e_jobs"`
	E2ECap     time.Duration `json:"e2e_cap_ns"`
	SleepJobs  int           `json:"sleep_jobs"`
	SleepCap   time.Duration `json:"sleep_cap_ns"`
	PickupN    int           `json:"pickup_samples"`
	PickupCap  time.Duration `json:"pickup_cap_ns"`
	BacklogN   int           `json:"backlog_jobs"`
	BacklogCap time.Duration `json:"backlog_cap_ns"`
	SeedRate   float64       `json:"seed_rate"`
	SeedFor    time.Duration `json:"seed_for_ns"`
	SeedWarmup time.Duration `json:"seed_warmup_ns"`
	SeedConns  int           `json:"seed_connections"`
}

// Fixed parameters of the rows.
const (
	enqueueGoroutines = 64
	batchSize         = 1000
	e2eWorkers        = 64
	sleepWorkers      = 100
	sleepFor          = 50 * time.Millisecond
	pickupWorkers     = 4
	pickupGap         = 10 * time.Millisecond
	backlogWorkers    = 64
	seedWorkers       = 64
	seedMaxQueue      = 10000
)

var fullSizes = sizes{
	Warmup:     time.Second,
	EnqueueFor: 5 * time.Second,
	BatchFor:   5 * time.Second,
	E2EJobs:    20000,
	E2ECap:     20 * time.Second,
	SleepJobs:  4000,
	SleepCap:   20 * time.Second,
	PickupN:    100,
	PickupCap:  10 * time.Second,
	BacklogN:   1000000,
	BacklogCap: 75 * time.Second,
	SeedRate:   1000000.0 / 60,
	SeedFor:    time.Minute,
	SeedWarmup: time.Second,
	SeedConns:  128,
}

var quickSizes = sizes{
	Warmup:     200 * time.Millisecond,
	EnqueueFor: time.Second,
	BatchFor:   time.Second,
	E2EJobs:    2000,
	E2ECap:     10 * time.Second,
	SleepJobs:  400,
	SleepCap:   10 * time.Second,
	PickupN:    10,
	PickupCap:  5 * time.Second,
	BacklogN:   5000,
	BacklogCap: 20 * time.Second,
	SeedRate:   2000,
	SeedFor:    time.Second,
	SeedWarmup: 200 * time.Millisecond,
	SeedConns:  32,
}

// spec is what a child process runs: one run of one row on one system.
type spec struct {
	Row    string `json:"row"`
	System string `json:"system"`
	Run    int    `json:"run"`
	// Phase splits the backlog row: "fill" enqueues, "drain" works off.
	Phase   string `json:"phase,omitempty"`
	Sizes   sizes  `json:"sizes"`
	PG      string `json:"pg,omitempty"`
	Schema  string `json:"schema,omitempty"`
	Redis   string `json:"redis,omitempty"`
	RedisDB int    `json:"redis_db,omitempty"`
	Dir     string `json:"dir,omitempty"`
	// Addr is where a seed server listens.
	Addr string `json:"addr,omitempty"`
}

// latency summarises latencies, in milliseconds for the JSON reader.
type latency struct {
	P50 float64 `json:"p50_ms"`
	P90 float64 `json:"p90_ms"`
	P99 float64 `json:"p99_ms"`
	Max float64 `json:"max_ms"`
}

// result is one run's outcome.
type result struct {
	Row    string    `json:"row"`
	System string    `json:"system"`
	Run    int       `json:"run"`
	Start  time.Time `json:"start"`
	// Jobs is how many jobs (or requests) were measured, in Elapsed.
	Jobs    int64         `json:"jobs"`
	Elapsed time.Duration `json:"elapsed_ns"`
	// Rate is Jobs per second of Elapsed.
	Rate    float64  `json:"rate"`
	Latency *latency `json:"latency,omitempty"`
	// PeakRSS is the peak resident set (VmHWM) of the process under test.
	PeakRSS int64 `json:"peak_rss_bytes,omitempty"`
	// ServerRSS is the largest resident set of redis-server seen during a
	// backlog run of asynq (the jobs live in its memory).
	ServerRSS int64 `json:"server_rss_bytes,omitempty"`
	// Fill is how long the backlog took to enqueue, in its own process.
	Fill time.Duration `json:"fill_ns,omitempty"`
	// Capped is set when the run hit its time cap before its jobs were
	// done; Rate is then the rate over the jobs done.
	Capped bool `json:"capped,omitempty"`
	// KeptUp, for the seed row: every scheduled request was answered 2xx
	// without the generator falling behind its timetable.
	KeptUp *bool `json:"kept_up,omitempty"`
	// Errors counts failed requests or enqueues; Non2xx answers other than 2xx.
	Errors int64            `json:"errors,omitempty"`
	Extra  map[string]any   `json:"extra,omitempty"`
	Err    string           `json:"error,omitempty"`
	Load   [3]float64       `json:"load_average_before"`
	Counts map[string]int64 `json:"statuses,omitempty"`
}

// matchOnly reports whether a row/system pair is selected by -only (a
// comma-separated list of rows and system names or name prefixes; empty
// selects everything).
func matchOnly(only []string, row, sys string) bool {
	var rows, syss []string
	for _, o := range only {
		if isRow(o) {
			rows = append(rows, o)
		} else {
			syss = append(syss, o)
		}
	}
	rowOK := len(rows) == 0
	for _, r := range rows {
		rowOK = rowOK || r == row
	}
	sysOK := len(syss) == 0
	for _, s := range syss {
		sysOK = sysOK || s == sys || strings.HasPrefix(sys, s+"-") || strings.HasPrefix(sys, s)
	}
	return rowOK && sysOK
}

func isRow(s string) bool {
	for _, r := range rowOrder {
		if r == s {
			return true
		}
	}
	return false
}

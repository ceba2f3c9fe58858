package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gantry-dev/gantry/bench/load"
	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/server"
)

// The targets httpbench checks, from the issue that asked for
// it. They are set for the documented settings: 64 connections and an open
// loop at 10,000 requests/s.
const (
	// benchTargetThroughput is the least durable enqueues per second in
	// the closed loop.
	benchTargetThroughput = 25000
	// benchTargetRatio is the least Gantry/baseline throughput ratio.
	benchTargetRatio = 0.55
	// benchTargetP99 bounds the p99 latency of the open loop.
	benchTargetP99 = 5 * time.Millisecond
	// benchDefaultRate is the default --rate of the open loop.
	benchDefaultRate = 10000
)

const benchHTTPHelp = `
Measures Gantry's HTTP enqueue path: POST /v1/jobs with a job of kind
bench.noop and about 200 bytes of args, from many keep-alive connections.

Without --target it starts, in this process and on loopback ports, a Gantry
server built as 'gantry serve' builds it (the embedded store in a temporary
directory or --data-dir, the real HTTP API, metrics included) with no
in-process handlers, so the jobs accumulate in the store; and a bare
net/http server that reads the body and answers 202 with a small JSON body
{"id":"...","state":"available"} (the baseline). Every 202 from Gantry is
durable: the embedded store fsyncs the job before the answer is sent. Then,
each after a warm-up:

  1. closed loop (--connections sending back to back) against the baseline
  2. closed loop against Gantry
  3. open loop at --rate requests/s against Gantry, latency measured from
     each request's intended send time (no coordinated omission)

and it prints requests/s, latency percentiles (from an HDR histogram), the
Gantry/baseline ratio and whether each target is met: at least 25,000
durable enqueues/s with 64 connections, a ratio of at least 0.55, and a p99
under 5 ms at 10,000 requests/s. The load generator runs in the same process
and shares the CPUs with the servers, as the baseline does.

With --target URL it measures that server (POST to its /v1/jobs) instead;
the baseline still runs in this process unless --baseline=false.

--cpuprofile writes a CPU profile of the runs; its samples are labelled
side=gantry, side=baseline or side=load, e.g.:

  go tool pprof -top -tagfocus side=gantry FILE`

// benchFlags are the flags of httpbench.
type benchFlags struct {
	target      string
	token       string
	connections int
	duration    time.Duration
	warmup      time.Duration
	rate        float64
	baseline    bool
	json        bool
	cpuprofile  string
	trace       string
	dataDir     string
	logLevel    slog.Level
}

func (f *benchFlags) register(e *env, fs *flag.FlagSet) {
	fs.StringVar(&f.target, "target", "", "measure the Gantry server at this `URL` instead of one started in-process")
	fs.StringVar(&f.token, "token", e.getenv("GANTRY_TOKEN"), "bearer `token` for --target (env GANTRY_TOKEN)")
	fs.IntVar(&f.connections, "connections", load.DefaultConnections, "keep-alive connections of the load generator")
	fs.DurationVar(&f.duration, "duration", load.DefaultDuration, "measured `duration` of each run")
	fs.DurationVar(&f.warmup, "warmup", load.DefaultWarmup, "warm-up before each run, not measured")
	fs.Float64Var(&f.rate, "rate", benchDefaultRate, "requests/s of the open-loop run; 0 skips it")
	fs.BoolVar(&f.baseline, "baseline", true, "also measure a bare net/http server, for the ratio")
	fs.BoolVar(&f.json, "json", false, "print the results as JSON")
	fs.StringVar(&f.cpuprofile, "cpuprofile", "", "write a CPU profile of the runs to `file`")
	fs.StringVar(&f.trace, "trace", "", "write a runtime execution trace of the runs to `file` (go tool trace)")
	f.logLevel = slog.LevelWarn
	fs.TextVar(&f.logLevel, "log-level", f.logLevel, "least `level` the in-process server logs: debug, info, warn or error")
	fs.StringVar(&f.dataDir, "data-dir", "", "`dir`ectory of the in-process server's store (default: a temporary directory, removed afterwards)")
}

func (f *benchFlags) check() error {
	switch {
	case f.connections < 1 || f.connections > 10000:
		return usageErrorf("--connections %d must be between 1 and 10000", f.connections)
	case f.duration <= 0:
		return usageErrorf("--duration %v must be positive", f.duration)
	case f.warmup < 0:
		return usageErrorf("--warmup %v must not be negative", f.warmup)
	case f.rate < 0:
		return usageErrorf("--rate %v must not be negative", f.rate)
	case f.rate > 0 && f.rate*f.duration.Seconds() < 1:
		return usageErrorf("--rate %v schedules no request in --duration %v", f.rate, f.duration)
	case f.target != "" && f.dataDir != "":
		return usageErrorf("--data-dir is for the in-process server; it does not go with --target")
	}
	return nil
}

// benchReport is the output of httpbench, as JSON with --json.
type benchReport struct {
	Machine  benchMachine  `json:"machine"`
	Settings benchSettings `json:"settings"`
	Gantry   benchServer   `json:"gantry"`
	Baseline *benchServer  `json:"baseline,omitempty"`
	Runs     []benchRun    `json:"runs"`
	// Ratio is Gantry's closed-loop throughput over the baseline's.
	Ratio   float64       `json:"ratio,omitempty"`
	Targets []benchTarget `json:"targets"`
}

type benchMachine struct {
	CPUs       int     `json:"cpus"`
	GOMAXPROCS int     `json:"gomaxprocs"`
	CPUModel   string  `json:"cpu_model,omitempty"`
	Go         string  `json:"go"`
	OS         string  `json:"os"`
	Arch       string  `json:"arch"`
	LoadBefore float64 `json:"load_average_before"`
	LoadAfter  float64 `json:"load_average_after"`
}

type benchSettings struct {
	Connections int           `json:"connections"`
	Duration    time.Duration `json:"duration_ns"`
	Warmup      time.Duration `json:"warmup_ns"`
	Rate        float64       `json:"rate"`
	BodyBytes   int           `json:"body_bytes"`
	Kind        string        `json:"kind"`
}

// benchServer describes a server under test.
type benchServer struct {
	URL         string `json:"url"`
	InProcess   bool   `json:"in_process"`
	Description string `json:"description"`
	// Durable: every 202 was committed to disk before it was sent.
	Durable bool   `json:"durable"`
	DataDir string `json:"data_dir,omitempty"`
}

// benchRun is one run of the load generator.
type benchRun struct {
	Name    string        `json:"name"`
	Server  string        `json:"server"`
	Runtime *benchRuntime `json:"runtime"`
	// Others is the CPU, in cores, other processes of the machine used
	// during the measured window: above 0.1, they competed with the run.
	Others float64 `json:"other_processes_cores"`
	*load.Result
}

// benchRuntime is what the Go runtime of this process (servers and load
// generator together) did during a run, warm-up included.
type benchRuntime struct {
	GCCycles   uint64        `json:"gc_cycles"`
	GCPauseMax time.Duration `json:"gc_pause_max_ns"`
	// GCCPU is the CPU time spent on garbage collection, over the run's
	// CPU capacity (GOMAXPROCS x its length).
	GCCPU float64 `json:"gc_cpu_share"`
	// Idle is the share of the CPU capacity no goroutine used.
	Idle float64 `json:"idle_share"`
	// SchedP99 and SchedMax are the time goroutines waited, runnable, for
	// a CPU: a p99 in milliseconds means the CPUs were saturated.
	SchedP50 time.Duration `json:"sched_latency_p50_ns"`
	SchedP99 time.Duration `json:"sched_latency_p99_ns"`
	SchedMax time.Duration `json:"sched_latency_max_ns"`
}

// The runtime/metrics a benchRuntime is computed from.
var benchMetrics = []string{
	"/gc/cycles/total:gc-cycles",
	"/sched/pauses/total/gc:seconds",
	"/cpu/classes/gc/total:cpu-seconds",
	"/cpu/classes/idle:cpu-seconds",
	"/cpu/classes/total:cpu-seconds",
	"/sched/latencies:seconds",
}

func readRuntime() []metrics.Sample {
	samples := make([]metrics.Sample, len(benchMetrics))
	for i, name := range benchMetrics {
		samples[i].Name = name
	}
	metrics.Read(samples)
	return samples
}

// runtimeBetween returns what the runtime did between two readRuntime.
func runtimeBetween(before, after []metrics.Sample) *benchRuntime {
	f := func(i int) float64 {
		if after[i].Value.Kind() != metrics.KindFloat64 {
			return 0
		}
		return after[i].Value.Float64() - before[i].Value.Float64()
	}
	rt := &benchRuntime{}
	if after[0].Value.Kind() == metrics.KindUint64 {
		rt.GCCycles = after[0].Value.Uint64() - before[0].Value.Uint64()
	}
	if total := f(4); total > 0 {
		rt.GCCPU, rt.Idle = f(2)/total, f(3)/total
	}
	_, _, rt.GCPauseMax = histogramBetween(before[1], after[1])
	rt.SchedP50, rt.SchedP99, rt.SchedMax = histogramBetween(before[5], after[5])
	return rt
}

// histogramBetween returns the p50, p99 and max (upper bounds of their
// buckets) of what a runtime/metrics histogram of seconds recorded between
// two samples.
func histogramBetween(before, after metrics.Sample) (p50, p99, most time.Duration) {
	if after.Value.Kind() != metrics.KindFloat64Histogram || before.Value.Kind() != metrics.KindFloat64Histogram {
		return 0, 0, 0
	}
	a, b := after.Value.Float64Histogram(), before.Value.Float64Histogram()
	if len(a.Counts) != len(b.Counts) {
		return 0, 0, 0
	}
	counts := make([]uint64, len(a.Counts))
	var total uint64
	for i := range counts {
		counts[i] = a.Counts[i] - b.Counts[i]
		total += counts[i]
	}
	if total == 0 {
		return 0, 0, 0
	}
	upper := func(i int) time.Duration {
		v := a.Buckets[i+1]
		if math.IsInf(v, 1) {
			v = a.Buckets[i]
		}
		return time.Duration(v * float64(time.Second))
	}
	at := func(q float64) time.Duration {
		var seen uint64
		for i, c := range counts {
			seen += c
			if float64(seen) >= q*float64(total) {
				return upper(i)
			}
		}
		return upper(len(counts) - 1)
	}
	for i := len(counts) - 1; i >= 0; i-- {
		if counts[i] > 0 {
			most = upper(i)
			break
		}
	}
	return at(0.50), at(0.99), most
}

type benchTarget struct {
	Name  string  `json:"name"`
	Want  string  `json:"want"`
	Value float64 `json:"value"`
	Shown string  `json:"shown"`
	Met   bool    `json:"met"`
	Note  string  `json:"note,omitempty"`
}

func runBenchHTTP(ctx context.Context, e *env, args []string) error {
	var f benchFlags
	fs := newFlagSet(e)
	f.register(e, fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := f.check(); err != nil {
		return err
	}
	rep := &benchReport{
		Machine: machine(),
		Settings: benchSettings{
			Connections: f.connections, Duration: f.duration, Warmup: f.warmup, Rate: f.rate,
			BodyBytes: len(load.DefaultBody()), Kind: load.Kind,
		},
	}
	progress := func(format string, args ...any) { fmt.Fprintf(e.stderr, format+"\n", args...) }

	var gantryURL string
	header := http.Header{}
	if f.target != "" {
		u, err := jobsURL(f.target)
		if err != nil {
			return err
		}
		gantryURL = u
		if f.token != "" {
			header.Set("Authorization", "Bearer "+f.token)
		}
		rep.Gantry = benchServer{URL: u, Description: "the server at --target; with the embedded or the PostgreSQL store, a 202 means the job was committed durably"}
	} else {
		g, err := startBenchGantry(ctx, f.dataDir, server.NewLogger(e.stderr, config.DefaultLogFormat, f.logLevel))
		if err != nil {
			return err
		}
		defer func() {
			if err := g.stop(); err != nil {
				progress("stopping the in-process server: %v", err)
			}
		}()
		gantryURL = g.url
		rep.Gantry = benchServer{
			URL: g.url, InProcess: true, Durable: true, DataDir: g.dataDir,
			Description: "gantry serve in this process: the HTTP API and metrics on the embedded store, no in-process handlers (the jobs accumulate); every 202 was fsynced before it was sent",
		}
	}
	var baselineURL string
	if f.baseline {
		b, err := startBaseline()
		if err != nil {
			return err
		}
		defer b.stop()
		baselineURL = b.url
		rep.Baseline = &benchServer{URL: b.url, InProcess: true,
			Description: `bare net/http in this process: reads the body, answers 202 {"id":"...","state":"available"}; stores nothing`}
	}

	stopProfile, err := record(f.cpuprofile, pprof.StartCPUProfile, pprof.StopCPUProfile)
	if err != nil {
		return err
	}
	defer stopProfile()
	stopTrace, err := record(f.trace, trace.Start, trace.Stop)
	if err != nil {
		return err
	}
	defer stopTrace()

	each := f.warmup + f.duration
	run := func(name, server, url string, rate float64) error {
		mode := fmt.Sprintf("closed loop, %d connections", f.connections)
		if rate > 0 {
			mode = fmt.Sprintf("open loop, %s requests/s", thousands(rate))
		}
		progress("%s: %s for %v (%v warm-up)...", name, mode, each, f.warmup)
		h := header
		if server == "baseline" {
			h = nil
		}
		cfg := &load.Config{URL: url, Header: h, Connections: f.connections, Rate: rate, Duration: f.duration, Warmup: f.warmup}
		if f.warmup == 0 {
			cfg.Warmup = -1
		}
		var res *load.Result
		var err error
		before := readRuntime()
		pprof.Do(ctx, pprof.Labels("side", "load"), func(ctx context.Context) {
			res, err = load.Run(ctx, cfg)
		})
		if err != nil {
			return err
		}
		rt := runtimeBetween(before, readRuntime())
		rep.Runs = append(rep.Runs, benchRun{Name: name, Server: server, Runtime: rt, Others: others(res), Result: res})
		return nil
	}
	if baselineURL != "" {
		if err := run("baseline closed", "baseline", baselineURL, 0); err != nil {
			return err
		}
	}
	if err := run("gantry closed", "gantry", gantryURL, 0); err != nil {
		return err
	}
	if f.rate > 0 {
		if err := run("gantry open", "gantry", gantryURL, f.rate); err != nil {
			return err
		}
	}
	rep.Machine.LoadAfter = loadAverage()
	rep.evaluate()

	if f.json {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	rep.print(e.stdout)
	return nil
}

// record starts a recording (a CPU profile, an execution trace) into the
// file at path, and returns what stops it and closes the file. With no
// path it records nothing.
func record(path string, start func(io.Writer) error, stop func()) (func(), error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := start(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		stop()
		f.Close()
	}, nil
}

// jobsURL returns the enqueue URL of the server at target.
func jobsURL(target string) (string, error) {
	u, err := url.Parse(strings.TrimRight(target, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", usageErrorf("--target %q: want an http:// or https:// URL", target)
	}
	if u.Path == "" {
		u.Path = "/v1/jobs"
	}
	return u.String(), nil
}

// benchGantry is a Gantry server running in this process.
type benchGantry struct {
	url     string
	dataDir string
	temp    bool // dataDir is ours to remove
	cancel  context.CancelFunc
	done    chan error
}

// startBenchGantry starts the server `gantry serve` would run, on a
// loopback port, with no handlers, and waits until it answers.
func startBenchGantry(ctx context.Context, dataDir string, log *slog.Logger) (*benchGantry, error) {
	g := &benchGantry{dataDir: dataDir, done: make(chan error, 1)}
	if dataDir == "" {
		dir, err := os.MkdirTemp("", "gantry-bench-")
		if err != nil {
			return nil, err
		}
		g.dataDir, g.temp = dir, true
	}
	cfg := config.DefaultServe()
	cfg.Addr = "127.0.0.1:0"
	cfg.DataDir = g.dataDir
	cfg.Demo = false
	cfg.DrainDelay = 0
	var err error
	// Every goroutine of the server (connections, the store's committer,
	// Pebble's flushes and compactions) descends from this one and
	// carries its label in CPU profiles.
	pprof.Do(ctx, pprof.Labels("side", "gantry"), func(ctx context.Context) {
		var s *server.Server
		if s, err = server.Open(ctx, cfg, &server.Options{Logger: log}); err != nil {
			return
		}
		g.url = "http://" + s.Addr().String() + "/v1/jobs"
		var runCtx context.Context
		runCtx, g.cancel = context.WithCancel(context.WithoutCancel(ctx))
		go func() { g.done <- s.Run(runCtx) }()
	})
	if err != nil {
		g.removeDir()
		return nil, err
	}
	if err := waitReady(ctx, strings.TrimSuffix(g.url, "/v1/jobs")+"/readyz", g.done); err != nil {
		g.stop()
		return nil, err
	}
	return g, nil
}

// waitReady waits until GET url answers 200, or the server stops.
func waitReady(ctx context.Context, url string, done <-chan error) error {
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	// The listener is open: the request waits in its backlog until the
	// server serves it, or fails when the server gives up.
	resp, err := hc.Do(req)
	if err != nil {
		select {
		case runErr := <-done:
			return fmt.Errorf("starting the in-process server: %w", errors.Join(runErr, err))
		default:
			return fmt.Errorf("starting the in-process server: %w", err)
		}
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("starting the in-process server: %s answered %s", url, resp.Status)
	}
	return nil
}

// stop shuts the server down gracefully and removes a temporary data
// directory.
func (g *benchGantry) stop() error {
	var err error
	if g.cancel != nil {
		g.cancel()
		err = <-g.done
		g.cancel = nil
	}
	g.removeDir()
	return err
}

func (g *benchGantry) removeDir() {
	if g.temp {
		os.RemoveAll(g.dataDir)
		g.temp = false
	}
}

// benchBaseline is the bare net/http server.
type benchBaseline struct {
	url  string
	srv  *http.Server
	done chan error
}

func startBaseline() (*benchBaseline, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	b := &benchBaseline{
		url: "http://" + ln.Addr().String() + "/v1/jobs",
		// The timeouts of gantry serve, which cost nothing per request.
		srv: &http.Server{
			Handler:           load.Baseline(),
			ReadHeaderTimeout: server.ReadHeaderTimeout,
			ReadTimeout:       server.ReadTimeout,
			IdleTimeout:       server.IdleTimeout,
			MaxHeaderBytes:    server.MaxHeaderBytes,
		},
		done: make(chan error, 1),
	}
	pprof.Do(context.Background(), pprof.Labels("side", "baseline"), func(context.Context) {
		go func() { b.done <- b.srv.Serve(ln) }()
	})
	return b, nil
}

func (b *benchBaseline) stop() {
	b.srv.Close()
	<-b.done
}

// evaluate computes the ratio and checks the targets.
func (r *benchReport) evaluate() {
	find := func(name string) *load.Result {
		for _, run := range r.Runs {
			if run.Name == name {
				return run.Result
			}
		}
		return nil
	}
	closed, open, base := find("gantry closed"), find("gantry open"), find("baseline closed")
	settings := ""
	if r.Settings.Connections != load.DefaultConnections {
		settings = fmt.Sprintf("the target is set for %d connections", load.DefaultConnections)
	}
	if closed != nil {
		t := benchTarget{
			Name:  "durable enqueues/s, closed loop",
			Want:  ">= " + thousands(benchTargetThroughput),
			Value: closed.Throughput,
			Shown: thousands(closed.Throughput),
			Met:   closed.Throughput >= benchTargetThroughput && clean(closed),
			Note:  joinNotes(settings, uncleanNote(closed)),
		}
		r.Targets = append(r.Targets, t)
	}
	if closed != nil && base != nil && base.Throughput > 0 {
		r.Ratio = closed.Throughput / base.Throughput
		r.Targets = append(r.Targets, benchTarget{
			Name:  "gantry/baseline, same run",
			Want:  fmt.Sprintf(">= %.2f", benchTargetRatio),
			Value: r.Ratio,
			Shown: fmt.Sprintf("%.3f", r.Ratio),
			Met:   r.Ratio >= benchTargetRatio && clean(closed) && clean(base),
			Note:  joinNotes(uncleanNote(closed), uncleanNote(base)),
		})
	}
	if open != nil {
		var notes []string
		if open.Rate != benchDefaultRate {
			notes = append(notes, fmt.Sprintf("the target is set for %s/s", thousands(benchDefaultRate)))
		}
		if open.Unsent > 0 {
			notes = append(notes, fmt.Sprintf("%s requests never sent: the server did not keep up", thousands(float64(open.Unsent))))
		}
		notes = append(notes, uncleanNote(open))
		r.Targets = append(r.Targets, benchTarget{
			Name:  fmt.Sprintf("p99 at %s requests/s, open loop", thousands(open.Rate)),
			Want:  "< " + ms(benchTargetP99),
			Value: float64(open.Latency.P99) / float64(time.Millisecond),
			Shown: ms(open.Latency.P99),
			Met:   open.Latency.P99 < benchTargetP99 && open.Unsent == 0 && clean(open),
			Note:  joinNotes(notes...),
		})
	}
}

// disturbed is the CPU other processes may use during a run, in cores,
// before the output warns that they competed with it.
const disturbed = 0.1

// others returns the cores other processes used during the run's window.
func others(r *load.Result) float64 {
	return (r.MachineCPU - r.CPU).Seconds() / r.Duration.Seconds()
}

// clean reports whether every measured request was answered 2xx.
func clean(r *load.Result) bool {
	return r.Requests > 0 && r.Errors == 0 && r.OK() == r.Requests
}

func uncleanNote(r *load.Result) string {
	if clean(r) {
		return ""
	}
	return fmt.Sprintf("%s of %s requests were not answered 2xx", thousands(float64(r.Requests-r.OK())), thousands(float64(r.Requests)))
}

func joinNotes(notes ...string) string {
	return strings.Join(slices.DeleteFunc(notes, func(s string) bool { return s == "" }), "; ")
}

func (r *benchReport) print(w io.Writer) {
	m := r.Machine
	fmt.Fprintf(w, "machine:   %d CPUs (GOMAXPROCS %d), %s, %s %s/%s, load average %.2f before, %.2f after\n",
		m.CPUs, m.GOMAXPROCS, m.CPUModel, m.Go, m.OS, m.Arch, m.LoadBefore, m.LoadAfter)
	fmt.Fprintf(w, "gantry:    %s\n           %s\n", r.Gantry.URL, r.Gantry.Description)
	if r.Gantry.DataDir != "" {
		fmt.Fprintf(w, "           store in %s\n", r.Gantry.DataDir)
	}
	if r.Baseline != nil {
		fmt.Fprintf(w, "baseline:  %s\n", r.Baseline.Description)
	}
	s := r.Settings
	fmt.Fprintf(w, "load:      in this process, sharing the CPUs; %d keep-alive connections, %v warm-up + %v measured per run;\n",
		s.Connections, s.Warmup, s.Duration)
	fmt.Fprintf(w, "           POST /v1/jobs, kind %s, %d-byte body\n\n", s.Kind, s.BodyBytes)

	tw := table(w)
	fmt.Fprintln(tw, "RUN\tREQ/S\tP50\tP90\tP99\tP99.9\tMAX\tANSWERS\tCPU")
	for _, run := range r.Runs {
		res := run.Result
		name := run.Name
		if res.Mode == load.Open {
			name = fmt.Sprintf("%s %s/s", name, thousands(res.Rate))
		}
		cpu := "-"
		if res.CPU > 0 {
			cpu = fmt.Sprintf("%.2f cores", res.CPU.Seconds()/res.Duration.Seconds())
			if res.MachineCPU > 0 {
				cpu += fmt.Sprintf(" (+%.2f others)", max(0, others(res)))
			}
		}
		l := res.Latency
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", name, thousands(res.Throughput),
			ms(l.P50), ms(l.P90), ms(l.P99), ms(l.P999), ms(l.Max), answers(res), cpu)
	}
	tw.Flush()
	for _, run := range r.Runs {
		if t := run.Slowest(); t.Max > 0 {
			fmt.Fprintf(w, "%s: slowest %v at +%v: %s requests, max %s\n", run.Name, load.TimelineStep, t.At, thousands(float64(t.Requests)), ms(t.Max))
		}
		if res := run.Result; res.Mode == load.Open {
			fmt.Fprintf(w, "%s: %s scheduled, %s unsent; sent late by p50 %s, p99 %s, max %s (latency counts from the scheduled time)\n",
				run.Name, thousands(float64(res.Scheduled)), thousands(float64(res.Unsent)),
				ms(res.SendLag.P50), ms(res.SendLag.P99), ms(res.SendLag.Max))
		}
		if o := others(run.Result); o > disturbed {
			fmt.Fprintf(w, "%s: WARNING: other processes used %.2f cores during the run; its figures are not this machine's best\n", run.Name, o)
		}
		if rt := run.Runtime; rt != nil {
			fmt.Fprintf(w, "%s: Go runtime (whole process, warm-up included): %d GCs, %.0f%% of CPU in GC, %.0f%% idle, pauses up to %s; goroutines waited for a CPU p50 %s, p99 %s, max %s\n",
				run.Name, rt.GCCycles, 100*rt.GCCPU, 100*rt.Idle, ms(rt.GCPauseMax), ms(rt.SchedP50), ms(rt.SchedP99), ms(rt.SchedMax))
		}
		for _, e := range run.ErrorSamples {
			fmt.Fprintf(w, "%s: error: %s\n", run.Name, e)
		}
	}
	fmt.Fprintln(w)
	if len(r.Targets) == 0 {
		return
	}
	tw = table(w)
	fmt.Fprintln(tw, "TARGET\tWANT\tGOT\tMET")
	for _, t := range r.Targets {
		met := "no"
		if t.Met {
			met = "yes"
		}
		if t.Note != "" {
			met += " (" + t.Note + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.Name, t.Want, t.Shown, met)
	}
	tw.Flush()
}

// answers lists the statuses and errors of a run: "202 x 250,123".
func answers(r *load.Result) string {
	codes := make([]int, 0, len(r.Statuses))
	for c := range r.Statuses {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	var parts []string
	for _, c := range codes {
		parts = append(parts, fmt.Sprintf("%d x %s", c, thousands(float64(r.Statuses[c]))))
	}
	if r.Errors > 0 {
		parts = append(parts, fmt.Sprintf("errors x %s", thousands(float64(r.Errors))))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// ms formats d in milliseconds.
func ms(d time.Duration) string {
	v := float64(d) / float64(time.Millisecond)
	if v < 10 {
		return strconv.FormatFloat(v, 'f', 2, 64) + "ms"
	}
	return strconv.FormatFloat(v, 'f', 1, 64) + "ms"
}

// thousands formats v rounded to an integer with comma separators.
func thousands(v float64) string {
	s := strconv.FormatInt(int64(v+0.5), 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func machine() benchMachine {
	return benchMachine{
		CPUs:       runtime.NumCPU(),
		GOMAXPROCS: runtime.GOMAXPROCS(0),
		CPUModel:   cpuModel(),
		Go:         runtime.Version(),
		OS:         runtime.GOOS,
		Arch:       runtime.GOARCH,
		LoadBefore: loadAverage(),
	}
}

// cpuModel returns the first "model name" of /proc/cpuinfo, "" elsewhere.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// loadAverage returns the one-minute load average, 0 where unknown.
func loadAverage() float64 {
	b, err := os.ReadFile(filepath.Join("/proc", "loadavg"))
	if err != nil {
		return 0
	}
	fields := strings.Fields(string(b))
	if len(fields) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(fields[0], 64)
	return v
}

// table returns a writer that aligns tab-separated columns; Flush it.
func table(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
}

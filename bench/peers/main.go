package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gantry-dev/gantry/bench/load"
)

// options are the command's flags.
type options struct {
	quick    bool
	only     []string
	runs     int
	out      string
	img      string
	pg       string
	redis    string
	redisDB  int
	gantry   string
	repo     string
	waitLoad float64
	waitMax  time.Duration
	// sizes, when set, replace the full or quick sizes (tests).
	sizes *sizes
}

func main() {
	log.SetFlags(0)
	var o options
	var only, child string
	flag.BoolVar(&o.quick, "quick", false, "smoke mode: small sizes, one run per row")
	flag.StringVar(&only, "only", "", "comma-separated rows and/or systems to run (rows: "+strings.Join(rowOrder, ",")+")")
	flag.IntVar(&o.runs, "runs", 0, "runs per row and system (default 3, or 1 with -quick)")
	flag.StringVar(&o.out, "out", "out", "directory for runs.json, results.md and the plots")
	flag.StringVar(&o.img, "img", "", "directory the PNG plots are also copied to (e.g. ../../docs/img)")
	flag.StringVar(&o.pg, "pg", envOr("PEERS_PG", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"), "PostgreSQL URL (env PEERS_PG)")
	flag.StringVar(&o.redis, "redis", envOr("PEERS_REDIS", "127.0.0.1:6379"), "Redis address (env PEERS_REDIS)")
	flag.IntVar(&o.redisDB, "redis-db", 13, "Redis database the harness uses and flushes")
	flag.StringVar(&o.gantry, "gantry", "", "gantry binary for the seed row (default: go build ../../cmd/gantry into -out)")
	flag.StringVar(&o.repo, "repo", "../..", "the Gantry repository (for building the binary and its commit)")
	flag.Float64Var(&o.waitLoad, "wait-load", 0, "before measuring, wait until the 1-minute load average is below this (0: do not wait)")
	flag.DurationVar(&o.waitMax, "wait-max", 15*time.Minute, "give up waiting for -wait-load after this long, and run anyway")
	flag.StringVar(&child, "child", "", "internal: run one spec (JSON) in this process")
	var from string
	flag.StringVar(&from, "from", "", "write the tables and plots of an earlier run's runs.json instead of running")
	flag.Parse()

	if child != "" {
		os.Exit(childMain(child))
	}
	if only != "" {
		o.only = strings.Split(only, ",")
	}
	if from != "" {
		if err := rerender(from, &o, os.Stdout); err != nil {
			log.Fatal("peers: ", err)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, &o, os.Stdout); err != nil {
		log.Fatal("peers: ", err)
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// childMain runs one spec and prints its result as JSON on stdout.
func childMain(specJSON string) int {
	var sp spec
	if err := json.Unmarshal([]byte(specJSON), &sp); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if sp.Row == rowSeed {
		if err := serveSeed(ctx, &sp); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			return 1
		}
		return 0
	}
	res, err := runChild(ctx, &sp)
	if err != nil {
		res.Err = err.Error()
	}
	b, _ := json.Marshal(res)
	fmt.Println(string(b))
	return 0
}

// report is everything a run of the harness writes to runs.json.
type report struct {
	Started  time.Time         `json:"started"`
	Finished time.Time         `json:"finished"`
	Command  string            `json:"command"`
	Quick    bool              `json:"quick"`
	Runs     int               `json:"runs_per_row"`
	Machine  map[string]any    `json:"machine"`
	Versions map[string]string `json:"versions"`
	Systems  []system          `json:"systems"`
	Sizes    sizes             `json:"sizes"`
	Skipped  map[string]string `json:"skipped,omitempty"`
	Results  []*result         `json:"results"`
}

// harness holds what the runs of one invocation share.
type harness struct {
	o       *options
	sz      sizes
	self    string
	pgOK    bool
	redisOK bool
	rctl    *redisCtl
	gantry  string
	log     io.Writer
}

func run(ctx context.Context, o *options, w io.Writer) error {
	if o.runs == 0 {
		o.runs = 3
		if o.quick {
			o.runs = 1
		}
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	h := &harness{o: o, sz: fullSizes, self: self, log: w}
	if o.quick {
		h.sz = quickSizes
	}
	if o.sizes != nil {
		h.sz = *o.sizes
	}
	rep := &report{
		Started:  time.Now().UTC(),
		Command:  strings.Join(os.Args, " "),
		Quick:    o.quick,
		Runs:     o.runs,
		Sizes:    h.sz,
		Systems:  systems,
		Skipped:  map[string]string{},
		Versions: versions(o.repo),
	}

	// The servers the peers need: say when one is missing, and skip it.
	if v, err := pgCheck(ctx, o.pg); err != nil {
		rep.Skipped[needPG] = fmt.Sprintf("PostgreSQL at %s is not reachable (%v): skipping gantry-pg and River", redactURL(o.pg), err)
		fmt.Fprintln(w, "peers: "+rep.Skipped[needPG])
	} else {
		h.pgOK = true
		rep.Versions["postgresql"] = v
		_ = dropPeerSchemas(ctx, o.pg)
	}
	h.rctl = newRedisCtl(o.redis, o.redisDB)
	if v, err := h.rctl.check(ctx); err != nil {
		rep.Skipped[needRedis] = fmt.Sprintf("Redis at %s is not reachable (%v): skipping asynq", o.redis, err)
		fmt.Fprintln(w, "peers: "+rep.Skipped[needRedis])
	} else {
		h.redisOK = true
		rep.Versions["redis"] = v
		defer func() {
			if err := h.rctl.setAOF(context.WithoutCancel(ctx), false); err != nil {
				fmt.Fprintln(w, "peers: could not restore Redis persistence settings:", err)
			}
			_ = h.rctl.flush(context.WithoutCancel(ctx))
		}()
	}

	selected := h.selected()
	if len(selected) == 0 {
		return errors.New("-only selects no row and system")
	}
	if slices.ContainsFunc(selected, func(p [2]string) bool { return p[0] == rowSeed && p[1] == "gantry-http" }) {
		if h.gantry, err = h.buildGantry(ctx); err != nil {
			return err
		}
	}

	if o.waitLoad > 0 {
		waitForLoad(ctx, w, o.waitLoad, o.waitMax)
	}
	rep.Machine = machine()
	fmt.Fprintf(w, "peers: %d row/system pairs, %d run(s) each; load average %v\n", len(selected), o.runs, rep.Machine["load_average_before"])

	for _, row := range rowOrder {
		var syss []string
		for _, p := range selected {
			if p[0] == row {
				syss = append(syss, p[1])
			}
		}
		if len(syss) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n== %s: %s\n", row, rowTitle[row])
		// Runs are interleaved (run 1 of every system, then run 2...) so
		// that a disturbance of the machine does not fall on one system.
		for r := 1; r <= o.runs; r++ {
			for _, name := range syss {
				if err := ctx.Err(); err != nil {
					return err
				}
				sys, _ := systemByName(name)
				if why := h.unavailable(sys); why != "" {
					if r == 1 {
						fmt.Fprintf(w, "  %-15s skipped: %s\n", name, why)
					}
					continue
				}
				res := h.runOne(ctx, row, sys, r)
				rep.Results = append(rep.Results, res)
				fmt.Fprintln(w, "  "+describe(res))
			}
		}
	}
	rep.Finished = time.Now().UTC()
	rep.Machine["load_average_after"] = loadAverage()
	rep.Machine["duration"] = rep.Finished.Sub(rep.Started).Round(time.Second).String()
	return writeReport(rep, o, w)
}

// rerender writes the tables and plots of a runs.json again.
func rerender(path string, o *options, w io.Writer) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var rep report
	if err := json.Unmarshal(b, &rep); err != nil {
		return err
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	return writeReport(&rep, o, w)
}

// selected lists the (row, system) pairs -only selects. When it names
// systems but no Gantry one, the Gantry systems of the rows those systems
// run in are added, for the ratios.
func (h *harness) selected() [][2]string {
	named := slices.ContainsFunc(h.o.only, func(s string) bool { return !isRow(s) })
	gantryNamed := slices.ContainsFunc(h.o.only, func(s string) bool { return strings.HasPrefix(s, "gantry") })
	var out [][2]string
	for _, row := range rowOrder {
		var pairs [][2]string
		peer := false
		for _, name := range rowSystems[row] {
			if matchOnly(h.o.only, row, name) {
				pairs = append(pairs, [2]string{row, name})
				peer = peer || !strings.HasPrefix(name, "gantry")
			}
		}
		if named && !gantryNamed && peer {
			pairs = pairs[:0]
			for _, name := range rowSystems[row] {
				if strings.HasPrefix(name, "gantry") || matchOnly(h.o.only, row, name) {
					pairs = append(pairs, [2]string{row, name})
				}
			}
		}
		out = append(out, pairs...)
	}
	return out
}

func (h *harness) unavailable(sys system) string {
	switch {
	case sys.Needs == needPG && !h.pgOK:
		return "PostgreSQL is not reachable at " + redactURL(h.o.pg)
	case sys.Needs == needRedis && !h.redisOK:
		return "Redis is not reachable at " + h.o.redis
	}
	return ""
}

func redactURL(u string) string {
	if i := strings.Index(u, "?"); i >= 0 {
		return u[:i]
	}
	return u
}

// waitForLoad polls the 1-minute load average every 30 s until it is below
// limit, for at most maxWait.
func waitForLoad(ctx context.Context, w io.Writer, limit float64, maxWait time.Duration) {
	deadline := time.Now().Add(maxWait)
	for {
		l := loadAverage()
		if l[0] < limit {
			fmt.Fprintf(w, "peers: load average %.2f < %.2f, starting\n", l[0], limit)
			return
		}
		if time.Now().After(deadline) {
			fmt.Fprintf(w, "peers: load average still %.2f after %v; running anyway (recorded)\n", l[0], maxWait)
			return
		}
		fmt.Fprintf(w, "peers: load average %.2f >= %.2f, waiting 30 s\n", l[0], limit)
		select {
		case <-ctx.Done():
			return
		case <-time.After(30 * time.Second):
		}
	}
}

func machine() map[string]any {
	host, _ := os.Hostname()
	return map[string]any{
		"cpus":                runtime.NumCPU(),
		"gomaxprocs":          runtime.GOMAXPROCS(0),
		"cpu_model":           cpuModel(),
		"memory_bytes":        memTotal(),
		"go":                  runtime.Version(),
		"os":                  runtime.GOOS + "/" + runtime.GOARCH,
		"host":                host,
		"load_average_before": loadAverage(),
	}
}

// versions lists the module versions this binary was built with and
// Gantry's commit.
func versions(repo string) map[string]string {
	v := map[string]string{}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, m := range bi.Deps {
			switch m.Path {
			case "github.com/riverqueue/river", "github.com/riverqueue/river/riverdriver/riverpgxv5",
				"github.com/hibiken/asynq", "github.com/jackc/pgx/v5", "github.com/redis/go-redis/v9",
				"github.com/cockroachdb/pebble/v2", "gonum.org/v1/plot":
				v[m.Path] = m.Version
			}
		}
	}
	// -dirty: the work tree had changes the commit does not hold.
	if out, err := exec.Command("git", "-C", repo, "describe", "--always", "--dirty").Output(); err == nil {
		v["gantry"] = "commit " + strings.TrimSpace(string(out))
	}
	return v
}

// buildGantry returns the gantry binary for the seed row, building it
// from the repository unless -gantry names one.
func (h *harness) buildGantry(ctx context.Context) (string, error) {
	if h.o.gantry != "" {
		return h.o.gantry, nil
	}
	bin, err := filepath.Abs(filepath.Join(h.o.out, "gantry"))
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/gantry")
	cmd.Dir = h.o.repo
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building the gantry binary: %w", err)
	}
	return bin, nil
}

// runOne runs one row once on one system and cleans up after it.
func (h *harness) runOne(ctx context.Context, row string, sys system, run int) *result {
	sp := &spec{Row: row, System: sys.Name, Run: run, Sizes: h.sz, PG: h.o.pg, Redis: h.o.redis, RedisDB: h.o.redisDB}
	load := loadAverage()
	pgBusy := -1
	if sys.Needs == needPG {
		pgBusy = pgOthers(ctx, h.o.pg)
	}
	fail := func(err error) *result {
		return &result{Row: row, System: sys.Name, Run: run, Start: time.Now(), Err: err.Error(), Load: load}
	}
	dir, err := os.MkdirTemp("", "peers-"+sys.Name+"-")
	if err != nil {
		return fail(err)
	}
	defer os.RemoveAll(dir)
	sp.Dir = dir
	sp.Schema = strings.ReplaceAll(fmt.Sprintf("peers_%s_%s_%d_%d", sys.Name, row, run, os.Getpid()), "-", "_")
	if sys.Needs == needPG {
		defer func() { _ = dropSchema(context.WithoutCancel(ctx), h.o.pg, sp.Schema) }()
	}
	if sys.Needs == needRedis {
		if err := h.rctl.flush(ctx); err != nil {
			return fail(err)
		}
		defer func() { _ = h.rctl.flush(context.WithoutCancel(ctx)) }()
		if err := h.rctl.setAOF(ctx, sys.AOF); err != nil {
			return fail(err)
		}
	}
	var res *result
	switch row {
	case rowSeed:
		res, err = h.runSeed(ctx, sp, sys)
	case rowBacklog:
		res, err = h.runBacklog(ctx, sp, sys)
	default:
		res, err = h.child(ctx, sp, childTimeout(sp))
	}
	if err != nil {
		res = fail(err)
	}
	res.Load = load
	if sys.Needs == needPG {
		if res.Extra == nil {
			res.Extra = map[string]any{}
		}
		res.Extra["pg_busy_sessions_before"] = pgBusy
		res.Extra["pg_busy_sessions_after"] = pgOthers(ctx, h.o.pg)
	}
	return res
}

// childTimeout bounds a child's run: its caps and a margin.
func childTimeout(sp *spec) time.Duration {
	s := sp.Sizes
	return 3*time.Minute + s.E2ECap + s.SleepCap + s.PickupCap + 2*s.BacklogCap
}

// child runs sp in a child process and returns its result.
func (h *harness) child(ctx context.Context, sp *spec, timeout time.Duration) (*result, error) {
	b, err := json.Marshal(sp)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, h.self, "-child", string(b))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	runErr := cmd.Run()
	var res result
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil {
		return nil, fmt.Errorf("child %s/%s: %v; stderr: %s", sp.Row, sp.System, errors.Join(runErr, err), lastLines(stderr.String(), 5))
	}
	if res.Err != "" {
		return &res, errors.New(res.Err)
	}
	return &res, nil
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, " | ")
}

// runBacklog fills the backlog in one child process and works it off in
// another, sampling redis-server's RSS when the jobs live there.
func (h *harness) runBacklog(ctx context.Context, sp *spec, sys system) (*result, error) {
	var serverPeak int64
	stopSampling := func() {}
	if sys.Needs == needRedis {
		if pid := h.rctl.pid(ctx); pid > 0 && rss(pid) > 0 {
			done := make(chan struct{})
			finished := make(chan struct{})
			go func() {
				defer close(finished)
				t := time.NewTicker(250 * time.Millisecond)
				defer t.Stop()
				for {
					serverPeak = max(serverPeak, rss(pid))
					select {
					case <-done:
						return
					case <-t.C:
					}
				}
			}()
			stopSampling = func() { close(done); <-finished }
		}
	}
	fill := *sp
	fill.Phase = "fill"
	fr, err := h.child(ctx, &fill, childTimeout(sp))
	if err != nil {
		stopSampling()
		return nil, fmt.Errorf("fill: %w", err)
	}
	drain := *sp
	drain.Phase = "drain"
	dr, err := h.child(ctx, &drain, childTimeout(sp))
	stopSampling()
	if err != nil {
		return nil, fmt.Errorf("drain: %w", err)
	}
	dr.Fill = fr.Elapsed
	dr.ServerRSS = serverPeak
	if dr.Extra == nil {
		dr.Extra = map[string]any{}
	}
	dr.Extra["fill_rate"] = fr.Rate
	dr.Extra["backlog_jobs"] = float64(fr.Jobs)
	dr.Extra["fill_peak_rss_bytes"] = fr.PeakRSS
	return dr, nil
}

// freeAddr returns a loopback address with a free port.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// seedBody is the request every server of the seed row gets: a
// gantry.sleep job of 50 ms with bench/load's ~200 bytes of args beside.
var seedBody = []byte(`{"kind":"gantry.sleep","args":{"ms":50,"user_id":4815162342,` +
	`"source":"https://images.example.com/uploads/2026/11/22/c2f1a7e0-5b7d-4f5e-9f0a-3b1d2e4c6a8b.png",` +
	`"sizes":[64,128,256,512],"format":"webp","quality":82,"strip_metadata":true,"notify":"ops@example.com"}}`)

// runSeed starts the system's HTTP server in a child process, sends it
// the seed scenario open loop from this process, and reads the child's
// peak RSS before stopping it.
func (h *harness) runSeed(ctx context.Context, sp *spec, sys system) (*result, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	sp.Addr = addr
	var cmd *exec.Cmd
	if sys.Name == "gantry-http" {
		cmd = exec.Command(h.gantry, "serve", "--addr", addr, "--data-dir", sp.Dir,
			"--workers", strconv.Itoa(seedWorkers), "--log-level", "error")
	} else {
		b, _ := json.Marshal(sp)
		cmd = exec.Command(h.self, "-child", string(b))
	}
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	pid := cmd.Process.Pid
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	defer func() {
		_ = cmd.Process.Kill()
		<-exited
	}()
	if err := waitReady(ctx, "http://"+addr+"/readyz", exited); err != nil {
		return nil, fmt.Errorf("%s did not start: %v; %s", sys.Name, err, lastLines(stderr.String(), 5))
	}

	// Sample the server's RSS once a second, for the timeline.
	var timeline []float64
	sampleDone := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			timeline = append(timeline, float64(rss(pid))/(1<<20))
			select {
			case <-sampleDone:
				return
			case <-t.C:
			}
		}
	}()
	start := time.Now()
	lr, err := load.Run(ctx, &load.Config{
		URL:         "http://" + addr + "/v1/jobs",
		Body:        seedBody,
		Connections: h.sz.SeedConns,
		Rate:        h.sz.SeedRate,
		Duration:    h.sz.SeedFor,
		Warmup:      h.sz.SeedWarmup,
		Timeout:     10 * time.Second,
	})
	peak := peakRSS(pid)
	close(sampleDone)
	<-sampled
	if err != nil {
		return nil, err
	}
	ok := lr.OK()
	kept := lr.Unsent == 0 && lr.Errors == 0 && ok == lr.Scheduled && lr.Throughput >= 0.99*h.sz.SeedRate
	res := &result{
		Row: sp.Row, System: sp.System, Run: sp.Run, Start: start,
		Jobs:    ok,
		Elapsed: lr.Elapsed,
		Rate:    lr.Throughput,
		Latency: &latency{
			P50: ms(lr.Latency.P50), P90: ms(lr.Latency.P90), P99: ms(lr.Latency.P99), Max: ms(lr.Latency.Max),
		},
		PeakRSS: peak,
		KeptUp:  &kept,
		Errors:  lr.Errors + lr.Unsent,
		Counts:  map[string]int64{},
		Extra: map[string]any{
			"scheduled": lr.Scheduled, "unsent": lr.Unsent, "p99_9_ms": ms(lr.Latency.P999),
			"send_lag_p99_ms": sendLagP99(lr), "rss_timeline_mib": timeline, "error_samples": lr.ErrorSamples,
			"other_cpu_s": (lr.MachineCPU - lr.CPU).Seconds(),
		},
	}
	for code, n := range lr.Statuses {
		res.Counts[strconv.Itoa(code)] = n
	}
	return res, nil
}

func sendLagP99(lr *load.Result) float64 {
	if lr.SendLag == nil {
		return 0
	}
	return ms(lr.SendLag.P99)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// waitReady polls url until it answers 200, the process exits, or 30 s.
func waitReady(ctx context.Context, url string, exited <-chan struct{}) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return errors.New("the process exited")
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		resp, err := http.Get(url)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("not ready after 30 s")
}

// describe is a one-line summary of a run for the progress log.
func describe(r *result) string {
	s := fmt.Sprintf("%-15s run %d: ", r.System, r.Run)
	if r.Err != "" {
		return s + "ERROR " + r.Err
	}
	switch r.Row {
	case rowPickup:
		s += fmt.Sprintf("p50 %.2f ms, p99 %.2f ms (%d samples)", r.Latency.P50, r.Latency.P99, r.Jobs)
	case rowSeed:
		s += fmt.Sprintf("%.0f req/s, p50 %.2f ms, p99 %.2f ms, max %.0f ms, kept up %v, peak RSS %s, errors+unsent %d",
			r.Rate, r.Latency.P50, r.Latency.P99, r.Latency.Max, *r.KeptUp, mib(r.PeakRSS), r.Errors)
	case rowBacklog:
		s += fmt.Sprintf("%.0f jobs/s, drained %d in %v (fill %v), peak RSS %s", r.Rate, r.Jobs, r.Elapsed.Round(time.Millisecond), r.Fill.Round(time.Millisecond), mib(r.PeakRSS))
		if r.ServerRSS > 0 {
			s += ", redis-server RSS " + mib(r.ServerRSS)
		}
	default:
		s += fmt.Sprintf("%.0f jobs/s (%d jobs in %v)", r.Rate, r.Jobs, r.Elapsed.Round(time.Millisecond))
	}
	if r.Capped {
		s += " CAPPED"
	}
	return s
}

func mib(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

package gantry_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-dev/gantry"
	"github.com/gantry-dev/gantry/store/embedded"
)

// The benchmarks of docs/benchmarks.md. Every enqueue is durable (fsynced)
// before it returns; `make bench` runs them.

type benchArgs struct {
	Image string `json:"image"`
	Width int    `json:"width"`
	Pad   string `json:"pad"`
}

func (benchArgs) Kind() string { return "bench" }

// about 300 bytes of args, like a small real job.
var benchPayload = benchArgs{Image: "s3://bucket/uploads/2026/11/23/cat.png", Width: 256, Pad: strings.Repeat("x", 230)}

func benchStore(b *testing.B) *embedded.Store {
	b.Helper()
	st, err := embedded.Open(b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return st
}

func benchClient(b testing.TB, st *embedded.Store, reg *gantry.Registry, workers int) *gantry.Client {
	b.Helper()
	c, err := gantry.NewClient(st, &gantry.Config{
		Registry:  reg,
		Queues:    map[string]gantry.QueueConfig{"default": {Workers: workers}},
		Retention: -1,
	})
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// BenchmarkEnqueueParallel64: 64 goroutines, one durable job per call.
func BenchmarkEnqueueParallel64(b *testing.B) {
	c := benchClient(b, benchStore(b), nil, 1)
	ctx := context.Background()
	b.SetParallelism((64 + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Enqueue(ctx, benchPayload, nil); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
}

// BenchmarkEnqueueBatch1000: 1,000 jobs per durable call.
func BenchmarkEnqueueBatch1000(b *testing.B) {
	c := benchClient(b, benchStore(b), nil, 1)
	ctx := context.Background()
	specs := make([]gantry.JobSpec, 1000)
	for i := range specs {
		s, err := gantry.Spec(benchPayload, nil)
		if err != nil {
			b.Fatal(err)
		}
		specs[i] = s
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := c.EnqueueBatch(ctx, specs, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(specs))/b.Elapsed().Seconds(), "jobs/s")
}

// counter is a no-op handler that signals when n jobs have run.
type counter struct {
	n, want atomic.Int64
	done    chan struct{}
	once    sync.Once
}

func newCounter(want int) *counter {
	c := &counter{done: make(chan struct{})}
	c.want.Store(int64(want))
	return c
}

func (c *counter) Work(ctx context.Context, t *gantry.Task[benchArgs]) error {
	if c.n.Add(1) >= c.want.Load() {
		c.once.Do(func() { close(c.done) })
	}
	return nil
}

// BenchmarkEndToEnd64: enqueue from 64 goroutines while 64 workers run a
// no-op handler; the clock stops when every job's success is recorded.
// Run with -benchtime=1000000x for the sustained figure.
func BenchmarkEndToEnd64(b *testing.B) {
	st := benchStore(b)
	cnt := newCounter(b.N)
	reg := gantry.NewRegistry()
	gantry.Register[benchArgs](reg, cnt)
	c := benchClient(b, st, reg, 64)
	ctx := context.Background()
	if err := c.Start(ctx); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				if _, err := c.Enqueue(ctx, benchPayload, nil); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	<-cnt.done
	waitRecorded(b, c, b.N)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
	if err := c.Stop(ctx); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkBacklog: work off a backlog of b.N jobs enqueued before the
// clock starts, with 64 workers. Run with -benchtime=1000000x for the
// million-job figure. The backlog is written by one child process and
// worked off by another, started on the data dir as `gantry serve` would
// be after a restart, so that the reported peak RSS (the worker's VmHWM)
// is the work-off's own, not what filling or earlier runs left behind.
func BenchmarkBacklog(b *testing.B) {
	dir := b.TempDir()
	backlogChild(b, "fill", dir, b.N)
	out := backlogChild(b, "drain", dir, b.N)
	var took, open time.Duration
	var hwm int64
	if _, err := fmt.Sscanf(out, "took=%d open=%d hwm=%d", &took, &open, &hwm); err != nil {
		b.Fatalf("reading the work-off's report %q: %v", out, err)
	}
	b.ReportMetric(float64(b.N)/took.Seconds(), "jobs/s")
	b.ReportMetric(float64(hwm)/(1<<20), "peak-rss-MiB")
	b.ReportMetric(float64(open.Milliseconds()), "open-ms")
}

// backlogChild runs TestBacklogChild in a new process of this test binary
// and returns its report line.
func backlogChild(b *testing.B, step, dir string, n int) string {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestBacklogChild$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), fmt.Sprintf("GANTRY_BENCH_BACKLOG=%s:%d:%s", step, n, dir))
	out, err := cmd.CombinedOutput()
	if err != nil {
		b.Fatalf("backlog %s: %v\n%s", step, err, out)
	}
	for line := range strings.Lines(string(out)) {
		if rest, ok := strings.CutPrefix(line, "backlog-report: "); ok {
			return strings.TrimSpace(rest)
		}
	}
	b.Fatalf("backlog %s printed no report:\n%s", step, out)
	return ""
}

// TestBacklogChild is BenchmarkBacklog's child process: with
// GANTRY_BENCH_BACKLOG=fill:N:DIR it enqueues N jobs into a new store in
// DIR; with drain:N:DIR it opens that store, works the N jobs off with 64
// workers and prints how long that took, how long the open took and the
// process's peak RSS. Without the variable it skips.
func TestBacklogChild(t *testing.T) {
	spec := os.Getenv("GANTRY_BENCH_BACKLOG")
	if spec == "" {
		t.Skip("runs only as a child process of BenchmarkBacklog")
	}
	step, rest, _ := strings.Cut(spec, ":")
	ns, dir, _ := strings.Cut(rest, ":")
	n, err := strconv.Atoi(ns)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	opened := time.Now()
	st, err := embedded.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	openTook := time.Since(opened)
	switch step {
	case "fill":
		c := benchClient(t, st, nil, 1)
		specs := make([]gantry.JobSpec, 0, 1000)
		for left := n; left > 0; left -= len(specs) {
			specs = specs[:0]
			for range min(left, 1000) {
				s, _ := gantry.Spec(benchPayload, nil)
				specs = append(specs, s)
			}
			if _, err := c.EnqueueBatch(ctx, specs, nil); err != nil {
				t.Fatal(err)
			}
		}
		fmt.Println("backlog-report: filled")
	case "drain":
		cnt := newCounter(n)
		reg := gantry.NewRegistry()
		gantry.Register[benchArgs](reg, cnt)
		c := benchClient(t, st, reg, 64)
		start := time.Now()
		if err := c.Start(ctx); err != nil {
			t.Fatal(err)
		}
		<-cnt.done
		waitRecorded(t, c, n)
		took := time.Since(start)
		if err := c.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		fmt.Printf("backlog-report: took=%d open=%d hwm=%d\n", took, openTook, peakRSS())
	default:
		t.Fatalf("GANTRY_BENCH_BACKLOG=%q: want fill:N:DIR or drain:N:DIR", spec)
	}
}

// BenchmarkPickupLatency: on an idle engine, the time from Enqueue
// returning to the handler starting, one job at a time.
func BenchmarkPickupLatency(b *testing.B) {
	st := benchStore(b)
	started := make(chan time.Time, 1)
	reg := gantry.NewRegistry()
	gantry.Register(reg, gantry.HandlerFunc[benchArgs](func(ctx context.Context, t *gantry.Task[benchArgs]) error {
		started <- time.Now()
		return nil
	}))
	c := benchClient(b, st, reg, 4)
	ctx := context.Background()
	if err := c.Start(ctx); err != nil {
		b.Fatal(err)
	}
	lat := make([]time.Duration, 0, b.N)
	for b.Loop() {
		if _, err := c.Enqueue(ctx, benchPayload, nil); err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		lat = append(lat, (<-started).Sub(t0))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	if err := c.Stop(ctx); err != nil {
		b.Fatal(err)
	}
}

// waitRecorded waits until the store counts n succeeded jobs.
func waitRecorded(b testing.TB, c *gantry.Client, n int) {
	b.Helper()
	for {
		qs, err := c.Queues(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		var done int64
		for _, q := range qs {
			done += q.Counts[gantry.StateSucceeded]
		}
		if done >= int64(n) {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// peakRSS reads the peak resident set size of this process (VmHWM) from
// /proc (Linux); 0 elsewhere.
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

package gantry_test

import (
	"context"
	"os"
	"runtime"
	"runtime/debug"
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

func benchClient(b *testing.B, st *embedded.Store, reg *gantry.Registry, workers int) *gantry.Client {
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
		if _, err := c.EnqueueMany(ctx, specs); err != nil {
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
// million-job figure; it also reports the peak RSS while working.
func BenchmarkBacklog(b *testing.B) {
	dir := b.TempDir()
	ctx := context.Background()
	fillStore, err := embedded.Open(dir, nil)
	if err != nil {
		b.Fatal(err)
	}
	fill := benchClient(b, fillStore, nil, 1)
	specs := make([]gantry.JobSpec, 0, 1000)
	for left := b.N; left > 0; left -= len(specs) {
		specs = specs[:0]
		for range min(left, 1000) {
			s, _ := gantry.Spec(benchPayload, nil)
			specs = append(specs, s)
		}
		if _, err := fill.EnqueueMany(ctx, specs); err != nil {
			b.Fatal(err)
		}
	}
	if err := fillStore.Close(); err != nil {
		b.Fatal(err)
	}
	debug.FreeOSMemory() // measure the work-off, not the fill

	opened := time.Now()
	st, err := embedded.Open(dir, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	openTook := time.Since(opened)
	cnt := newCounter(b.N)
	reg := gantry.NewRegistry()
	gantry.Register[benchArgs](reg, cnt)
	c := benchClient(b, st, reg, 64)
	peak := watchRSS(cnt.done)
	b.ResetTimer()
	if err := c.Start(ctx); err != nil {
		b.Fatal(err)
	}
	<-cnt.done
	waitRecorded(b, c, b.N)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
	b.ReportMetric(float64(<-peak)/(1<<20), "peak-rss-MiB")
	b.ReportMetric(float64(openTook.Milliseconds()), "open-ms")
	if err := c.Stop(ctx); err != nil {
		b.Fatal(err)
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
func waitRecorded(b *testing.B, c *gantry.Client, n int) {
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

// watchRSS samples the resident set size until done is closed and sends
// the peak.
func watchRSS(done <-chan struct{}) <-chan int64 {
	out := make(chan int64, 1)
	go func() {
		var peak int64
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			peak = max(peak, rss())
			select {
			case <-done:
				out <- max(peak, rss())
				return
			case <-t.C:
			}
		}
	}()
	return out
}

// rss reads the resident set size of this process from /proc (Linux).
func rss() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

package gantry_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/gantry-dev/gantry"
	"github.com/gantry-dev/gantry/internal/pgtest"
	"github.com/gantry-dev/gantry/store"
	"github.com/gantry-dev/gantry/store/embedded"
	"github.com/gantry-dev/gantry/store/postgres"
)

type noopArgs struct{}

func (noopArgs) Kind() string { return "noop" }

// wfBenchStores opens a fresh store of each kind that is available here:
// embedded always, PostgreSQL with GANTRY_TEST_POSTGRES_URL.
func wfBenchStores(b *testing.B) map[string]func(b *testing.B) store.Driver {
	out := map[string]func(b *testing.B) store.Driver{
		"embedded": func(b *testing.B) store.Driver {
			st, err := embedded.Open(b.TempDir(), nil)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { st.Close() })
			return st
		},
	}
	if url := os.Getenv("GANTRY_TEST_POSTGRES_URL"); url != "" {
		out["postgres"] = func(b *testing.B) store.Driver {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			st, err := postgres.Open(ctx, url, &postgres.Options{Schema: pgtest.Schema(b, url, "gantry_bench_"), Migrate: true})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { st.Close() })
			return st
		}
	}
	return out
}

// wfBenchClient starts a client with 64 workers running a no-op handler.
func wfBenchClient(b *testing.B, st store.Driver) *gantry.Client {
	b.Helper()
	reg := gantry.NewRegistry()
	gantry.Register(reg, gantry.HandlerFunc[noopArgs](func(context.Context, *gantry.Task[noopArgs]) error { return nil }))
	c, err := gantry.NewClient(st, &gantry.Config{Registry: reg, Retention: -1,
		Queues: map[string]gantry.QueueConfig{"default": {Workers: 64}}})
	if err != nil {
		b.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = c.Stop(ctx)
	})
	return c
}

func noopJob(ref string, deps []string, children ...gantry.WorkflowJob) gantry.WorkflowJob {
	return gantry.WorkflowJob{Ref: ref, Kind: "noop", Args: json.RawMessage("{}"),
		Opts: &gantry.EnqueueOpts{DependsOn: deps}, Children: children}
}

// runWorkflowBench submits make() as a workflow b.N times and waits for
// each to succeed; it reports jobs per second of wall time.
func runWorkflowBench(b *testing.B, open func(b *testing.B) store.Driver, jobs int, make func() gantry.Workflow) {
	c := wfBenchClient(b, open(b))
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		w, err := c.EnqueueWorkflow(ctx, make(), &gantry.WorkflowOpts{MaxJobs: jobs})
		if err != nil {
			b.Fatal(err)
		}
		wctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
		final, err := c.WaitWorkflow(wctx, w.Workflow.ID)
		cancel()
		if err != nil || final.State != gantry.WorkflowSucceeded {
			b.Fatalf("workflow: %+v, %v", final, err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(jobs*b.N)/b.Elapsed().Seconds(), "jobs/s")
}

// BenchmarkWorkflowFanOut10k: a parent with 10,000 children, which it
// waits for (the fan-in), run to the end by 64 workers.
func BenchmarkWorkflowFanOut10k(b *testing.B) {
	const n = 10000
	for name, open := range wfBenchStores(b) {
		b.Run(name, func(b *testing.B) {
			runWorkflowBench(b, open, n+1, func() gantry.Workflow {
				children := make([]gantry.WorkflowJob, n)
				for i := range children {
					children[i] = noopJob(fmt.Sprintf("c%d", i), nil)
				}
				return gantry.Workflow{Jobs: []gantry.WorkflowJob{noopJob("parent", nil, children...)}}
			})
		})
	}
}

// BenchmarkWorkflowChain1000: 1,000 jobs, each depending on the one
// before: one runs at a time.
func BenchmarkWorkflowChain1000(b *testing.B) {
	const n = 1000
	for name, open := range wfBenchStores(b) {
		b.Run(name, func(b *testing.B) {
			runWorkflowBench(b, open, n, func() gantry.Workflow {
				jobs := make([]gantry.WorkflowJob, n)
				for i := range jobs {
					var deps []string
					if i > 0 {
						deps = []string{fmt.Sprintf("j%d", i-1)}
					}
					jobs[i] = noopJob(fmt.Sprintf("j%d", i), deps)
				}
				return gantry.Workflow{Jobs: jobs}
			})
		})
	}
}

// BenchmarkIndependent10k: the baseline of the fan-out: 10,001
// independent no-op jobs in one workflow without edges, same workers.
// The fan-out's overhead is its time divided by this one's.
func BenchmarkIndependent10k(b *testing.B) { benchIndependent(b, 10001) }

// BenchmarkIndependent1000: the baseline of the chain: 1,000 independent
// no-op jobs in one workflow, same workers.
func BenchmarkIndependent1000(b *testing.B) { benchIndependent(b, 1000) }

func benchIndependent(b *testing.B, n int) {
	for name, open := range wfBenchStores(b) {
		b.Run(name, func(b *testing.B) {
			runWorkflowBench(b, open, n, func() gantry.Workflow {
				jobs := make([]gantry.WorkflowJob, n)
				for i := range jobs {
					jobs[i] = noopJob(fmt.Sprintf("j%d", i), nil)
				}
				return gantry.Workflow{Jobs: jobs}
			})
		})
	}
}

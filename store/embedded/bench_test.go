package embedded

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
)

// benchArgs is about 300 bytes of JSON, a typical small job's args.
var benchArgs = json.RawMessage(`{"user_id":12345,"image":"` + strings.Repeat("x", 260) + `","w":256}`)

var benchNow = time.Date(2026, time.January, 1, 12, 0, 0, 0, time.UTC)

func benchJob() *store.NewJob {
	return &store.NewJob{
		Kind: "thumbnail", Queue: "default", Args: benchArgs,
		Priority: store.DefaultPriority, RunAt: benchNow, MaxAttempts: 3,
	}
}

func openBench(b *testing.B) *Store {
	b.Helper()
	s, err := Open(b.TempDir(), benchOpts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// BenchmarkEnqueueParallel64: 64 goroutines, one durable job per call.
func BenchmarkEnqueueParallel64(b *testing.B) {
	s := openBench(b)
	ctx := context.Background()
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	b.ResetTimer()
	start := time.Now()
	for range 64 {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				if _, err := s.Enqueue(ctx, &store.EnqueueParams{Jobs: []*store.NewJob{benchJob()}, Now: benchNow}); err != nil {
					failed.Store(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "jobs/s")
	if err := failed.Load(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkEnqueueBatch1000: one goroutine, 1,000 durable jobs per call.
func BenchmarkEnqueueBatch1000(b *testing.B) {
	s := openBench(b)
	ctx := context.Background()
	batch := make([]*store.NewJob, 1000)
	for i := range batch {
		batch[i] = benchJob()
	}
	b.ResetTimer()
	start := time.Now()
	for done := 0; done < b.N; done += len(batch) {
		n := min(len(batch), b.N-done)
		if _, err := s.Enqueue(ctx, &store.EnqueueParams{Jobs: batch[:n], Now: benchNow}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "jobs/s")
}

// BenchmarkClaimFinish drains a prefilled queue of b.N jobs with 4
// fetchers that each claim up to 100 jobs and finish them in one call.
func BenchmarkClaimFinish(b *testing.B) {
	s := openBench(b)
	ctx := context.Background()
	prefill(b, s, b.N)
	var claimed atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	b.ResetTimer()
	start := time.Now()
	for range 4 {
		wg.Go(func() {
			for claimed.Load() < int64(b.N) {
				res, err := s.Claim(ctx, &store.ClaimParams{Queue: "default", Max: 100, LeaseFor: time.Minute, Now: benchNow})
				if err != nil {
					failed.Store(err)
					return
				}
				if len(res.Jobs) == 0 {
					return
				}
				claimed.Add(int64(len(res.Jobs)))
				items := make([]store.FinishItem, len(res.Jobs))
				for i, j := range res.Jobs {
					items[i] = store.FinishItem{ID: j.ID, LeaseToken: j.LeaseToken, Outcome: store.OutcomeSucceeded}
				}
				fr, err := s.Finish(ctx, &store.FinishParams{Items: items, Now: benchNow})
				if err != nil {
					failed.Store(err)
					return
				}
				for _, e := range fr.Errs {
					if e != nil {
						failed.Store(e)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "jobs/s")
	if err := failed.Load(); err != nil {
		b.Fatal(err)
	}
	if got := claimed.Load(); got != int64(b.N) {
		b.Fatalf("claimed %d of %d", got, b.N)
	}
}

func prefill(tb testing.TB, s *Store, n int) {
	tb.Helper()
	batch := make([]*store.NewJob, 1000)
	for i := range batch {
		batch[i] = benchJob()
	}
	for done := 0; done < n; done += len(batch) {
		k := min(len(batch), n-done)
		if _, err := s.Enqueue(context.Background(), &store.EnqueueParams{Jobs: batch[:k], Now: benchNow}); err != nil {
			tb.Fatal(fmt.Errorf("prefill: %w", err))
		}
	}
}

var benchOpts *Options

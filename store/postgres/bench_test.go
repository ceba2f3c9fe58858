package postgres_test

import (
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
	"github.com/gantry-dev/gantry/store/postgres"
)

// The benchmarks report jobs/s. Run them with
//
//	GANTRY_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test?sslmode=disable \
//	  go test -run '^$' -bench . -benchtime 5s ./store/postgres/

// BenchmarkEnqueueParallel64 enqueues one job per call from 64 goroutines,
// as many HTTP requests would: PostgreSQL's group commit shares fsyncs.
func BenchmarkEnqueueParallel64(b *testing.B) {
	s := setup(b, &postgres.Options{MaxConns: 64})
	b.SetParallelism(64 / max(1, runtime.GOMAXPROCS(0)))
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		jobs := newJobs(1)
		for pb.Next() {
			if _, err := s.Enqueue(b.Context(), &store.EnqueueParams{Jobs: jobs, Now: t0}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "jobs/s")
}

// BenchmarkEnqueueBatch1000 enqueues batches of 1000 jobs (COPY).
func BenchmarkEnqueueBatch1000(b *testing.B) {
	s := setup(b, nil)
	jobs := newJobs(1000)
	start := time.Now()
	for b.Loop() {
		if _, err := s.Enqueue(b.Context(), &store.EnqueueParams{Jobs: jobs, Now: t0}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(jobs))/time.Since(start).Seconds(), "jobs/s")
}

// BenchmarkClaimFinish claims batches of 10 and finishes each batch with
// one Finish call, from 4 workers, over a backlog enqueued beforehand.
func BenchmarkClaimFinish(b *testing.B) {
	s := setup(b, &postgres.Options{MaxConns: 8})
	const batch = 10
	// Enough backlog for every iteration: each iteration handles one job.
	for n := b.N; n > 0; n -= 1000 {
		if _, err := s.Enqueue(b.Context(), &store.EnqueueParams{Jobs: newJobs(min(n, 1000)), Now: t0}); err != nil {
			b.Fatal(err)
		}
	}
	var done atomic.Int64
	// cycle claims n jobs and finishes them with one call.
	cycle := func(n int) {
		res, err := s.Claim(b.Context(), &store.ClaimParams{Queue: "default", Max: n, LeaseFor: time.Minute, Now: t0})
		if err != nil {
			b.Error(err)
			return
		}
		items := make([]store.FinishItem, len(res.Jobs))
		for i, j := range res.Jobs {
			items[i] = store.FinishItem{ID: j.ID, LeaseToken: j.LeaseToken, Outcome: store.OutcomeSucceeded}
		}
		fr, err := s.Finish(b.Context(), &store.FinishParams{Items: items, Now: t0})
		if err != nil {
			b.Error(err)
			return
		}
		for _, e := range fr.Errs {
			if e != nil {
				b.Error(e)
			}
		}
		done.Add(int64(len(items)))
	}
	b.SetParallelism(4 / max(1, runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	start := time.Now()
	// Each iteration stands for one job: a worker claims and finishes a
	// batch when it has gone through that many iterations.
	b.RunParallel(func(pb *testing.PB) {
		n := 0
		for pb.Next() {
			if n++; n == batch {
				cycle(n)
				n = 0
			}
		}
		if n > 0 {
			cycle(n)
		}
	})
	b.ReportMetric(float64(done.Load())/time.Since(start).Seconds(), "jobs/s")
}

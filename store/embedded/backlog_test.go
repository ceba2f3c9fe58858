package embedded

import (
	"context"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
)

// BenchmarkBacklog fills a store with a backlog (GANTRY_BACKLOG jobs,
// default 1,000,000), closes it, and measures reopening it and working
// the backlog off with 4 fetchers that claim 100 jobs and finish them in
// one call, as the engine does. It reports the open time, the drain rate
// and the largest resident set seen while draining. One iteration is one
// whole run: use -benchtime 1x.
func BenchmarkBacklog(b *testing.B) {
	n := 1_000_000
	if v := os.Getenv("GANTRY_BACKLOG"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	for range b.N {
		b.StopTimer()
		dir := b.TempDir()
		s, err := Open(dir, nil)
		if err != nil {
			b.Fatal(err)
		}
		fill := time.Now()
		prefill(b, s, n)
		b.ReportMetric(float64(n)/time.Since(fill).Seconds(), "fill-jobs/s")
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}

		b.StartTimer()
		opened := time.Now()
		s, err = Open(dir, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(time.Since(opened).Milliseconds()), "open-ms")

		stop := make(chan struct{})
		var peak atomic.Int64
		var sampler sync.WaitGroup
		sampler.Go(func() {
			t := time.NewTicker(50 * time.Millisecond)
			defer t.Stop()
			for {
				if kb := statusKB("VmRSS:"); kb > peak.Load() {
					peak.Store(kb)
				}
				select {
				case <-stop:
					return
				case <-t.C:
				}
			}
		})
		start := time.Now()
		var done atomic.Int64
		var wg sync.WaitGroup
		ctx := context.Background()
		for range 4 {
			wg.Go(func() {
				for {
					res, err := s.Claim(ctx, &store.ClaimParams{Queue: "default", Max: 100, LeaseFor: time.Minute, Now: benchNow})
					if err != nil {
						b.Error(err)
						return
					}
					if len(res.Jobs) == 0 {
						return
					}
					items := make([]store.FinishItem, len(res.Jobs))
					for i, j := range res.Jobs {
						items[i] = store.FinishItem{ID: j.ID, LeaseToken: j.LeaseToken, Outcome: store.OutcomeSucceeded}
					}
					if _, err := s.Finish(ctx, &store.FinishParams{Items: items, Now: benchNow}); err != nil {
						b.Error(err)
						return
					}
					done.Add(int64(len(items)))
				}
			})
		}
		wg.Wait()
		elapsed := time.Since(start)
		close(stop)
		sampler.Wait()
		if got := done.Load(); got != int64(n) {
			b.Fatalf("worked off %d of %d jobs", got, n)
		}
		b.ReportMetric(float64(n)/elapsed.Seconds(), "drain-jobs/s")
		b.ReportMetric(float64(peak.Load())/1024, "peak-rss-MB")
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// statusKB reads one kB figure of /proc/self/status.
func statusKB(field string) int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, field); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb
		}
	}
	return 0
}

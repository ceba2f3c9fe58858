package embedded

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
)

// BenchmarkClaimLimits: claims of 100 from a backlog of b.N jobs, without
// limits ("off"), with a rate no claim reaches ("on": 1,000,000/s, burst
// 1,000,000; what the bucket itself costs a claim), and keyed by
// args.tenant with no key at its limit (per_key_concurrency 1,000,000):
// "manyKeys" spreads the backlog over 10,000 keys, "fewKeys" over 10,
// "hotKey" puts 90% of it on one key and the rest on 1,000 others.
// Besides jobs/s it reports jobs/cpu-s, jobs per second of the process's
// CPU time, which other processes on a loaded machine sway less.
// docs/benchmarks.md "Limits".
func BenchmarkClaimLimits(b *testing.B) {
	keyed := store.Limits{Key: "args.tenant", PerKeyConcurrency: 1_000_000}
	spread := func(keys int) func(i int) int { return func(i int) int { return i % keys } }
	for _, tc := range []struct {
		name   string
		limits store.Limits
		key    func(i int) int // the tenant of the i'th job, nil: no tenant
	}{
		{"off", store.Limits{}, nil},
		{"on", store.Limits{Rate: "1000000/s", Burst: 1000000}, nil},
		{"manyKeys", keyed, spread(10_000)},
		{"fewKeys", keyed, spread(10)},
		{"hotKey", keyed, func(i int) int {
			if i%10 == 0 {
				return 1 + i/10%1000
			}
			return 0
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			s := openBench(b)
			ctx := context.Background()
			if err := s.SetLimits(ctx, &store.SetLimitsParams{Queue: "default", Limits: tc.limits, Now: benchNow}); err != nil {
				b.Fatal(err)
			}
			if tc.key == nil {
				prefill(b, s, b.N)
			} else {
				prefillKeys(b, s, b.N, tc.key)
			}
			b.ResetTimer()
			start, cpu, now, got := time.Now(), processCPU(), benchNow, 0
			for got < b.N {
				now = now.Add(time.Millisecond)
				res, err := s.Claim(ctx, &store.ClaimParams{Queue: "default", Max: 100, LeaseFor: time.Hour, Now: now})
				if err != nil {
					b.Fatal(err)
				}
				if len(res.Jobs) == 0 {
					b.Fatalf("claimed %d of %d", got, b.N)
				}
				got += len(res.Jobs)
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "jobs/s")
			if cpu > 0 {
				b.ReportMetric(float64(b.N)/(processCPU()-cpu).Seconds(), "jobs/cpu-s")
			}
		})
	}
}

// prefillKeys enqueues n jobs like prefill's, the i'th of tenant key(i).
func prefillKeys(tb testing.TB, s *Store, n int, key func(i int) int) {
	tb.Helper()
	for done := 0; done < n; {
		batch := make([]*store.NewJob, 0, 1000)
		for ; done < n && len(batch) < cap(batch); done++ {
			j := benchJob()
			j.Args = fmt.Appendf(nil, `{"tenant":%d,"url":"https://example.com/a.png"}`, key(done))
			batch = append(batch, j)
		}
		if _, err := s.Enqueue(context.Background(), &store.EnqueueParams{Jobs: batch, Now: benchNow}); err != nil {
			tb.Fatal(fmt.Errorf("prefill: %w", err))
		}
	}
}

package postgres_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
)

// BenchmarkClaimLimits: claims of 100 from a backlog of b.N jobs, without
// limits and with a rate no claim reaches (1,000,000/s, burst 1,000,000):
// what the bucket (its row's update and lock) costs a claim. The keyed
// cases split the backlog by args.tenant with a per-key concurrency no key
// reaches: over 10,000 keys (manyKeys), 10 (fewKeys) and one (hotKey).
// docs/benchmarks.md "Limits".
func BenchmarkClaimLimits(b *testing.B) {
	keyed := store.Limits{Key: "args.tenant", PerKeyConcurrency: 1_000_000}
	for _, tc := range []struct {
		name   string
		limits store.Limits
		keys   int
	}{
		{"off", store.Limits{}, 0},
		{"on", store.Limits{Rate: "1000000/s", Burst: 1000000}, 0},
		{"manyKeys", keyed, 10_000},
		{"fewKeys", keyed, 10},
		{"hotKey", keyed, 1},
	} {
		b.Run(tc.name, func(b *testing.B) {
			s := setup(b, nil)
			if tc.limits.Keyed() {
				// Keys are read at enqueue: the limits come first.
				if err := s.SetLimits(b.Context(), &store.SetLimitsParams{Queue: "default", Limits: tc.limits}); err != nil {
					b.Fatal(err)
				}
			}
			i := 0
			for n := b.N; n > 0; n -= 1000 {
				jobs := newJobs(min(n, 1000), func(j *store.NewJob) {
					if tc.keys > 0 {
						j.Args = []byte(fmt.Sprintf(`{"tenant":"t%d"}`, i%tc.keys))
					}
					i++
				})
				if _, err := s.Enqueue(b.Context(), &store.EnqueueParams{Jobs: jobs, Now: t0}); err != nil {
					b.Fatal(err)
				}
			}
			// The planner's statistics as autovacuum keeps them: a schema
			// never analyzed plans the key lookups as scans.
			exec(b, `ANALYZE "`+s.Schema()+`".jobs, "`+s.Schema()+`".queue_keys`)
			if err := s.SetLimits(b.Context(), &store.SetLimitsParams{Queue: "default", Limits: tc.limits}); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			start, now, got := time.Now(), t0, 0
			for got < b.N {
				now = now.Add(time.Millisecond)
				res, err := s.Claim(b.Context(), &store.ClaimParams{Queue: "default", Max: 100, LeaseFor: time.Hour, Now: now})
				if err != nil {
					b.Fatal(err)
				}
				if len(res.Jobs) == 0 {
					b.Fatalf("claimed %d of %d", got, b.N)
				}
				got += len(res.Jobs)
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "jobs/s")
		})
	}
}

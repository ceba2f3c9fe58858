package postgres_test

import (
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
)

// BenchmarkClaimLimits: claims of 100 from a backlog of b.N jobs, without
// limits and with a rate no claim reaches (1,000,000/s, burst 1,000,000):
// what the bucket (its row's update and lock) costs a claim.
// docs/benchmarks.md "Limits".
func BenchmarkClaimLimits(b *testing.B) {
	for _, tc := range []struct {
		name   string
		limits store.Limits
	}{
		{"off", store.Limits{}},
		{"on", store.Limits{Rate: "1000000/s", Burst: 1000000}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			s := setup(b, nil)
			for n := b.N; n > 0; n -= 1000 {
				if _, err := s.Enqueue(b.Context(), &store.EnqueueParams{Jobs: newJobs(min(n, 1000)), Now: t0}); err != nil {
					b.Fatal(err)
				}
			}
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

package embedded

import (
	"context"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
)

// BenchmarkClaimLimits: claims of 100 from a backlog of b.N jobs, without
// limits and with a rate no claim reaches (1,000,000/s, burst 1,000,000):
// what the bucket itself costs a claim. docs/benchmarks.md "Limits".
func BenchmarkClaimLimits(b *testing.B) {
	for _, tc := range []struct {
		name   string
		limits store.Limits
	}{
		{"off", store.Limits{}},
		{"on", store.Limits{Rate: "1000000/s", Burst: 1000000}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			s := openBench(b)
			ctx := context.Background()
			prefill(b, s, b.N)
			if err := s.SetLimits(ctx, &store.SetLimitsParams{Queue: "default", Limits: tc.limits, Now: benchNow}); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			start, now, got := time.Now(), benchNow, 0
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
		})
	}
}

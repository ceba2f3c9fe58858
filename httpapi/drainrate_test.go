package httpapi

import (
	"math"
	"testing"
	"time"
)

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		excess int64
		rate   float64
		known  bool
		want   time.Duration
	}{
		{"unknown rate", 10, 0, false, 5 * time.Second},
		{"NaN rate", 10, math.NaN(), true, 5 * time.Second},
		{"no excess", 0, 3, true, time.Second},
		{"not draining", 10, 0, true, 60 * time.Second},
		{"draining backwards", 10, -1, true, 60 * time.Second},
		{"exact", 10, 2, true, 5 * time.Second},
		{"rounds up", 10, 3, true, 4 * time.Second},
		{"fast drain clamps to 1s", 1, 1000, true, time.Second},
		{"slow drain clamps to 60s", 1000, 1, true, 60 * time.Second},
		{"just under the cap", 59, 1, true, 59 * time.Second},
		{"huge excess", math.MaxInt64, 0.001, true, 60 * time.Second},
		{"tiny rate", 1, 1e-300, true, 60 * time.Second},
	} {
		if got := retryAfter(tc.excess, tc.rate, tc.known); got != tc.want {
			t.Errorf("%s: retryAfter(%d, %v, %v) = %v, want %v", tc.name, tc.excess, tc.rate, tc.known, got, tc.want)
		}
	}
}

func TestDrainRate(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	type sample struct {
		ms       int
		finished int64
	}
	for _, tc := range []struct {
		name    string
		samples []sample
		want    float64
		known   bool
	}{
		{"no samples", nil, 0, false},
		{"one sample", []sample{{0, 5}}, 0, false},
		{"too short a span", []sample{{0, 5}, {200, 50}}, 0, false},
		{"steady", []sample{{0, 0}, {1000, 10}, {2000, 20}}, 10, true},
		{"idle", []sample{{0, 7}, {1000, 7}}, 0, true},
		{"older than the newest is ignored", []sample{{0, 0}, {2000, 20}, {1000, 1000}}, 10, true},
		{"same time is ignored", []sample{{0, 0}, {1000, 10}, {1000, 99}}, 10, true},
		{"pruned counts restart the window", []sample{{0, 100}, {1000, 200}, {2000, 50}, {3000, 60}}, 10, true},
		{"pruned, then too little to tell", []sample{{0, 100}, {1000, 200}, {2000, 50}}, 0, false},
		// Samples older than the window fall out, keeping one at its start:
		// 0 at 0s is dropped, 100 at 10s spans to 110 at 20s.
		{"window slides", []sample{{0, 0}, {10000, 100}, {15000, 105}, {20000, 110}}, 1, true},
	} {
		var d drainRate
		for _, s := range tc.samples {
			d.add(at(s.ms), s.finished)
		}
		got, known := d.rate()
		if known != tc.known || math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("%s: rate() = %v, %v; want %v, %v", tc.name, got, known, tc.want, tc.known)
		}
	}
}

func TestDrainRateKeepsBoundedSamples(t *testing.T) {
	t.Parallel()
	var d drainRate
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	for i := range 10000 {
		d.add(t0.Add(time.Duration(i)*time.Millisecond), int64(i))
	}
	if len(d.samples) > rateMaxSamples {
		t.Errorf("%d samples kept, want at most %d", len(d.samples), rateMaxSamples)
	}
	if rate, ok := d.rate(); !ok || math.Abs(rate-1000) > 1e-6 {
		t.Errorf("rate = %v, %v; want 1000", rate, ok)
	}
}

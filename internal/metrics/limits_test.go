package metrics_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/gantry-dev/gantry/internal/metrics"
	"github.com/gantry-dev/gantry/store"
)

// fakeLimitStats answers LimitStats from a table, as a store that applies
// per-key limits would; it records the MaxKeys it was asked for.
type fakeLimitStats struct {
	stats   map[string]*store.LimitStats
	maxKeys map[string]int
}

func (f *fakeLimitStats) LimitStats(_ context.Context, p *store.LimitStatsParams) (*store.LimitStats, error) {
	if p.Queue == "broken" {
		return nil, errors.New("disk on fire")
	}
	f.maxKeys[p.Queue] = p.MaxKeys
	return f.stats[p.Queue], nil
}

// TestLimitGauges: the limit series come from the store at scrape time,
// for the queues with limits only, with per-key series for the top keys
// the store reports, at most MaxLimitKeys a queue.
func TestLimitGauges(t *testing.T) {
	t.Parallel()
	rate := store.Limits{Rate: "10/s"}
	keyed := store.Limits{Key: "args.customer", PerKeyConcurrency: 2}
	var top []store.KeyStats
	for i := range 30 { // more than the store was asked for: the series stay capped
		top = append(top, store.KeyStats{Key: fmt.Sprintf("c%02d", i), Available: 100 - i, Running: 2, Held: i%2 == 0})
	}
	ls := &fakeLimitStats{maxKeys: map[string]int{}, stats: map[string]*store.LimitStats{
		"rated": {Limits: rate, Tokens: 2.5, Held: 40},
		"keyed": {Limits: keyed, Held: 7, Keys: 12345, TopKeys: top},
	}}
	src := &fakeQueues{qs: []store.QueueInfo{
		{Name: "plain"}, {Name: "rated", Limits: &rate}, {Name: "keyed", Limits: &keyed}, {Name: "broken", Limits: &rate},
		{Name: "gone", Limits: &rate}, // LimitStats answers nil: its limits were just removed
	}}
	m := setup(t, &metrics.Config{Queues: src, Limits: ls})
	compare(t, m, `
# HELP gantry_limit_held_jobs Available jobs of the queue that its limits hold back now (the store may count them approximately).
# TYPE gantry_limit_held_jobs gauge
gantry_limit_held_jobs{queue="keyed"} 7
gantry_limit_held_jobs{queue="rated"} 40
# HELP gantry_limit_keys Keys of a keyed queue with available or running jobs.
# TYPE gantry_limit_keys gauge
gantry_limit_keys{queue="keyed"} 12345
# HELP gantry_limit_tokens Tokens in the queue's rate-limit bucket, for queues with a rate.
# TYPE gantry_limit_tokens gauge
gantry_limit_tokens{queue="rated"} 2.5
`, "gantry_limit_held_jobs", "gantry_limit_keys", "gantry_limit_tokens")
	if ls.maxKeys["keyed"] != metrics.MaxLimitKeys {
		t.Errorf("LimitStats asked for %d keys, want %d", ls.maxKeys["keyed"], metrics.MaxLimitKeys)
	}
	if _, asked := ls.maxKeys["plain"]; asked {
		t.Error("LimitStats was asked about a queue without limits")
	}
	for name, want := range map[string]int{"gantry_limit_key_held_jobs": metrics.MaxLimitKeys, "gantry_limit_key_running": metrics.MaxLimitKeys} {
		if n, err := testutil.GatherAndCount(m.Registry(), name); err != nil || n != want {
			t.Errorf("%s: %d series, %v; want %d", name, n, err, want)
		}
	}
	compare(t, m, `
# HELP gantry_limit_key_held_jobs Available jobs of one key that a limit holds back now, for the queue's keys with the most available jobs (at most 20 a queue).
# TYPE gantry_limit_key_held_jobs gauge
`+keySeries("gantry_limit_key_held_jobs", top, func(k store.KeyStats) int {
		if k.Held {
			return k.Available
		}
		return 0
	}), "gantry_limit_key_held_jobs")
}

func keySeries(name string, top []store.KeyStats, value func(store.KeyStats) int) string {
	var b strings.Builder
	for _, k := range top[:metrics.MaxLimitKeys] {
		fmt.Fprintf(&b, "%s{key=%q,queue=\"keyed\"} %d\n", name, k.Key, value(k))
	}
	return b.String()
}

// TestLimitDelays: claims held back by a rate are counted, with how long.
func TestLimitDelays(t *testing.T) {
	t.Parallel()
	m := setup(t, nil)
	m.LimitDelayed("email", 200*time.Millisecond)
	m.LimitDelayed("email", 3*time.Second)
	compare(t, m, `
# HELP gantry_limit_delays_total Claims of the queue that its rate limits held back until a token was there.
# TYPE gantry_limit_delays_total counter
gantry_limit_delays_total{queue="email"} 2
`, "gantry_limit_delays_total")
	if n, err := testutil.GatherAndCount(m.Registry(), "gantry_limit_delay_seconds"); err != nil || n != 1 {
		t.Errorf("gantry_limit_delay_seconds: %d series, %v", n, err)
	}
	// No limit gauges without a LimitStatsStore.
	m = setup(t, &metrics.Config{Queues: &fakeQueues{qs: []store.QueueInfo{{Name: "q", Limits: &store.Limits{Rate: "1/s"}}}}})
	if n, err := testutil.GatherAndCount(m.Registry(), "gantry_limit_held_jobs"); err != nil || n != 0 {
		t.Errorf("without Limits: %d gantry_limit_held_jobs series, %v", n, err)
	}
}

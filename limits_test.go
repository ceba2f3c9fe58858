package gantry_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gantry-dev/gantry"
	"github.com/gantry-dev/gantry/store/embedded"
)

// limitSpan is how long the rate tests measure: 3s in make test, a minute
// with GANTRY_LIMITS_LONG=1 (make test-limits-long).
func limitSpan() time.Duration {
	if os.Getenv("GANTRY_LIMITS_LONG") != "" {
		return time.Minute
	}
	return 3 * time.Second
}

// startTimes records when jobs start.
type startTimes struct {
	mu sync.Mutex
	at []time.Time
}

func (s *startTimes) add() {
	s.mu.Lock()
	s.at = append(s.at, time.Now())
	s.mu.Unlock()
}

// check fails t unless the jobs that started within span of the first
// number burst + rate*span, within 5%.
func (s *startTimes) check(t *testing.T, perSecond float64, burst int, span time.Duration) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.at) == 0 {
		t.Fatal("no job started")
	}
	first, n := s.at[0], 0
	for _, at := range s.at {
		if at.Sub(first) < span {
			n++
		}
	}
	want := float64(burst) + perSecond*span.Seconds()
	if dev := math.Abs(float64(n)-want) / want; dev > 0.05 {
		t.Errorf("%d jobs started in %v at %v/s with burst %d, want %.0f within 5%% (off by %.1f%%)", n, span, perSecond, burst, want, dev*100)
	}
	t.Logf("%d jobs started in %v, want %.0f", n, span, want)
}

func enqueueGreets(t *testing.T, c *gantry.Client, n int) {
	t.Helper()
	specs := make([]gantry.JobSpec, n)
	for i := range specs {
		specs[i] = gantry.JobSpec{Kind: "greet", Args: []byte(`{"name":"x"}`)}
	}
	for i := 0; i < n; i += 500 {
		if _, err := c.EnqueueBatch(context.Background(), specs[i:min(i+500, n)], nil); err != nil {
			t.Fatal(err)
		}
	}
}

// TestLimitsRateInProcess: in-process handlers start a rate-limited
// queue's jobs at its rate, however many workers wait.
func TestLimitsRateInProcess(t *testing.T) {
	t.Parallel()
	span := limitSpan()
	const perSecond, burst = 40, 5
	var st startTimes
	reg := gantry.NewRegistry()
	gantry.Register(reg, gantry.HandlerFunc[greetArgs](func(context.Context, *gantry.Task[greetArgs]) error {
		st.add()
		return nil
	}))
	c := setup(t, reg, &gantry.Config{Queues: map[string]gantry.QueueConfig{
		gantry.DefaultQueue: {Workers: 16}}, Limits: map[string]gantry.Limits{gantry.DefaultQueue: {Rate: "40/s", Burst: burst}}})
	enqueueGreets(t, c, int(perSecond*span.Seconds())+200)
	time.Sleep(span + 300*time.Millisecond)
	st.check(t, perSecond, burst, span)
}

// TestLimitsRateLeased: external workers leasing as fast as they can get
// a rate-limited queue's jobs at its rate.
func TestLimitsRateLeased(t *testing.T) {
	t.Parallel()
	span := limitSpan()
	const perSecond, burst = 40, 5
	c := setup(t, gantry.NewRegistry(), &gantry.Config{Queues: map[string]gantry.QueueConfig{
		gantry.DefaultQueue: {Workers: 1}}, Limits: map[string]gantry.Limits{gantry.DefaultQueue: {Rate: "40/s", Burst: burst}}})
	enqueueGreets(t, c, int(perSecond*span.Seconds())+200)
	var st startTimes
	ctx, cancel := context.WithTimeout(context.Background(), span+300*time.Millisecond)
	defer cancel()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for ctx.Err() == nil {
				jobs, err := c.Workers().Lease(ctx, &gantry.LeaseParams{Max: 10, Wait: time.Second})
				if err != nil {
					return
				}
				for range jobs {
					st.add()
				}
			}
		})
	}
	wg.Wait()
	st.check(t, perSecond, burst, span)
}

// TestLimitsRestart: the limits a client's config sets are stored and
// survive a restart; a client started later with other limits applies
// its own and warns naming the difference.
func TestLimitsRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := context.Background()
	run := func(l *gantry.Limits, logs *bytes.Buffer) []gantry.QueueInfo {
		t.Helper()
		st, err := embedded.Open(dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		cfg := &gantry.Config{Logger: slog.New(slog.NewTextHandler(logs, nil))}
		if l != nil {
			cfg.Limits = map[string]gantry.Limits{"mail": *l}
		}
		c, err := gantry.NewClient(st, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Start(ctx); err != nil {
			t.Fatal(err)
		}
		defer c.Stop(ctx)
		qs, err := c.Queues(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return qs
	}
	limitsOf := func(qs []gantry.QueueInfo) *gantry.Limits {
		for _, q := range qs {
			if q.Name == "mail" {
				return q.Limits
			}
		}
		return nil
	}
	var logs bytes.Buffer
	a := gantry.Limits{Rate: "50/s", Burst: 10}
	if got := limitsOf(run(&a, &logs)); got == nil || !got.Equal(a) {
		t.Fatalf("limits after the first start: %+v, want %+v", got, a)
	}
	if got := limitsOf(run(nil, &logs)); got == nil || !got.Equal(a) {
		t.Errorf("a start without limits in its config changed them: %+v, want %+v", got, a)
	}
	if logs.Len() != 0 {
		t.Errorf("warnings with the same or no config limits: %s", logs.String())
	}
	b := gantry.Limits{Rate: "20/s", Burst: 10}
	if got := limitsOf(run(&b, &logs)); got == nil || !got.Equal(b) {
		t.Errorf("limits after a start with others: %+v, want %+v (the last start wins)", got, b)
	}
	if out := logs.String(); !strings.Contains(out, "level=WARN") || !strings.Contains(out, "queue=mail") ||
		!strings.Contains(out, `rate \"50/s\" -> \"20/s\"`) || strings.Contains(out, "burst") {
		t.Errorf("the warning does not name the difference: %s", out)
	}
}

func TestLimitsInvalidConfig(t *testing.T) {
	t.Parallel()
	st, err := embedded.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	_, err = gantry.NewClient(st, &gantry.Config{Limits: map[string]gantry.Limits{"q": {Rate: "fast"}}})
	if err == nil || !strings.Contains(err.Error(), "Rate") {
		t.Errorf("NewClient with a bad rate: %v, want an error naming Rate", err)
	}
}

func TestLimitsDiff(t *testing.T) {
	t.Parallel()
	many := map[string]int{}
	for i := range 12 {
		many[fmt.Sprintf("k%02d", i)] = 2
	}
	for _, tc := range []struct {
		a, b gantry.Limits
		want string
	}{
		{gantry.Limits{}, gantry.Limits{}, ""},
		{gantry.Limits{Rate: "5/s", Weights: map[string]int{"a": 2}}, gantry.Limits{Rate: "5/s", Weights: map[string]int{"a": 2}}, ""},
		{gantry.Limits{Rate: "50/s", Burst: 10}, gantry.Limits{Rate: "20/s", Burst: 10}, `rate "50/s" -> "20/s"`},
		{gantry.Limits{Rate: "50/s"}, gantry.Limits{Rate: "50/s", Burst: 3}, `burst 0 -> 3`},
		{gantry.Limits{}, gantry.Limits{Key: "args.customer", PerKeyConcurrency: 1, PerKeyRate: "5/s", PerKeyBurst: 2, Order: "fifo"},
			`key "" -> "args.customer", per_key_concurrency 0 -> 1, per_key_rate "" -> "5/s", per_key_burst 0 -> 2, order "" -> "fifo"`},
		{gantry.Limits{Key: "kind", Weights: map[string]int{"a": 3, "b": 1, "c": 2}}, gantry.Limits{Key: "kind", Weights: map[string]int{"a": 1, "c": 2, "d": 5}},
			`weights["a"] 3 -> 1, weights["b"] 1 -> 0, weights["d"] 0 -> 5`},
		{gantry.Limits{Key: "kind"}, gantry.Limits{Key: "kind", Weights: many},
			`weights["k00"] 0 -> 2, weights["k01"] 0 -> 2, weights["k02"] 0 -> 2, weights["k03"] 0 -> 2, weights["k04"] 0 -> 2, weights["k05"] 0 -> 2, weights["k06"] 0 -> 2, weights["k07"] 0 -> 2, weights["k08"] 0 -> 2, weights["k09"] 0 -> 2, and 2 more weights`},
	} {
		if got := gantry.LimitsDiff(tc.a, tc.b); got != tc.want {
			t.Errorf("LimitsDiff(%+v, %+v) =\n%s\nwant\n%s", tc.a, tc.b, got, tc.want)
		}
	}
}

// TestLimitsJSONError: errors of Limits.Validate name the fields and the
// fields their reasons mention by their JSON names.
func TestLimitsJSONError(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		l    gantry.Limits
		want string
	}{
		{gantry.Limits{Rate: "fast"}, "rate: must be N/s, N/m or N/h with N a positive number"},
		{gantry.Limits{Key: "kind", PerKeyBurst: 2}, "per_key_burst: needs per_key_rate"},
		{gantry.Limits{Burst: 2}, "burst: needs rate"},
		{gantry.Limits{PerKeyConcurrency: 2}, "key: must be set with per-key limits, weights or order"},
		{gantry.Limits{Key: "kind", Order: "fifo", PerKeyConcurrency: 2}, `per_key_concurrency: must be 1 with order "fifo"`},
		{gantry.Limits{Key: "kind", Weights: map[string]int{"Rate": 0}}, `weights: weight of key "Rate" must be between 1 and 1000`},
	} {
		err := gantry.LimitsJSONError(tc.l.Validate())
		var fe *gantry.FieldError
		if !errors.As(err, &fe) || err.Error() != tc.want {
			t.Errorf("%+v: %v, want a *FieldError %q", tc.l, err, tc.want)
		}
	}
	if err := gantry.LimitsJSONError(nil); err != nil {
		t.Errorf("LimitsJSONError(nil) = %v", err)
	}
}

// TestLimitsRateWaitedHook: a claim that a queue's rate held back tells
// Hooks.RateWaited the queue and the wait, from the client's workers and
// from Workers.Lease.
func TestLimitsRateWaitedHook(t *testing.T) {
	t.Parallel()
	type waited struct {
		queue string
		wait  time.Duration
	}
	// watch returns a RateWaited hook and a check that it was called for
	// queue.
	watch := func() (func(string, time.Duration), func(*testing.T, string)) {
		got := make(chan waited, 100)
		hook := func(queue string, wait time.Duration) {
			select {
			case got <- waited{queue, wait}:
			default:
			}
		}
		return hook, func(t *testing.T, queue string) {
			t.Helper()
			select {
			case w := <-got:
				if w.queue != queue || w.wait <= 0 || w.wait > time.Second {
					t.Errorf("RateWaited(%q, %v), want queue %q and a wait of at most 1s", w.queue, w.wait, queue)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("RateWaited was not called")
			}
		}
	}
	t.Run("workers", func(t *testing.T) {
		hook, check := watch()
		reg := gantry.NewRegistry()
		gantry.Register(reg, gantry.HandlerFunc[greetArgs](func(context.Context, *gantry.Task[greetArgs]) error { return nil }))
		c := setup(t, reg, &gantry.Config{Hooks: gantry.Hooks{RateWaited: hook},
			Limits: map[string]gantry.Limits{gantry.DefaultQueue: {Rate: "2/s"}}})
		enqueueGreets(t, c, 5)
		check(t, gantry.DefaultQueue)
	})
	t.Run("lease", func(t *testing.T) {
		hook, check := watch()
		c := setup(t, gantry.NewRegistry(), &gantry.Config{Hooks: gantry.Hooks{RateWaited: hook},
			Limits: map[string]gantry.Limits{"ext": {Rate: "2/s"}}})
		for range 3 {
			if _, err := c.Enqueue(context.Background(), greetArgs{Name: "x"}, &gantry.EnqueueOpts{Queue: "ext"}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := c.Workers().Lease(context.Background(), &gantry.LeaseParams{Queue: "ext", Max: 3}); err != nil {
			t.Fatal(err)
		}
		check(t, "ext")
	})
}

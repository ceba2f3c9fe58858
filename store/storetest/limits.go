package storetest

import (
	"errors"
	"math"
	"os"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
)

// rateSpan is how much simulated time the Limits/RateHolds test claims
// over: ten seconds, or a minute with GANTRY_LIMITS_LONG=1 (make
// test-limits-long).
func rateSpan() time.Duration {
	if os.Getenv("GANTRY_LIMITS_LONG") != "" {
		return time.Minute
	}
	return 10 * time.Second
}

func testLimits(t *testing.T, open opener) {
	limiter := func(t *testing.T, h *harness) store.LimitStore {
		t.Helper()
		ls, ok := store.As[store.LimitStore](h.d)
		if !ok {
			t.Skip("the driver has no store.LimitStore")
		}
		return ls
	}
	set := func(h *harness, ls store.LimitStore, queue string, l store.Limits) {
		h.t.Helper()
		if err := ls.SetLimits(h.ctx, &store.SetLimitsParams{Queue: queue, Limits: l, Now: h.now}); err != nil {
			h.t.Fatalf("SetLimits(%q, %+v): %v", queue, l, err)
		}
	}

	t.Run("SetAndList", func(t *testing.T) {
		h := setup(t, open)
		ls := limiter(t, h)
		l := store.Limits{Rate: "50/s", Burst: 10}
		set(h, ls, "idle", l)
		q, ok := h.queues()["idle"]
		if !ok || q.Limits == nil || !q.Limits.Equal(l) {
			t.Fatalf("Queues after SetLimits on a queue without jobs: %+v (listed %v), want limits %+v", q, ok, l)
		}
		h.pause("idle", true)
		if q := h.queues()["idle"]; !q.Paused || q.Limits == nil || !q.Limits.Equal(l) {
			t.Errorf("pausing dropped the limits or SetLimits the pause: %+v", q)
		}
		set(h, ls, "idle", store.Limits{})
		if q := h.queues()["idle"]; q.Limits != nil || !q.Paused {
			t.Errorf("Queues after removing the limits: %+v, want no limits, still paused", q)
		}
		h.enqueue()
		if q := h.queues()["default"]; q.Limits != nil {
			t.Errorf("a queue never limited reports limits %+v", q.Limits)
		}
	})

	t.Run("Invalid", func(t *testing.T) {
		h := setup(t, open)
		ls := limiter(t, h)
		for _, tc := range []struct {
			queue string
			l     store.Limits
			field string
		}{
			{"q", store.Limits{Rate: "50"}, "Rate"},
			{"q", store.Limits{Rate: "0/s"}, "Rate"},
			{"q", store.Limits{Rate: "5/d"}, "Rate"},
			{"q", store.Limits{Rate: "5/s", Burst: -1}, "Burst"},
			{"q", store.Limits{Rate: "5/s", Burst: store.MaxBurst + 1}, "Burst"},
			{"", store.Limits{Rate: "5/s"}, "Queue"},
		} {
			err := ls.SetLimits(h.ctx, &store.SetLimitsParams{Queue: tc.queue, Limits: tc.l, Now: h.now})
			var fe *store.FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field || !errors.Is(err, store.ErrInvalid) {
				t.Errorf("SetLimits(%q, %+v) = %v, want an ErrInvalid *FieldError on %s", tc.queue, tc.l, err, tc.field)
			}
		}
		if _, ok := h.queues()["q"]; ok {
			t.Errorf("a refused SetLimits made the queue exist")
		}
	})

	t.Run("Burst", func(t *testing.T) {
		h := setup(t, open)
		ls := limiter(t, h)
		h.enqueueMany(20, withQueue("q"))
		other := h.enqueueMany(5, withQueue("other"))
		set(h, ls, "q", store.Limits{Rate: "10/s", Burst: 4})
		res, err := h.d.Claim(h.ctx, &store.ClaimParams{Queue: "q", Max: 10, LeaseFor: leaseFor, Now: h.now})
		if err != nil || len(res.Jobs) != 4 {
			t.Fatalf("a claim of 10 from a full bucket of 4: %v jobs, %v; want 4", res, err)
		}
		if res.RateWait != 100*time.Millisecond {
			t.Errorf("RateWait of an empty bucket at 10/s = %v, want 100ms", res.RateWait)
		}
		h.claimNone("q")
		if got := h.claim(store.ClaimParams{Queue: "other"}); len(got) != len(other) {
			t.Errorf("another queue is limited too: %d of %d jobs", len(got), len(other))
		}
		h.advance(250 * time.Millisecond)
		if got := h.claim(store.ClaimParams{Queue: "q"}); len(got) != 2 {
			t.Errorf("after 250ms at 10/s: %d jobs, want 2", len(got))
		}
		// The bucket holds the half token left: 50ms to the next.
		res, err = h.d.Claim(h.ctx, &store.ClaimParams{Queue: "q", Max: 10, LeaseFor: leaseFor, Now: h.now})
		if err != nil || len(res.Jobs) != 0 || res.RateWait != 50*time.Millisecond {
			t.Errorf("a claim with half a token: %v, %v; want no jobs and RateWait 50ms", res, err)
		}
		// Waiting a long time fills the bucket to its burst, not more.
		h.advance(time.Hour)
		if got := h.claim(store.ClaimParams{Queue: "q"}); len(got) != 4 {
			t.Errorf("after an hour: %d jobs, want the burst of 4", len(got))
		}
		// Claims smaller than the tokens leave the rest.
		h.advance(time.Hour)
		h.claim(store.ClaimParams{Queue: "q", Max: 4})
		h.advance(time.Hour)
		h.claim(store.ClaimParams{Queue: "q", Max: 1})
		if got := h.claim(store.ClaimParams{Queue: "q", Max: 10}); len(got) != 3 {
			t.Errorf("tokens after a claim of 1: %d jobs, want 3", len(got))
		}
		// 2 jobs are left: a claim that finds fewer jobs than tokens spends
		// only those.
		h.advance(time.Hour)
		if got := h.claim(store.ClaimParams{Queue: "q", Max: 10}); len(got) != 2 {
			t.Errorf("the last jobs: %d, want 2", len(got))
		}
		h.enqueueMany(5, withQueue("q"))
		if got := h.claim(store.ClaimParams{Queue: "q", Max: 10}); len(got) != 2 {
			t.Errorf("tokens after a claim that found 2 jobs: %d jobs, want 2", len(got))
		}
		// Removing the limit lets the rest through at once.
		set(h, ls, "q", store.Limits{})
		if got := h.claim(store.ClaimParams{Queue: "q", Max: 10}); len(got) != 3 {
			t.Errorf("after removing the limit: %d jobs, want the 3 left", len(got))
		}
	})

	t.Run("ChangeRefills", func(t *testing.T) {
		h := setup(t, open)
		ls := limiter(t, h)
		h.enqueueMany(10)
		set(h, ls, "default", store.Limits{Rate: "1/h", Burst: 2})
		if got := h.claim(store.ClaimParams{}); len(got) != 2 {
			t.Fatalf("a full bucket of 2: %d jobs", len(got))
		}
		set(h, ls, "default", store.Limits{Rate: "1/h", Burst: 2}) // the same: no refill
		h.claimNone("default")
		set(h, ls, "default", store.Limits{Rate: "1/h", Burst: 3})
		if got := h.claim(store.ClaimParams{}); len(got) != 3 {
			t.Errorf("after a new burst of 3: %d jobs, want a full bucket", len(got))
		}
	})

	t.Run("RateHolds", func(t *testing.T) {
		h := setup(t, open)
		ls := limiter(t, h)
		span := rateSpan()
		const perSecond, burst = 50, 10
		want := burst + perSecond*int(span/time.Second)
		jobs := make([]*store.NewJob, 0, want+100)
		for range cap(jobs) {
			jobs = append(jobs, h.newJob())
		}
		for i := 0; i < len(jobs); i += 500 {
			if _, err := h.enqueueBatch(jobs[i:min(i+500, len(jobs))]...); err != nil {
				t.Fatal(err)
			}
		}
		set(h, ls, "default", store.Limits{Rate: "50/s", Burst: burst})
		// Claim as the engine does: again at once after a full claim, after
		// RateWait when the rate held it back.
		start, got, claims := h.now, 0, 0
		for h.now.Before(start.Add(span)) {
			res, err := h.d.Claim(h.ctx, &store.ClaimParams{Queue: "default", Max: 16, LeaseFor: time.Hour, Now: h.now})
			if err != nil {
				t.Fatal(err)
			}
			claims++
			got += len(res.Jobs)
			switch {
			case len(res.Jobs) == 16:
			case res.RateWait <= 0 || res.RateWait > time.Second/perSecond:
				t.Fatalf("a claim of %d at %s: RateWait %v, want within one token's time", len(res.Jobs), h.at(), res.RateWait)
			default:
				h.advance(res.RateWait.Truncate(time.Microsecond) + time.Microsecond)
			}
		}
		if dev := math.Abs(float64(got-want)) / float64(want); dev > 0.05 {
			t.Errorf("over %v at 50/s with burst 10: %d jobs claimed, want %d within 5%% (off by %.1f%%)", span, got, want, dev*100)
		}
		t.Logf("%d jobs over %v in %d claims (want %d)", got, span, claims, want)
	})
}

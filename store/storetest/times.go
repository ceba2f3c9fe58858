package storetest

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
)

// testTimes checks that a driver keeps every time it is given inside the
// window (store.MinTime, store.MaxTime) and refuses one outside it rather
// than store it wrapped around.
func testTimes(t *testing.T, open opener) {
	t.Run("RunAtOutsideWindow", func(t *testing.T) {
		cases := []struct {
			name string
			at   time.Time
		}{
			{"Year9999", time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)},
			{"PastUnixNanos", time.Date(2262, 4, 12, 0, 0, 0, 0, time.UTC)},
			{"MaxTime", store.MaxTime},
			{"Year1677", time.Date(1677, 1, 1, 0, 0, 0, 0, time.UTC)},
			{"BeforeEpoch", time.Date(1969, 12, 31, 23, 59, 59, 0, time.UTC)},
			{"Epoch", store.MinTime},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				h := setup(t, open)
				_, err := h.enqueueBatch(h.newJob(), h.newJob(withRunAt(c.at)))
				wantFieldError(t, err, 1, "RunAt")
				wantNoJobs(h)
			})
		}
	})

	t.Run("RunAtInsideWindow", func(t *testing.T) {
		cases := []struct {
			name string
			at   time.Time
			want store.State
		}{
			{"JustBeforeMaxTime", store.MaxTime.Add(-time.Second), store.StateScheduled},
			{"Year2199", time.Date(2199, 6, 1, 0, 0, 0, 0, time.UTC), store.StateScheduled},
			// A past run_at inside the window means now.
			{"JustAfterEpoch", store.MinTime.Add(time.Second), store.StateAvailable},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				h := setup(t, open)
				j := h.enqueue(withRunAt(c.at))
				got := h.get(j.ID)
				if got.State != c.want || !got.RunAt.Equal(c.at) {
					t.Errorf("job enqueued with run_at %s: %s with run_at %s, want %s with run_at %s",
						fmtTime(c.at), got.State, fmtTime(got.RunAt), c.want, fmtTime(c.at))
				}
				if c.want == store.StateScheduled {
					h.claimNone("default")
				}
			})
		}
	})

	t.Run("LeaseBeyondWindow", func(t *testing.T) {
		for _, d := range []time.Duration{store.MaxTime.Sub(baseTime), math.MaxInt64} {
			t.Run(d.String(), func(t *testing.T) {
				h := setup(t, open)
				j := h.enqueue()
				_, err := h.d.Claim(h.ctx, &store.ClaimParams{Queue: "default", Max: 1, LeaseFor: d, Now: h.now})
				wantTimeError(t, "Claim", err, "LeaseFor")
				if got := h.get(j.ID); got.State != store.StateAvailable {
					t.Errorf("after a refused claim the job is %s, want available", got.State)
				}
			})
		}
	})

	t.Run("HeartbeatBeyondWindow", func(t *testing.T) {
		h := setup(t, open)
		j := h.claimJob(h.enqueue(withKind(h.uniqueKind())))
		_, err := h.heartbeat(store.HeartbeatParams{ID: j.ID, LeaseToken: j.LeaseToken, ExtendBy: math.MaxInt64})
		wantTimeError(t, "Heartbeat", err, "ExtendBy")
		if got := h.get(j.ID); !got.LeaseExpiresAt.Equal(j.LeaseExpiresAt) {
			t.Errorf("after a refused heartbeat the lease ends at %s, want %s", fmtTime(got.LeaseExpiresAt), fmtTime(j.LeaseExpiresAt))
		}
	})

	t.Run("RetryAtOutsideWindow", func(t *testing.T) {
		for _, o := range []store.Outcome{store.OutcomeFailed, store.OutcomeSnoozed} {
			t.Run(string(o), func(t *testing.T) {
				h := setup(t, open)
				j := h.claimJob(h.enqueue(withKind(h.uniqueKind())))
				it := h.failItem(j, "boom", 0)
				it.Outcome = o
				it.RetryAt = time.Date(2319, 1, 1, 0, 0, 0, 0, time.UTC)
				_, err := h.finishOne(it)
				wantTimeError(t, "Finish", err, "retry_at")
				if got := h.get(j.ID); got.State != store.StateRunning {
					t.Errorf("after a refused finish the job is %s, want running", got.State)
				}
				// The same attempt can still be finished with a good time.
				it.RetryAt = h.now.Add(time.Hour)
				if got := h.mustFinish(it); !got.RunAt.Equal(it.RetryAt) {
					t.Errorf("finished with retry_at %s: run_at %s", fmtTime(it.RetryAt), fmtTime(got.RunAt))
				}
			})
		}
	})

	t.Run("IdempotencyExpiresOutsideWindow", func(t *testing.T) {
		h := setup(t, open)
		_, err := h.d.Enqueue(h.ctx, &store.EnqueueParams{Jobs: []*store.NewJob{h.newJob()}, Now: h.now,
			IdempotencyKey: "k", IdempotencyHash: "h", IdempotencyExpires: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)})
		wantTimeError(t, "Enqueue", err, "IdempotencyExpires")
		wantNoJobs(h)
	})

	t.Run("RescueBackoffCapped", func(t *testing.T) {
		h := setup(t, open)
		j := h.claimJob(h.enqueue(withKind(h.uniqueKind())))
		h.advance(leaseFor)
		res, err := h.d.Rescue(h.ctx, &store.RescueParams{Now: h.now,
			Backoff: func(int) time.Duration { return math.MaxInt64 }})
		if err != nil {
			t.Fatalf("Rescue: %v", err)
		}
		if len(res.Jobs) != 1 {
			t.Fatalf("Rescue: %d jobs, want 1", len(res.Jobs))
		}
		got := h.get(j.ID)
		if got.State != store.StateRetrying || !got.RunAt.After(h.now) || !got.RunAt.Before(store.MaxTime) {
			t.Errorf("rescued with an endless backoff: %s with run_at %s, want retrying before %s",
				got.State, fmtTime(got.RunAt), fmtTime(store.MaxTime))
		}
		h.claimNoneOf(j)
	})
}

// wantTimeError fails the test unless err wraps ErrInvalid and a
// *FieldError naming field.
func wantTimeError(t *testing.T, call string, err error, field string) {
	t.Helper()
	var fe *store.FieldError
	switch {
	case err == nil:
		t.Fatalf("%s: no error, want ErrInvalid naming %s", call, field)
	case !errors.Is(err, store.ErrInvalid):
		t.Errorf("%s: error %v does not wrap ErrInvalid", call, err)
	case !errors.As(err, &fe):
		t.Errorf("%s: error %v carries no *store.FieldError", call, err)
	case fe.Field != field:
		t.Errorf("%s: FieldError names %q (%v), want %q", call, fe.Field, fe, field)
	}
}

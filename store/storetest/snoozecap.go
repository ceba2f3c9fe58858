package storetest

import (
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
)

// testSnoozeCap: a job is snoozed without spending an attempt at most
// store.MaxSnoozes times and for store.MaxSnoozeAge from its first snooze;
// past either, a snooze is a failed attempt whose error says why, and a
// manual retry starts the count again.
func testSnoozeCap(t *testing.T, open opener) {
	// snooze claims j and snoozes it for a second, returning the job
	// after Finish; the clock then moves past the snooze.
	snooze := func(h *harness, j *store.Job, msg string) *store.Job {
		h.t.Helper()
		c := h.claimJob(j)
		it := store.FinishItem{ID: j.ID, LeaseToken: c.LeaseToken, Outcome: store.OutcomeSnoozed, RetryAt: h.now.Add(time.Second)}
		if msg != "" {
			it.Error = &store.AttemptError{Message: msg}
		}
		got := h.mustFinish(it)
		h.advance(time.Second)
		return got
	}

	t.Run("Count", func(t *testing.T) {
		h := setup(t, open)
		j := h.enqueue(withAttempts(2))
		first := h.now
		for i := 1; i <= store.MaxSnoozes; i++ {
			got := snooze(h, j, "")
			if got.State != store.StateScheduled || got.Attempt != 0 || got.Snoozes != i || len(got.Errors) != 0 {
				t.Fatalf("snooze %d: state %s, attempt %d, snoozes %d, errors %+v; want scheduled, 0, %d, none",
					i, got.State, got.Attempt, got.Snoozes, got.Errors, i)
			}
		}
		stored := h.get(j.ID)
		if stored.Snoozes != store.MaxSnoozes || !stored.FirstSnoozedAt.Equal(first) {
			t.Errorf("Get after %d snoozes: snoozes %d, first at %s; want %d at %s", store.MaxSnoozes,
				stored.Snoozes, fmtTime(stored.FirstSnoozedAt), store.MaxSnoozes, fmtTime(first))
		}
		at := h.now
		got := snooze(h, j, "503 from the target")
		wantState(t, "the snooze past the cap", got, store.StateRetrying)
		if got.Attempt != 1 || len(got.Errors) != 1 {
			t.Fatalf("the snooze past the cap: attempt %d, errors %+v; want the attempt spent with one error", got.Attempt, got.Errors)
		}
		if e := got.Errors[0]; e.Attempt != 1 || !e.At.Equal(at) || !strings.Contains(e.Message, "snoozed 100 times") ||
			!strings.HasSuffix(e.Message, ": 503 from the target") {
			t.Errorf("the error of the snooze past the cap = %+v, want attempt 1 at %s saying it was snoozed 100 times, then the snooze's message",
				e, fmtTime(at))
		}
		got = snooze(h, j, "")
		wantState(t, "a snooze past the cap on the last attempt", got, store.StateFailed)
		if got.Attempt != 2 || len(got.Errors) != 2 || got.FinishedAt.IsZero() {
			t.Errorf("a snooze past the cap on the last attempt: attempt %d, errors %+v, finished %s; want 2, two errors, finished",
				got.Attempt, got.Errors, fmtTime(got.FinishedAt))
		}

		// A manual retry gives the job new attempts and a new count.
		r := h.retry(j.ID)
		if r.Snoozes != 0 || !r.FirstSnoozedAt.IsZero() {
			t.Errorf("after a manual retry: snoozes %d, first at %s; want none", r.Snoozes, fmtTime(r.FirstSnoozedAt))
		}
		now := h.now
		if got := snooze(h, j, ""); got.State != store.StateScheduled || got.Snoozes != 1 || !got.FirstSnoozedAt.Equal(now) {
			t.Errorf("a snooze after the retry: state %s, snoozes %d, first at %s; want scheduled, 1, %s",
				got.State, got.Snoozes, fmtTime(got.FirstSnoozedAt), fmtTime(now))
		}
	})

	t.Run("Age", func(t *testing.T) {
		h := setup(t, open)
		j := h.enqueue(withAttempts(3))
		first := h.now
		snooze(h, j, "")
		h.advance(store.MaxSnoozeAge - 2*time.Second) // the first snooze's clock moved a second already
		got := snooze(h, j, "")
		if got.State != store.StateScheduled || got.Snoozes != 2 || !got.FirstSnoozedAt.Equal(first) {
			t.Fatalf("a snooze a second before the cap's age: state %s, snoozes %d, first at %s; want scheduled, 2, %s",
				got.State, got.Snoozes, fmtTime(got.FirstSnoozedAt), fmtTime(first))
		}
		if d := h.now.Sub(first); d != store.MaxSnoozeAge {
			t.Fatalf("test clock: %s since the first snooze, want %s", d, store.MaxSnoozeAge)
		}
		got = snooze(h, j, "")
		wantState(t, "a snooze at the cap's age", got, store.StateRetrying)
		if got.Attempt != 1 || len(got.Errors) != 1 || !strings.Contains(got.Errors[0].Message, "snoozed since") {
			t.Errorf("a snooze at the cap's age: attempt %d, errors %+v; want the attempt spent, its error saying since when it was snoozed",
				got.Attempt, got.Errors)
		}
	})

	t.Run("OtherOutcomesKeepTheCount", func(t *testing.T) {
		h := setup(t, open)
		j := h.enqueue(withAttempts(3))
		snooze(h, j, "")
		h.fail(h.claimJob(j), 0)
		got := snooze(h, j, "")
		if got.Snoozes != 2 || got.Attempt != 1 {
			t.Errorf("a snooze after a failed attempt: snoozes %d, attempt %d; want 2, 1", got.Snoozes, got.Attempt)
		}
	})
}

package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
)

func testOrder(t *testing.T, open opener) {
	t.Run("PriorityThenAge", func(t *testing.T) {
		h := setup(t, open)
		var made []*store.Job
		for _, p := range []int{5, 1, 9, 1, 5, 2} {
			made = append(made, h.enqueue(withPriority(p)))
			h.advance(time.Second)
		}
		want := []string{made[1].ID, made[3].ID, made[5].ID, made[0].ID, made[4].ID, made[2].ID}
		var got []string
		for range want {
			got = append(got, h.claimOne("default").ID)
		}
		if !slices.Equal(got, want) {
			t.Errorf("claim order %v, want %v (priorities 1, 1, 2, 5, 5, 9; oldest first within one)", got, want)
		}
	})

	t.Run("MaxTakesTheFirstInOrder", func(t *testing.T) {
		h := setup(t, open)
		var made []*store.Job
		for _, p := range []int{5, 3, 9, 3, 1} {
			made = append(made, h.enqueue(withPriority(p)))
			h.advance(time.Second)
		}
		got := h.claim(store.ClaimParams{Max: 3})
		if want := []string{made[4].ID, made[1].ID, made[3].ID}; !sameIDs(ids(got), want) {
			t.Errorf("Claim(max 3) took %v, want %v (priorities 1, 3, 3)", ids(got), want)
		}
	})

	t.Run("ScheduledJoinsTheLineWhenDue", func(t *testing.T) {
		// A was enqueued first but became available at its RunAt, after B.
		h := setup(t, open)
		a := h.enqueue(withRunAt(h.now.Add(10 * time.Second)))
		h.advance(5 * time.Second)
		b := h.enqueue()
		h.advance(10 * time.Second)
		c := h.enqueue()
		got := []string{h.claimOne("default").ID, h.claimOne("default").ID, h.claimOne("default").ID}
		if want := []string{b.ID, a.ID, c.ID}; !slices.Equal(got, want) {
			t.Errorf("claim order %v, want %v (available at base+5s, base+10s, base+15s)", got, want)
		}
	})

	t.Run("BackdatedRunAtDoesNotJumpTheLine", func(t *testing.T) {
		// B's RunAt lies in the past, but B became available only when it
		// was enqueued, after A.
		h := setup(t, open)
		a := h.enqueue()
		h.advance(time.Minute)
		b := h.enqueue(withRunAt(baseTime.Add(-time.Hour)))
		got := []string{h.claimOne("default").ID, h.claimOne("default").ID}
		if want := []string{a.ID, b.ID}; !slices.Equal(got, want) {
			t.Errorf("claim order %v, want %v (available at base and base+1m; B's RunAt of base-1h is not when it became available)", got, want)
		}
	})

	t.Run("ScheduledNotBeforeRunAt", func(t *testing.T) {
		h := setup(t, open)
		j := h.enqueue(withRunAt(h.now.Add(time.Minute)))
		h.claimNone("default")
		h.advance(time.Minute - time.Microsecond)
		h.claimNone("default")
		h.advance(time.Microsecond)
		// Claim promotes due jobs itself: no Promote call is needed.
		if got := h.claimOne("default"); got.ID != j.ID {
			t.Errorf("claim at RunAt took %s, want %s", got.ID, j.ID)
		}
	})

	t.Run("RetryingNotBeforeRunAt", func(t *testing.T) {
		h := setup(t, open)
		j := h.claimJob(h.enqueue(withAttempts(2)))
		h.fail(j, 10*time.Second)
		h.advance(10*time.Second - time.Microsecond)
		h.claimNone("default")
		h.advance(time.Microsecond)
		if got := h.claimOne("default"); got.ID != j.ID || got.Attempt != 2 {
			t.Errorf("claim at RetryAt took %s attempt %d, want %s attempt 2", got.ID, got.Attempt, j.ID)
		}
	})

	t.Run("Promote", func(t *testing.T) {
		h := setup(t, open)
		due1 := h.enqueue(withRunAt(h.now.Add(time.Minute)))
		due2 := h.enqueue(withRunAt(h.now.Add(2 * time.Minute)))
		later := h.enqueue(withRunAt(h.now.Add(time.Hour)))
		retrying := h.fail(h.claimJob(h.enqueue(withKind("r"))), 90*time.Second)
		retryingLater := h.fail(h.claimJob(h.enqueue(withKind("r2"))), time.Hour)
		avail := h.enqueue()
		h.advance(2 * time.Minute)
		res, err := h.d.Promote(h.ctx, &store.PromoteParams{Now: h.now})
		if err != nil {
			t.Fatalf("Promote: %v", err)
		}
		if res.Promoted != 3 {
			t.Errorf("Promote: Promoted = %d, want 3 (two scheduled, one retrying)", res.Promoted)
		}
		for _, j := range []*store.Job{due1, due2, retrying, avail} {
			wantState(t, "Get after Promote", h.get(j.ID), store.StateAvailable)
		}
		wantState(t, "Get of a job scheduled later", h.get(later.ID), store.StateScheduled)
		wantState(t, "Get of a job retrying later", h.get(retryingLater.ID), store.StateRetrying)
		if c := h.queues()["default"].Counts; c[store.StateAvailable] != 4 || c[store.StateScheduled] != 1 || c[store.StateRetrying] != 1 {
			t.Errorf("Queues after Promote: counts %v, want 4 available, 1 scheduled, 1 retrying", c)
		}
		res, err = h.d.Promote(h.ctx, &store.PromoteParams{Now: h.now})
		if err != nil || res.Promoted != 0 {
			t.Errorf("second Promote: Promoted = %v, err %v; want 0", res, err)
		}
	})

	t.Run("PromoteLimit", func(t *testing.T) {
		h := setup(t, open)
		h.enqueueMany(3, withRunAt(h.now.Add(time.Second)))
		h.advance(time.Second)
		for _, want := range []int{2, 1, 0} {
			res, err := h.d.Promote(h.ctx, &store.PromoteParams{Now: h.now, Limit: 2})
			if err != nil {
				t.Fatalf("Promote: %v", err)
			}
			if res.Promoted != want {
				t.Errorf("Promote(limit 2): Promoted = %d, want %d", res.Promoted, want)
			}
		}
	})

	t.Run("ClaimMax", func(t *testing.T) {
		h := setup(t, open)
		h.enqueueMany(5)
		for _, c := range []struct{ max, want int }{{3, 3}, {10, 2}, {10, 0}} {
			if got := h.claim(store.ClaimParams{Max: c.max}); len(got) != c.want {
				t.Errorf("Claim(max %d): got %d jobs, want %d", c.max, len(got), c.want)
			}
		}
	})

	t.Run("ClaimKinds", func(t *testing.T) {
		cases := []struct {
			name          string
			kinds, except []string
			want          []string // kinds of the claimed jobs, sorted
		}{
			{"All", nil, nil, []string{"a", "a", "b", "c"}},
			{"Kinds", []string{"a"}, nil, []string{"a", "a"}},
			{"TwoKinds", []string{"a", "c"}, nil, []string{"a", "a", "c"}},
			{"UnknownKind", []string{"z"}, nil, nil},
			{"ExcludeKinds", nil, []string{"a"}, []string{"b", "c"}},
			{"ExcludeTwo", nil, []string{"a", "c"}, []string{"b"}},
			{"KindsAndExclude", []string{"a", "b"}, []string{"b"}, []string{"a", "a"}},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				h := setup(t, open)
				for _, k := range []string{"a", "b", "a", "c"} {
					h.enqueue(withKind(k))
				}
				jobs := h.claim(store.ClaimParams{Kinds: c.kinds, ExcludeKinds: c.except})
				var got []string
				for _, j := range jobs {
					got = append(got, j.Kind)
				}
				slices.Sort(got)
				if !slices.Equal(got, c.want) {
					t.Errorf("Claim(kinds %v, exclude %v): claimed kinds %v, want %v", c.kinds, c.except, got, c.want)
				}
			})
		}
	})

	t.Run("ClaimQueue", func(t *testing.T) {
		h := setup(t, open)
		h.enqueueMany(2, withQueue("q1"))
		q2 := h.enqueue(withQueue("q2"))
		if got := h.claim(store.ClaimParams{Queue: "q2"}); len(got) != 1 || got[0].ID != q2.ID {
			t.Errorf("Claim(queue q2): got %v, want [%s]", ids(got), q2.ID)
		}
		h.claimNone("q3")
		h.claimNone("default")
		if got := h.claim(store.ClaimParams{Queue: "q1"}); len(got) != 2 {
			t.Errorf("Claim(queue q1): got %d jobs, want 2", len(got))
		}
	})
}

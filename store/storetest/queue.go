package storetest

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
)

func testPause(t *testing.T, open opener) {
	t.Run("PausedQueueYieldsNothing", func(t *testing.T) {
		h := setup(t, open)
		h.enqueueMany(2, withQueue("q"))
		other := h.enqueue(withQueue("other"))
		h.pause("q", true)
		h.claimNone("q")
		if q := h.queues()["q"]; !q.Paused {
			t.Errorf("Queues after pausing q: %+v, want Paused", q)
		}
		if q := h.queues()["other"]; q.Paused {
			t.Errorf("Queues: queue other is paused; only q was")
		}
		if got := h.claimOne("other"); got.ID != other.ID {
			t.Errorf("claim from the unpaused queue took %s, want %s", got.ID, other.ID)
		}
		// Enqueueing into a paused queue works; its jobs wait.
		h.enqueue(withQueue("q"))
		h.advance(time.Hour)
		h.claimNone("q")
		h.pause("q", true) // pausing twice is fine
		h.pause("q", false)
		if q := h.queues()["q"]; q.Paused {
			t.Errorf("Queues after resuming q: %+v, want not Paused", q)
		}
		if got := h.claim(store.ClaimParams{Queue: "q"}); len(got) != 3 {
			t.Errorf("claim after resuming: got %d jobs, want 3", len(got))
		}
	})

	t.Run("PauseEmptyQueue", func(t *testing.T) {
		h := setup(t, open)
		h.pause("idle", true)
		q, ok := h.queues()["idle"]
		if !ok {
			t.Fatal("Queues after pausing a queue without jobs: it is not listed")
		}
		if !q.Paused {
			t.Errorf("Queues: idle is not paused")
		}
		for s, n := range q.Counts {
			if n != 0 {
				t.Errorf("Queues: idle counts %d %s jobs, want none", n, s)
			}
		}
		if !q.OldestAvailableAt.IsZero() {
			t.Errorf("Queues: idle's OldestAvailableAt = %s, want zero", fmtTime(q.OldestAvailableAt))
		}
		// The pause holds for jobs enqueued later.
		h.enqueue(withQueue("idle"))
		h.claimNone("idle")
		h.pause("idle", false)
		if q, ok := h.queues()["idle"]; !ok || q.Paused {
			t.Errorf("Queues after resuming idle: %+v (listed %v), want listed and not paused", q, ok)
		}
		h.claimOne("idle")
	})
}

func testCounts(t *testing.T, open opener) {
	t.Run("MatchJobs", func(t *testing.T) {
		h := setup(t, open)
		step := func() { h.advance(time.Second) }
		a1 := h.jobIn(store.StateAvailable, withQueue("q1"))
		for _, s := range []store.State{store.StateRunning, store.StateScheduled, store.StateRetrying,
			store.StateSucceeded, store.StateFailed, store.StateCancelled} {
			step()
			h.jobIn(s, withQueue("q1"))
		}
		step()
		h.jobIn(store.StateWaiting, withQueue("q1")) // and its blocker, available
		step()
		h.jobIn(store.StateAvailable, withQueue("q1"))
		var q2 []*store.Job
		for range 3 {
			step()
			q2 = append(q2, h.jobIn(store.StateAvailable, withQueue("q2")))
		}
		step()
		h.jobIn(store.StateSucceeded, withQueue("q3"))

		want := map[string]map[store.State]int64{
			"q1": {store.StateAvailable: 3, store.StateRunning: 1, store.StateScheduled: 1, store.StateRetrying: 1,
				store.StateSucceeded: 1, store.StateFailed: 1, store.StateCancelled: 1, store.StateWaiting: 1},
			"q2": {store.StateAvailable: 3},
			"q3": {store.StateSucceeded: 1},
		}
		qs := h.wantCounts("after setup", want)
		wantTime(t, "q1 OldestAvailableAt", qs["q1"].OldestAvailableAt, a1.CreatedAt)
		wantTime(t, "q2 OldestAvailableAt", qs["q2"].OldestAvailableAt, q2[0].CreatedAt)
		wantTime(t, "q3 OldestAvailableAt", qs["q3"].OldestAvailableAt, time.Time{})

		// A mix of transitions.
		step()
		h.claimJob(a1)
		running := h.claimJob(q2[0])
		h.claimJob(q2[1])
		h.succeed(running)
		h.cancel(q2[2].ID, "not needed")
		want["q1"][store.StateAvailable]--
		want["q1"][store.StateRunning]++
		want["q2"] = map[store.State]int64{store.StateRunning: 1, store.StateSucceeded: 1, store.StateCancelled: 1}
		qs = h.wantCounts("after claims, a success and a cancel", want)
		wantTime(t, "q1 OldestAvailableAt after its oldest was claimed", qs["q1"].OldestAvailableAt, baseTime.Add(7*time.Second))
		wantTime(t, "q2 OldestAvailableAt with none available", qs["q2"].OldestAvailableAt, time.Time{})
	})

	t.Run("Empty", func(t *testing.T) {
		h := setup(t, open)
		if qs, err := h.d.Queues(h.ctx); err != nil || len(qs) != 0 {
			t.Errorf("Queues of an empty store: %+v, %v; want none", qs, err)
		}
	})
}

// wantCounts fails the test unless Queues lists exactly the queues of want,
// sorted by name, with those counts, and the counts agree with the jobs
// that List returns. It returns the queues by name.
func (h *harness) wantCounts(what string, want map[string]map[store.State]int64) map[string]store.QueueInfo {
	h.t.Helper()
	qs, err := h.d.Queues(h.ctx)
	if err != nil {
		h.t.Fatalf("Queues: %v", err)
	}
	var names []string
	byName := map[string]store.QueueInfo{}
	for _, q := range qs {
		names = append(names, q.Name)
		byName[q.Name] = q
	}
	if !slices.IsSorted(names) {
		h.t.Errorf("Queues %s: names %v, want them sorted", what, names)
	}
	if got, w := slices.Sorted(maps.Keys(byName)), slices.Sorted(maps.Keys(want)); !slices.Equal(got, w) {
		h.t.Errorf("Queues %s: queues %v, want %v", what, got, w)
	}
	fromJobs := map[string]map[store.State]int64{}
	for _, j := range h.listAll(store.ListParams{Limit: store.MaxListLimit}) {
		if fromJobs[j.Queue] == nil {
			fromJobs[j.Queue] = map[store.State]int64{}
		}
		fromJobs[j.Queue][j.State]++
	}
	for name, w := range want {
		got := byName[name].Counts
		if d := countsDiff(got, w); d != "" {
			h.t.Errorf("Queues %s: queue %s counts: %s", what, name, d)
		}
		if d := countsDiff(got, fromJobs[name]); d != "" {
			h.t.Errorf("Queues %s: queue %s counts disagree with the jobs List returns: %s", what, name, d)
		}
	}
	return byName
}

// countsDiff describes how got differs from want, absent meaning zero.
func countsDiff(got, want map[store.State]int64) string {
	var d []string
	for _, s := range store.States {
		if got[s] != want[s] {
			d = append(d, fmt.Sprintf("%s %d, want %d", s, got[s], want[s]))
		}
	}
	for s := range got {
		if !s.Valid() {
			d = append(d, fmt.Sprintf("unknown state %q", s))
		}
	}
	return strings.Join(d, "; ")
}

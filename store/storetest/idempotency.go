package storetest

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
)

func testIdempotency(t *testing.T, open opener) {
	// idem enqueues jobs at h.now under key, for a request hashed hash,
	// remembered for a day.
	idem := func(h *harness, key, hash string, jobs ...*store.NewJob) (*store.EnqueueResult, error) {
		h.t.Helper()
		res, err := h.d.Enqueue(h.ctx, &store.EnqueueParams{Jobs: jobs, Now: h.now,
			IdempotencyKey: key, IdempotencyHash: hash, IdempotencyExpires: h.now.Add(24 * time.Hour)})
		if err == nil && res == nil {
			h.t.Fatal("Enqueue: nil result and nil error")
		}
		return res, err
	}
	mustIdem := func(h *harness, key, hash string, jobs ...*store.NewJob) *store.EnqueueResult {
		h.t.Helper()
		res, err := idem(h, key, hash, jobs...)
		if err != nil {
			h.t.Fatalf("Enqueue with idempotency key %q: %v", key, err)
		}
		return res
	}
	resultIDs := func(res *store.EnqueueResult) []string {
		var out []string
		for _, e := range res.Jobs {
			out = append(out, e.Job.ID)
		}
		return out
	}

	t.Run("Replay", func(t *testing.T) {
		h := setup(t, open)
		first := mustIdem(h, "req-1", "h1", h.newJob(withKind("a")), h.newJob(withKind("b"), withUniqueKey("u")))
		if first.Replayed {
			t.Errorf("first use of a key: Replayed = true, want false")
		}
		if len(first.Jobs) != 2 {
			t.Fatalf("first use of a key: %d jobs, want 2", len(first.Jobs))
		}
		claimed := h.claimJob(first.Jobs[0].Job)
		h.advance(time.Minute)
		again := mustIdem(h, "req-1", "h1", h.newJob(withKind("a")), h.newJob(withKind("b"), withUniqueKey("u")))
		if !again.Replayed {
			t.Errorf("second use of a key: Replayed = false, want true")
		}
		if got, want := resultIDs(again), resultIDs(first); !slices.Equal(got, want) {
			t.Fatalf("second use of a key returned jobs %v, want the first call's %v in order", got, want)
		}
		// The jobs as they are now.
		wantState(t, "replayed job that was claimed since", again.Jobs[0].Job, store.StateRunning)
		for _, e := range again.Jobs {
			if e.Job.LeaseToken != "" {
				t.Errorf("replayed job %s carries a LeaseToken; only claims do", e.Job.ID)
			}
		}
		if got := len(h.listAll(store.ListParams{})); got != 2 {
			t.Errorf("the store holds %d jobs after a replay, want 2", got)
		}
		h.succeed(claimed)
	})

	t.Run("DifferentRequest", func(t *testing.T) {
		h := setup(t, open)
		mustIdem(h, "req-1", "h1", h.newJob())
		_, err := idem(h, "req-1", "h2", h.newJob())
		if !errors.Is(err, store.ErrConflict) {
			t.Errorf("key reused for another request: got error %v, want ErrConflict", err)
		}
		var ie *store.IdempotencyError
		if !errors.As(err, &ie) {
			t.Errorf("key reused for another request: error %v carries no *store.IdempotencyError", err)
		} else if ie.Key != "req-1" {
			t.Errorf("IdempotencyError.Key = %q, want %q", ie.Key, "req-1")
		}
		if got := len(h.listAll(store.ListParams{})); got != 1 {
			t.Errorf("the store holds %d jobs, want 1", got)
		}
	})

	t.Run("RefusedBatchRecordsNoKey", func(t *testing.T) {
		h := setup(t, open)
		_, err := idem(h, "req-1", "h1", h.newJob(), h.newJob(withKind("")))
		wantFieldError(t, err, 1, "Kind")
		res := mustIdem(h, "req-1", "h1", h.newJob(), h.newJob())
		if res.Replayed || len(res.Jobs) != 2 {
			t.Errorf("after a refused batch the key is free: got Replayed %v with %d jobs, want 2 new jobs", res.Replayed, len(res.Jobs))
		}
	})

	t.Run("KeysAreIndependent", func(t *testing.T) {
		h := setup(t, open)
		a := mustIdem(h, "req-a", "h", h.newJob())
		b := mustIdem(h, "req-b", "h", h.newJob())
		if b.Replayed || a.Jobs[0].Job.ID == b.Jobs[0].Job.ID {
			t.Errorf("two keys gave Replayed %v and jobs %s, %s; want two new jobs", b.Replayed, a.Jobs[0].Job.ID, b.Jobs[0].Job.ID)
		}
	})

	t.Run("PruneForgetsExpiredKeys", func(t *testing.T) {
		h := setup(t, open)
		first := mustIdem(h, "req-1", "h1", h.newJob())
		prune := func(now time.Time) {
			if _, err := h.d.Prune(h.ctx, &store.PruneParams{FinishedBefore: baseTime, Now: now}); err != nil {
				t.Fatalf("Prune: %v", err)
			}
		}
		prune(h.now.Add(23 * time.Hour))
		h.advance(time.Hour)
		if res := mustIdem(h, "req-1", "h1", h.newJob()); !res.Replayed || res.Jobs[0].Job.ID != first.Jobs[0].Job.ID {
			t.Errorf("after a Prune before the key expired: Replayed %v, job %s; want a replay of %s",
				res.Replayed, res.Jobs[0].Job.ID, first.Jobs[0].Job.ID)
		}
		prune(baseTime.Add(25 * time.Hour))
		res := mustIdem(h, "req-1", "h1", h.newJob())
		if res.Replayed || res.Jobs[0].Job.ID == first.Jobs[0].Job.ID {
			t.Errorf("after a Prune past the key's expiry: Replayed %v, job %s; want a new job", res.Replayed, res.Jobs[0].Job.ID)
		}
		h.get(first.Jobs[0].Job.ID) // pruning the key leaves its jobs
	})

	t.Run("Concurrent", func(t *testing.T) {
		h := setup(t, open)
		const n = 8
		results := make([]*store.EnqueueResult, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				res, err := h.d.Enqueue(h.ctx, &store.EnqueueParams{Jobs: []*store.NewJob{h.newJob(), h.newJob()}, Now: h.now,
					IdempotencyKey: "req-1", IdempotencyHash: "h1", IdempotencyExpires: h.now.Add(time.Hour)})
				if err != nil {
					t.Errorf("Enqueue: %v", err)
					return
				}
				results[i] = res
			})
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		created := 0
		for i, res := range results {
			if !res.Replayed {
				created++
			}
			if got, want := resultIDs(res), resultIDs(results[0]); !slices.Equal(got, want) {
				t.Errorf("call %d returned jobs %v, call 0 %v; want the same", i, got, want)
			}
		}
		if created != 1 {
			t.Errorf("%d concurrent calls with one key: %d created jobs, want 1 (the others replayed)", n, created)
		}
		if got := len(h.listAll(store.ListParams{})); got != 2 {
			t.Errorf("the store holds %d jobs, want 2", got)
		}
	})
}

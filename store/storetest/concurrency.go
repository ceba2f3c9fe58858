package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
)

func testConcurrency(t *testing.T, open opener) {
	t.Run("Claimers", func(t *testing.T) {
		h := setup(t, open)
		jobs, claimers, batch := 10000, 8, 10
		if testing.Short() {
			jobs = 1000
		}
		const enqueueBatch = 500
		for i := 0; i < jobs; i += enqueueBatch {
			h.enqueueMany(min(enqueueBatch, jobs-i))
		}

		// held has the jobs claimed and not yet finished; claims counts
		// the claims of each job.
		var (
			mu     sync.Mutex
			held   = map[string]int{} // job id -> claimer
			claims = map[string]int{}
		)
		// Now stays put, far before any lease ends: no job may be claimed
		// twice.
		now := h.now
		var wg sync.WaitGroup
		for c := range claimers {
			wg.Go(func() {
				for {
					res, err := h.d.Claim(h.ctx, &store.ClaimParams{Queue: "default", Max: batch, LeaseFor: time.Hour, Now: now})
					if err != nil {
						t.Errorf("claimer %d: Claim: %v", c, err)
						return
					}
					if len(res.Jobs) == 0 {
						// Every job was enqueued before the claimers started
						// and none comes back, so none is left.
						return
					}
					if len(res.Jobs) > batch {
						t.Errorf("claimer %d: Claim(max %d) returned %d jobs", c, batch, len(res.Jobs))
					}
					items := make([]store.FinishItem, len(res.Jobs))
					again := false
					mu.Lock()
					for i, j := range res.Jobs {
						if other, ok := held[j.ID]; ok {
							t.Errorf("claimer %d claimed job %s while claimer %d holds it under a live lease", c, j.ID, other)
						}
						held[j.ID] = c
						claims[j.ID]++
						again = again || claims[j.ID] > 1
						items[i] = store.FinishItem{ID: j.ID, LeaseToken: j.LeaseToken, Outcome: store.OutcomeSucceeded}
					}
					mu.Unlock()
					if again {
						// Reported below; stop before a driver that hands
						// out finished jobs keeps this loop going.
						return
					}
					fres, err := h.d.Finish(h.ctx, &store.FinishParams{Items: items, Now: now})
					if err != nil {
						t.Errorf("claimer %d: Finish: %v", c, err)
						return
					}
					mu.Lock()
					for i, it := range items {
						if fres.Errs[i] != nil {
							t.Errorf("claimer %d: Finish of job %s: %v", c, it.ID, fres.Errs[i])
						}
						delete(held, it.ID)
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		if len(claims) != jobs {
			t.Errorf("%d distinct jobs were claimed, want all %d", len(claims), jobs)
		}
		for id, n := range claims {
			if n != 1 {
				t.Errorf("job %s was claimed %d times, want once", id, n)
			}
		}
		c := h.queues()["default"].Counts
		want := map[store.State]int64{store.StateSucceeded: int64(jobs)}
		if d := countsDiff(c, want); d != "" {
			t.Errorf("Queues after the claimers finished: %s", d)
		}
	})

	t.Run("Enqueuers", func(t *testing.T) {
		h := setup(t, open)
		enqueuers, each := 16, 50
		if testing.Short() {
			each = 10
		}
		var (
			mu   sync.Mutex
			seen = map[string]bool{}
			wg   sync.WaitGroup
		)
		for e := range enqueuers {
			wg.Go(func() {
				for i := range each {
					nj := h.newJob(withArgs(fmt.Sprintf(`{"e":%d,"i":%d}`, e, i)))
					if i%5 == 0 {
						nj.UniqueKey = fmt.Sprintf("e%d-%d", e, i)
					}
					res, err := h.d.Enqueue(h.ctx, &store.EnqueueParams{Jobs: []*store.NewJob{nj}, Now: h.now})
					if err != nil {
						t.Errorf("enqueuer %d: Enqueue: %v", e, err)
						return
					}
					id := res.Jobs[0].Job.ID
					mu.Lock()
					if seen[id] {
						t.Errorf("enqueuer %d: ID %s was given out twice", e, id)
					}
					seen[id] = true
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		n := enqueuers * each
		if len(seen) != n {
			t.Errorf("%d distinct ids, want %d", len(seen), n)
		}
		if got := h.queues()["default"].Counts[store.StateAvailable]; got != int64(n) {
			t.Errorf("Queues: %d available jobs, want %d", got, n)
		}
		listed := h.listAll(store.ListParams{Limit: 100})
		if len(listed) != n {
			t.Errorf("List: %d jobs, want %d", len(listed), n)
		}
		for _, j := range listed {
			if !seen[j.ID] {
				t.Errorf("List: job %s was never returned by Enqueue", j.ID)
			}
		}
	})

	t.Run("SameUniqueKey", func(t *testing.T) {
		h := setup(t, open)
		const n = 16
		var (
			mu      sync.Mutex
			created []string
			got     = map[string]bool{}
			wg      sync.WaitGroup
		)
		for range n {
			wg.Go(func() {
				res, err := h.d.Enqueue(h.ctx, &store.EnqueueParams{Jobs: []*store.NewJob{h.newJob(withUniqueKey("once"))}, Now: h.now})
				if err != nil {
					t.Errorf("Enqueue: %v", err)
					return
				}
				e := res.Jobs[0]
				mu.Lock()
				defer mu.Unlock()
				got[e.Job.ID] = true
				if !e.Duplicate {
					created = append(created, e.Job.ID)
				}
			})
		}
		wg.Wait()
		if len(created) != 1 || len(got) != 1 {
			t.Errorf("%d concurrent enqueues of one unique key created %v and returned ids %v; want one job, the rest duplicates of it", n, created, got)
		}
		if jobs := h.listAll(store.ListParams{}); len(jobs) != 1 {
			t.Errorf("the store holds %d jobs, want 1", len(jobs))
		}
	})

	t.Run("RescueRacesFinish", func(t *testing.T) {
		// The leases have ended; each worker's late Finish races one
		// Rescue. Whether a late Finish may still win is the driver's
		// choice, but exactly one of the two ends each attempt.
		h := setup(t, open)
		n := 50
		if testing.Short() {
			n = 10
		}
		h.enqueueMany(n)
		jobs := h.claim(store.ClaimParams{Max: n})
		if len(jobs) != n {
			t.Fatalf("Claim(max %d): got %d jobs", n, len(jobs))
		}
		h.advance(leaseFor + time.Second)
		finishErrs := make([]error, n)
		var rescued []*store.Job
		var wg sync.WaitGroup
		for i, j := range jobs {
			wg.Go(func() {
				res, err := h.d.Finish(h.ctx, &store.FinishParams{Now: h.now, Items: []store.FinishItem{
					{ID: j.ID, LeaseToken: j.LeaseToken, Outcome: store.OutcomeSucceeded}}})
				if err != nil {
					t.Errorf("Finish: %v", err)
					return
				}
				finishErrs[i] = res.Errs[0]
			})
		}
		wg.Go(func() {
			res, err := h.d.Rescue(h.ctx, &store.RescueParams{Now: h.now, Backoff: minutesBackoff})
			if err != nil {
				t.Errorf("Rescue: %v", err)
				return
			}
			rescued = res.Jobs
		})
		wg.Wait()
		wasRescued := map[string]bool{}
		for _, j := range rescued {
			wasRescued[j.ID] = true
		}
		for i, j := range jobs {
			got := h.get(j.ID)
			switch {
			case finishErrs[i] == nil && !wasRescued[j.ID]:
				wantState(t, "job whose late Finish won", got, store.StateSucceeded)
			case errors.Is(finishErrs[i], store.ErrLeaseLost) && wasRescued[j.ID]:
				wantState(t, "job whose Rescue won", got, store.StateRetrying)
			default:
				t.Errorf("job %s: Finish gave %v, rescued %v (now %s); want exactly one of them to end the attempt",
					j.ID, finishErrs[i], wasRescued[j.ID], got.State)
			}
		}
		// No attempt is left running.
		for _, j := range h.rescue(0) {
			t.Errorf("job %s: still running after its Finish and a Rescue", j.ID)
		}
	})

	t.Run("CancelRacesFinish", func(t *testing.T) {
		h := setup(t, open)
		n := 50
		if testing.Short() {
			n = 10
		}
		h.enqueueMany(n)
		jobs := h.claim(store.ClaimParams{Max: n})
		if len(jobs) != n {
			t.Fatalf("Claim(max %d): got %d jobs", n, len(jobs))
		}
		type outcome struct{ finishErr, cancelErr error }
		outcomes := make([]outcome, n)
		var wg sync.WaitGroup
		for i, j := range jobs {
			wg.Go(func() {
				res, err := h.d.Finish(h.ctx, &store.FinishParams{Now: h.now, Items: []store.FinishItem{
					{ID: j.ID, LeaseToken: j.LeaseToken, Outcome: store.OutcomeSucceeded, Result: json.RawMessage(`1`)}}})
				if err != nil {
					t.Errorf("Finish: %v", err)
					return
				}
				outcomes[i].finishErr = res.Errs[0]
			})
			wg.Go(func() {
				_, outcomes[i].cancelErr = h.d.Cancel(h.ctx, &store.CancelParams{ID: j.ID, Reason: "race", Now: h.now})
			})
		}
		wg.Wait()
		for i, j := range jobs {
			o := outcomes[i]
			got := h.get(j.ID)
			switch {
			case o.finishErr == nil && errors.Is(o.cancelErr, store.ErrConflict):
				wantState(t, "job whose Finish won", got, store.StateSucceeded)
			case errors.Is(o.finishErr, store.ErrLeaseLost) && o.cancelErr == nil:
				wantState(t, "job whose Cancel won", got, store.StateCancelled)
			default:
				t.Errorf("job %s: Finish gave %v and Cancel gave %v (now %s); want exactly one to win and the other to get ErrLeaseLost or ErrConflict",
					j.ID, o.finishErr, o.cancelErr, got.State)
			}
		}
	})
}

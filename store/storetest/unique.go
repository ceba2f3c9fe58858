package storetest

import (
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
)

func testUnique(t *testing.T, open opener) {
	t.Run("DuplicateWhileNonFinal", func(t *testing.T) {
		for _, s := range nonFinal {
			t.Run(string(s), func(t *testing.T) {
				h := setup(t, open)
				first := h.jobIn(s, withUniqueKey("img-42"))
				before := h.get(first.ID)
				n := len(h.listAll(store.ListParams{}))
				h.advance(time.Second)
				res, err := h.enqueueBatch(h.newJob(withKind("other"), withArgs(`{"second":true}`), withUniqueKey("img-42")))
				if err != nil {
					t.Fatalf("second Enqueue with the same unique key: %v", err)
				}
				e := res.Jobs[0]
				if !e.Duplicate {
					t.Errorf("second Enqueue while the first is %s: Duplicate = false, want true", s)
				}
				wantJob(t, "the duplicate's Job (the first job)", e.Job, before)
				if e.Job.LeaseToken != "" {
					t.Errorf("the duplicate's Job carries the first job's LeaseToken; only claims do")
				}
				if got := len(h.listAll(store.ListParams{})); got != n {
					t.Errorf("the store holds %d jobs after the duplicate, want %d", got, n)
				}
			})
		}
	})

	t.Run("DuplicateWithinBatch", func(t *testing.T) {
		h := setup(t, open)
		res, err := h.enqueueBatch(
			h.newJob(withUniqueKey("k1"), withArgs(`{"n":0}`)),
			h.newJob(withUniqueKey("k1"), withArgs(`{"n":1}`)),
			h.newJob(withUniqueKey("k2"), withArgs(`{"n":2}`)),
			h.newJob(withArgs(`{"n":3}`)),
			h.newJob(withArgs(`{"n":4}`)),
		)
		if err != nil {
			t.Fatalf("Enqueue: %v", err)
		}
		for i, wantDup := range []bool{false, true, false, false, false} {
			if res.Jobs[i].Duplicate != wantDup {
				t.Errorf("job %d: Duplicate = %v, want %v", i, res.Jobs[i].Duplicate, wantDup)
			}
		}
		if res.Jobs[1].Job.ID != res.Jobs[0].Job.ID {
			t.Errorf("job 1 is a duplicate of %s, want of job 0 (%s)", res.Jobs[1].Job.ID, res.Jobs[0].Job.ID)
		}
		if string(res.Jobs[1].Job.Args) != `{"n":0}` {
			t.Errorf("job 1's Job has Args %s, want the first job's", res.Jobs[1].Job.Args)
		}
		if got := len(h.listAll(store.ListParams{})); got != 4 {
			t.Errorf("the store holds %d jobs, want 4 (jobs without a key are never duplicates)", got)
		}
	})

	t.Run("FreeAfterFinal", func(t *testing.T) {
		for _, s := range final {
			t.Run(string(s), func(t *testing.T) {
				h := setup(t, open)
				first := h.jobIn(s, withUniqueKey("img-42"))
				h.advance(time.Second)
				second := h.enqueue(withUniqueKey("img-42"))
				if second.ID == first.ID {
					t.Fatalf("Enqueue after the first job ended %s returned it again", s)
				}
				wantState(t, "the first job", h.get(first.ID), s)
				res, err := h.enqueueBatch(h.newJob(withUniqueKey("img-42")))
				if err != nil {
					t.Fatalf("third Enqueue: %v", err)
				}
				if !res.Jobs[0].Duplicate || res.Jobs[0].Job.ID != second.ID {
					t.Errorf("third Enqueue: Duplicate %v of %s, want a duplicate of the second job %s",
						res.Jobs[0].Duplicate, res.Jobs[0].Job.ID, second.ID)
				}
			})
		}
	})

	t.Run("ReservedAgainAfterRetry", func(t *testing.T) {
		h := setup(t, open)
		first := h.jobIn(store.StateFailed, withUniqueKey("img-42"))
		h.retry(first.ID)
		res, err := h.enqueueBatch(h.newJob(withUniqueKey("img-42")))
		if err != nil {
			t.Fatalf("Enqueue: %v", err)
		}
		if !res.Jobs[0].Duplicate || res.Jobs[0].Job.ID != first.ID {
			t.Errorf("Enqueue while the retried job is available again: Duplicate %v of %s, want a duplicate of %s",
				res.Jobs[0].Duplicate, res.Jobs[0].Job.ID, first.ID)
		}
	})

	t.Run("KeysAreIndependent", func(t *testing.T) {
		h := setup(t, open)
		a := h.enqueue(withUniqueKey("a"))
		b := h.enqueue(withUniqueKey("b"))
		if a.ID == b.ID {
			t.Errorf("two different keys gave the same job %s", a.ID)
		}
	})
}

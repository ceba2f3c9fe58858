package storetest

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/blob"
	"github.com/gantry-dev/gantry/store"
)

func testPrune(t *testing.T, open opener) {
	blob := func(key string) jobOpt {
		return withBlob(&blob.Info{Key: key, Size: 10, SHA256: strings.Repeat("0", 64), ContentType: "text/plain"})
	}

	t.Run("DeletesOldFinalJobs", func(t *testing.T) {
		h := setup(t, open)
		// Non-final jobs, created long before the cut-off.
		var keep []*store.Job
		for _, s := range nonFinal {
			keep = append(keep, h.jobIn(s, blob("keep-"+string(s))))
		}
		h.advance(time.Minute)
		old := []*store.Job{
			h.jobIn(store.StateSucceeded, blob("b-succeeded")),
			h.jobIn(store.StateFailed, blob("b-failed")),
			h.jobIn(store.StateCancelled),
		}
		h.advance(10 * time.Minute)
		cutoff := h.now
		h.advance(time.Minute)
		keep = append(keep, h.jobIn(store.StateSucceeded, blob("b-recent")))
		before := len(h.listAll(store.ListParams{}))

		h.advance(time.Hour)
		res, err := h.d.Prune(h.ctx, &store.PruneParams{FinishedBefore: cutoff, Now: h.now})
		if err != nil {
			t.Fatalf("Prune: %v", err)
		}
		if res.Deleted != len(old) {
			t.Errorf("Prune: Deleted = %d, want %d", res.Deleted, len(old))
		}
		keys := slices.Clone(res.BlobKeys)
		slices.Sort(keys)
		if want := []string{"b-failed", "b-succeeded"}; !slices.Equal(keys, want) {
			t.Errorf("Prune: BlobKeys = %v, want %v", res.BlobKeys, want)
		}
		for _, j := range old {
			h.wantGone(j.ID)
		}
		for _, j := range keep {
			h.get(j.ID)
		}
		if got := len(h.listAll(store.ListParams{})); got != before-len(old) {
			t.Errorf("List after Prune: %d jobs, want %d", got, before-len(old))
		}
		c := h.queues()["default"].Counts
		if c[store.StateSucceeded] != 1 || c[store.StateFailed] != 0 || c[store.StateCancelled] != 0 {
			t.Errorf("Queues after Prune: counts %v, want 1 succeeded, no failed or cancelled", c)
		}
		res, err = h.d.Prune(h.ctx, &store.PruneParams{FinishedBefore: cutoff, Now: h.now})
		if err != nil || res.Deleted != 0 || len(res.BlobKeys) != 0 {
			t.Errorf("second Prune: %+v, %v; want nothing deleted", res, err)
		}
	})

	t.Run("NeverNonFinal", func(t *testing.T) {
		h := setup(t, open)
		var jobs []*store.Job
		for _, s := range nonFinal {
			jobs = append(jobs, h.get(h.jobIn(s).ID))
		}
		h.advance(1000 * time.Hour)
		res, err := h.d.Prune(h.ctx, &store.PruneParams{FinishedBefore: h.now, Now: h.now})
		if err != nil {
			t.Fatalf("Prune: %v", err)
		}
		if res.Deleted != 0 {
			t.Errorf("Prune with only non-final jobs: Deleted = %d, want 0", res.Deleted)
		}
		for _, j := range jobs {
			wantJob(t, "Get after Prune of a "+string(j.State)+" job", h.get(j.ID), j)
		}
	})

	t.Run("Limit", func(t *testing.T) {
		h := setup(t, open)
		for i := range 5 {
			h.jobIn(store.StateSucceeded, blob("k"+strconv.Itoa(i)))
		}
		h.advance(time.Hour)
		var keys []string
		for _, want := range []int{2, 2, 1, 0} {
			res, err := h.d.Prune(h.ctx, &store.PruneParams{FinishedBefore: h.now, Now: h.now, Limit: 2})
			if err != nil {
				t.Fatalf("Prune: %v", err)
			}
			if res.Deleted != want || len(res.BlobKeys) != want {
				t.Errorf("Prune(limit 2): Deleted %d with %d blob keys, want %d", res.Deleted, len(res.BlobKeys), want)
			}
			keys = append(keys, res.BlobKeys...)
		}
		slices.Sort(keys)
		if want := []string{"k0", "k1", "k2", "k3", "k4"}; !slices.Equal(keys, want) {
			t.Errorf("blob keys over all Prune calls: %v, want %v", keys, want)
		}
	})
}

package storetest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
)

func testClose(t *testing.T, open opener) {
	t.Run("CallsAfterClose", func(t *testing.T) {
		h := setup(t, open)
		if err := h.d.Ping(h.ctx); err != nil {
			t.Fatalf("Ping of an open store: %v", err)
		}
		j := h.claimJob(h.enqueue())
		if err := h.d.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		now := h.now.Add(time.Minute)
		calls := []struct {
			name string
			call func() error
		}{
			{"Enqueue", func() error {
				_, err := h.d.Enqueue(h.ctx, &store.EnqueueParams{Jobs: []*store.NewJob{h.newJob()}, Now: now})
				return err
			}},
			{"Get", func() error { _, err := h.d.Get(h.ctx, j.ID); return err }},
			{"List", func() error { _, err := h.d.List(h.ctx, &store.ListParams{}); return err }},
			{"Claim", func() error {
				_, err := h.d.Claim(h.ctx, &store.ClaimParams{Queue: "default", Max: 1, LeaseFor: leaseFor, Now: now})
				return err
			}},
			{"Heartbeat", func() error {
				_, err := h.d.Heartbeat(h.ctx, &store.HeartbeatParams{ID: j.ID, LeaseToken: j.LeaseToken, ExtendBy: time.Minute, Now: now})
				return err
			}},
			{"Finish", func() error {
				_, err := h.d.Finish(h.ctx, &store.FinishParams{Now: now, Items: []store.FinishItem{
					{ID: j.ID, LeaseToken: j.LeaseToken, Outcome: store.OutcomeSucceeded, Result: json.RawMessage(`{}`)}}})
				return err
			}},
			{"Cancel", func() error { _, err := h.d.Cancel(h.ctx, &store.CancelParams{ID: j.ID, Now: now}); return err }},
			{"Retry", func() error { _, err := h.d.Retry(h.ctx, &store.RetryParams{ID: j.ID, Now: now}); return err }},
			{"Rescue", func() error {
				_, err := h.d.Rescue(h.ctx, &store.RescueParams{Now: now, Backoff: minutesBackoff})
				return err
			}},
			{"Promote", func() error { _, err := h.d.Promote(h.ctx, &store.PromoteParams{Now: now}); return err }},
			{"Prune", func() error {
				_, err := h.d.Prune(h.ctx, &store.PruneParams{FinishedBefore: now, Now: now})
				return err
			}},
			{"Queues", func() error { _, err := h.d.Queues(h.ctx); return err }},
			{"PauseQueue", func() error { return h.d.PauseQueue(h.ctx, &store.PauseParams{Queue: "default", Paused: true}) }},
			{"Ping", func() error { return h.d.Ping(h.ctx) }},
		}
		for _, c := range calls {
			wantErr(t, c.name+" after Close", c.call(), store.ErrClosed)
		}
	})
}

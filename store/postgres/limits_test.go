package postgres_test

import (
	"sync"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
	"github.com/gantry-dev/gantry/store/postgres"
)

// TestMigrateToLimits: a schema at version 2 with a paused queue is
// migrated to version 5 in place: the queue stays paused, has no limits,
// and takes limits after.
func TestMigrateToLimits(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	schema := newSchema(t)
	ctx := t.Context()
	if _, err := postgres.Migrate(ctx, pool, schema, 2); err != nil {
		t.Fatalf("Migrate to 2: %v", err)
	}
	exec(t, `INSERT INTO "`+schema+`".queues (name, paused) VALUES ('q', true)`)
	if _, err := postgres.Migrate(ctx, pool, schema, postgres.LatestVersion()); err != nil {
		t.Fatalf("Migrate up from 2: %v", err)
	}
	s := open(t, testURL(t), &postgres.Options{Schema: schema})
	defer s.Close()
	info := func() store.QueueInfo {
		qs, err := s.Queues(ctx)
		if err != nil || len(qs) != 1 {
			t.Fatalf("Queues: %+v, %v", qs, err)
		}
		return qs[0]
	}
	if q := info(); !q.Paused || q.Limits != nil {
		t.Errorf("the queue after the migration: %+v, want paused without limits", q)
	}
	l := store.Limits{Rate: "3/m", Burst: 1}
	if err := s.SetLimits(ctx, &store.SetLimitsParams{Queue: "q", Limits: l}); err != nil {
		t.Fatal(err)
	}
	if q := info(); !q.Paused || q.Limits == nil || !q.Limits.Equal(l) {
		t.Errorf("the queue with limits: %+v", q)
	}
}

// TestLimitsGlobal: two stores on one schema, as two nodes, claiming at
// once from a limited queue, lease no more than the one bucket allows.
func TestLimitsGlobal(t *testing.T) {
	t.Parallel()
	a := setup(t, nil)
	b := open(t, testURL(t), &postgres.Options{Schema: a.Schema()})
	t.Cleanup(func() { b.Close() })
	ctx := t.Context()
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	jobs := make([]*store.NewJob, 400)
	for i := range jobs {
		jobs[i] = &store.NewJob{Kind: "k", Queue: "default", Args: []byte(`{}`), Priority: 5, MaxAttempts: 1, RunAt: now}
	}
	if _, err := a.Enqueue(ctx, &store.EnqueueParams{Jobs: jobs, Now: now}); err != nil {
		t.Fatal(err)
	}
	if err := b.SetLimits(ctx, &store.SetLimitsParams{Queue: "default", Limits: store.Limits{Rate: "100/s", Burst: 5}}); err != nil {
		t.Fatal(err)
	}
	// Each node claims at the same simulated times, 10ms apart, for 2s:
	// the one bucket gives 5 + 100*2 jobs, not twice that.
	var wg sync.WaitGroup
	counts := make([]int, 2)
	for i, s := range []store.Driver{a, b} {
		wg.Go(func() {
			for step := range 200 {
				res, err := s.Claim(ctx, &store.ClaimParams{Queue: "default", Max: 8, LeaseFor: time.Hour,
					Now: now.Add(time.Duration(step+1) * 10 * time.Millisecond)})
				if err != nil {
					t.Error(err)
					return
				}
				counts[i] += len(res.Jobs)
			}
		})
	}
	wg.Wait()
	if got := counts[0] + counts[1]; got < 195 || got > 205 {
		t.Errorf("two nodes claimed %d + %d = %d jobs over 2s at 100/s with burst 5, want 205 within 5", counts[0], counts[1], got)
	}
}

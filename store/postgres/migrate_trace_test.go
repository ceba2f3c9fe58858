package postgres_test

import (
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
	"github.com/gantry-dev/gantry/store/postgres"
)

// TestMigrateFromVersion5: a schema at version 5 holding a job is migrated
// to version 6 in place: the job reads as it was, with no trace context,
// and a job enqueued afterwards keeps its traceparent through a claim.
func TestMigrateFromVersion5(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	schema := newSchema(t)
	ctx := t.Context()
	if _, err := postgres.Migrate(ctx, pool, schema, 5); err != nil {
		t.Fatalf("Migrate to 5: %v", err)
	}
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	old := store.NewID()
	exec(t, `INSERT INTO "`+schema+`".jobs (id, kind, queue, state, args, priority, max_attempts, run_at, available_at,
		created_at, pending_deps) VALUES ($1, 'a', 'default', 'available', '{}', 5, 3, $2, $2, $2, 0)`, old, now)
	if _, err := postgres.Migrate(ctx, pool, schema, postgres.LatestVersion()); err != nil {
		t.Fatalf("Migrate up from 5: %v", err)
	}
	s := open(t, testURL(t), &postgres.Options{Schema: schema})
	if j, err := s.Get(ctx, old); err != nil || j.State != store.StateAvailable || j.TraceParent != "" {
		t.Fatalf("the job after the migration: %+v, %v", j, err)
	}
	const tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	res, err := s.Enqueue(ctx, &store.EnqueueParams{Now: now, Jobs: []*store.NewJob{{Kind: "b", Queue: "q",
		Priority: 5, MaxAttempts: 1, RunAt: now, TraceParent: tp}}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.Claim(ctx, &store.ClaimParams{Queue: "q", Max: 1, LeaseFor: time.Minute, Now: now})
	if err != nil || len(c.Jobs) != 1 || c.Jobs[0].ID != res.Jobs[0].Job.ID || c.Jobs[0].TraceParent != tp {
		t.Fatalf("claim of a job with a traceparent: %+v, %v", c, err)
	}
	if _, err := postgres.Migrate(ctx, pool, schema, 5); err != nil {
		t.Fatalf("Migrate down to 5: %v", err)
	}
}

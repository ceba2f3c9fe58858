package postgres_test

import (
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
	"github.com/gantry-dev/gantry/store/postgres"
)

// TestMigrateFromVersion3: a schema at version 3 holding a job is migrated
// to the latest version in place: the job reads as never snoozed, a snooze
// of it is counted, and the schema goes back down to version 3.
func TestMigrateFromVersion3(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	schema := newSchema(t)
	ctx := t.Context()
	if _, err := postgres.Migrate(ctx, pool, schema, 3); err != nil {
		t.Fatalf("Migrate to 3: %v", err)
	}
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	old := store.NewID()
	exec(t, `INSERT INTO "`+schema+`".jobs (id, kind, queue, state, args, priority, max_attempts, run_at, available_at,
		created_at, pending_deps) VALUES ($1, 'a', 'default', 'available', '{}', 5, 3, $2, $2, $2, 0)`, old, now)
	if _, err := postgres.Migrate(ctx, pool, schema, postgres.LatestVersion()); err != nil {
		t.Fatalf("Migrate up from 3: %v", err)
	}
	s := open(t, testURL(t), &postgres.Options{Schema: schema})
	if j, err := s.Get(ctx, old); err != nil || j.State != store.StateAvailable || j.Snoozes != 0 || !j.FirstSnoozedAt.IsZero() {
		t.Fatalf("the job after the migration: %+v, %v", j, err)
	}
	c, err := s.Claim(ctx, &store.ClaimParams{Queue: "default", Max: 1, LeaseFor: time.Minute, Now: now})
	if err != nil || len(c.Jobs) != 1 {
		t.Fatalf("claim: %+v, %v", c, err)
	}
	fin, err := s.Finish(ctx, &store.FinishParams{Now: now, Items: []store.FinishItem{{ID: old, LeaseToken: c.Jobs[0].LeaseToken,
		Outcome: store.OutcomeSnoozed, RetryAt: now.Add(time.Minute)}}})
	if err != nil || fin.Errs[0] != nil {
		t.Fatalf("snooze: %+v, %v", fin, err)
	}
	if j, err := s.Get(ctx, old); err != nil || j.Snoozes != 1 || !j.FirstSnoozedAt.Equal(now) {
		t.Fatalf("the job after a snooze: %+v, %v; want 1 snooze at %s", j, err, now)
	}
	s.Close()
	if _, err := postgres.Migrate(ctx, pool, schema, 3); err != nil {
		t.Fatalf("Migrate down to 3: %v", err)
	}
}

package postgres_test

import (
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
	"github.com/gantry-dev/gantry/store/postgres"
)

// TestMigrateFromVersion1: a schema at version 1 holding jobs (one
// waiting for another) is migrated to version 2 in place: the jobs read
// as they were, outside any workflow, the dependent is released when its
// dependency succeeds, and workflows work on the migrated schema.
func TestMigrateFromVersion1(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	schema := newSchema(t)
	ctx := t.Context()
	if _, err := postgres.Migrate(ctx, pool, schema, 1); err != nil {
		t.Fatalf("Migrate to 1: %v", err)
	}
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	dep, waiting := store.NewID(), store.NewID()
	q := `"` + schema + `"`
	exec(t, `INSERT INTO `+q+`.jobs (id, kind, queue, state, args, priority, max_attempts, run_at, available_at,
		created_at, depends_on, pending_deps) VALUES
		($1, 'a', 'default', 'available', '{}', 5, 3, $3, $3, $3, NULL, 0),
		($2, 'b', 'default', 'waiting', '{}', 5, 3, $3, $3, $3, ARRAY[$1::uuid], 1)`, dep, waiting, now)
	exec(t, `INSERT INTO `+q+`.job_deps (job_id, depends_on_id) VALUES ($1, $2)`, waiting, dep)
	if _, err := postgres.Migrate(ctx, pool, schema, postgres.LatestVersion()); err != nil {
		t.Fatalf("Migrate up from 1: %v", err)
	}
	s := open(t, testURL(t), &postgres.Options{Schema: schema})
	j, err := s.Get(ctx, waiting)
	if err != nil || j.State != store.StateWaiting || j.WorkflowID != "" || j.Ref != "" || len(j.DependsOn) != 1 {
		t.Fatalf("the waiting job after the migration: %+v, %v", j, err)
	}
	c, err := s.Claim(ctx, &store.ClaimParams{Queue: "default", Max: 1, LeaseFor: time.Minute, Now: now})
	if err != nil || len(c.Jobs) != 1 || c.Jobs[0].ID != dep {
		t.Fatalf("claim after the migration: %+v, %v", c, err)
	}
	if _, err := s.Finish(ctx, &store.FinishParams{Now: now, Items: []store.FinishItem{
		{ID: dep, LeaseToken: c.Jobs[0].LeaseToken, Outcome: store.OutcomeSucceeded}}}); err != nil {
		t.Fatal(err)
	}
	if j, err := s.Get(ctx, waiting); err != nil || j.State != store.StateAvailable {
		t.Errorf("the dependent after its dependency succeeded: %+v, %v; want available", j, err)
	}
	wf, a := store.NewID(), store.NewID()
	_, err = s.Enqueue(ctx, &store.EnqueueParams{Now: now, Workflow: &store.NewWorkflow{ID: wf, Name: "after"},
		Jobs: []*store.NewJob{{ID: a, Ref: "a", Kind: "a", Queue: "default", Priority: 5, MaxAttempts: 1, RunAt: now,
			DependsOn: []string{waiting}}}})
	if err != nil {
		t.Fatalf("Enqueue of a workflow on the migrated schema: %v", err)
	}
	w, err := s.Workflow(ctx, wf)
	if err != nil || w.State != store.WorkflowRunning || w.Counts[store.StateWaiting] != 1 {
		t.Errorf("workflow on the migrated schema: %+v, %v", w, err)
	}
	// And back down to 1.
	if _, err := postgres.Migrate(ctx, pool, schema, 1); err != nil {
		t.Fatalf("Migrate down to 1: %v", err)
	}
}

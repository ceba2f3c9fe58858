package postgres_test

import (
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
	"github.com/gantry-dev/gantry/store/postgres"
)

// Migration 3 adds the nodes table to a schema at version 2 that holds
// jobs: they are kept, and the migrated store registers nodes.
func TestMigrateNodes(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	schema := newSchema(t)
	ctx := t.Context()
	if _, err := postgres.Migrate(ctx, pool, schema, 2); err != nil {
		t.Fatalf("Migrate to 2: %v", err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO "`+schema+`".jobs (id, kind, queue, state, args, priority, max_attempts, run_at, available_at, created_at)
		VALUES ('01a23566-959d-7403-9558-a044f9f86d2e', 'k', 'default', 'available', '{}', 5, 3, now(), now(), now())`); err != nil {
		t.Fatalf("a job in version 2: %v", err)
	}
	if _, err := postgres.Migrate(ctx, pool, schema, postgres.LatestVersion()); err != nil {
		t.Fatalf("Migrate up from 2: %v", err)
	}
	s := open(t, testURL(t), &postgres.Options{Schema: schema})
	j, err := s.Get(ctx, "01a23566-959d-7403-9558-a044f9f86d2e")
	if err != nil || j.State != store.StateAvailable {
		t.Fatalf("the version 2 job after migration 3: %+v, %v", j, err)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	if err := s.BeatNode(ctx, &store.Node{ID: "n1", StartedAt: now, HeartbeatAt: now, Workers: 4}); err != nil {
		t.Fatal(err)
	}
	nodes, err := s.ListNodes(ctx, &store.NodesParams{Since: now.Add(-time.Minute)})
	if err != nil || len(nodes) != 1 || nodes[0].ID != "n1" || nodes[0].Workers != 4 {
		t.Fatalf("ListNodes after migration 3: %+v, %v", nodes, err)
	}
	// A node gone for longer than the retention is forgotten by the next beat.
	old := now.Add(-store.NodeRetention - time.Minute)
	if err := s.BeatNode(ctx, &store.Node{ID: "gone", StartedAt: old, HeartbeatAt: old}); err != nil {
		t.Fatal(err)
	}
	if err := s.BeatNode(ctx, &store.Node{ID: "n1", StartedAt: now, HeartbeatAt: now, Workers: 4}); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM "`+schema+`".nodes`).Scan(&n); err != nil || n != 1 {
		t.Errorf("rows in nodes after a beat: %d, %v; want 1 (the old node deleted)", n, err)
	}
}

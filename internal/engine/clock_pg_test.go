package engine

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/pgtest"
	"github.com/gantry-dev/gantry/store"
	"github.com/gantry-dev/gantry/store/postgres"
)

// TestClockSkewedNodePostgres: two engines share a PostgreSQL database;
// the one that runs maintenance has a system clock five minutes ahead.
// The database's clock decides: both engines agree on the time, so the
// other engine's running jobs keep their leases (none is rescued while
// alive, each succeeds in its first attempt), and a job due in a minute is
// not run by the fast node's clock.
func TestClockSkewedNodePostgres(t *testing.T) {
	t.Parallel()
	url := os.Getenv("GANTRY_TEST_POSTGRES_URL")
	if url == "" {
		t.Skip("set GANTRY_TEST_POSTGRES_URL=postgres://... to run the PostgreSQL tests")
	}
	schema := pgtest.Schema(t, url, "gantry_clock_")
	open := func(migrate bool) *postgres.Store {
		st, err := postgres.Open(context.Background(), url, &postgres.Options{Schema: schema, Migrate: migrate})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	stA, stB := open(true), open(false)
	b := newBlocked()
	start := func(cfg Config) *Engine {
		cfg.Kinds = []string{"k"}
		cfg.LeaseFor = 3 * time.Second
		cfg.MaintenanceInterval = 20 * time.Millisecond
		cfg.PollInterval = 20 * time.Millisecond
		e, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := e.Stop(ctx); err != nil {
				t.Errorf("stop: %v", err)
			}
		})
		return e
	}
	ran := make(chan *Attempt, 64)
	a := start(Config{Store: stA, DisableMaintenance: true, Queues: map[string]int{"default": 10}, Work: b.work})
	fast := start(Config{Store: stB, Queues: map[string]int{"other": 1},
		localNow: func() time.Time { return time.Now().Add(5 * time.Minute) },
		Work:     func(_ context.Context, at *Attempt) Result { ran <- at; return Result{} }})
	if d := fast.cfg.Now().Sub(a.cfg.Now()); d < -time.Second || d > time.Second {
		t.Fatalf("the engines' times differ by %v though their store is one", d)
	}
	now := time.Now()
	jobs := make([]*store.NewJob, 10)
	for i := range jobs {
		jobs[i] = &store.NewJob{Kind: "k", Queue: "default", Args: []byte(`{}`), Priority: store.DefaultPriority, MaxAttempts: 3, RunAt: now}
	}
	due := &store.NewJob{Kind: "k", Queue: "other", Args: []byte(`{}`), Priority: store.DefaultPriority, MaxAttempts: 3, RunAt: now.Add(time.Minute)}
	if _, err := stA.Enqueue(context.Background(), &store.EnqueueParams{Jobs: append(jobs, due), Now: now}); err != nil {
		t.Fatal(err)
	}
	b.waitStarted(t, len(jobs))
	time.Sleep(4 * time.Second) // more than a lease, many maintenance rounds of the fast node
	select {
	case at := <-ran:
		t.Errorf("job %s, due in a minute, ran after %v", at.Job.ID, time.Since(now))
	default:
	}
	close(b.release)
	deadline := time.Now().Add(20 * time.Second)
	for {
		page, err := stA.List(context.Background(), &store.ListParams{Queue: "default", State: store.StateSucceeded, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Jobs) == len(jobs) {
			for _, j := range page.Jobs {
				if j.Attempt != 1 {
					t.Errorf("job %s succeeded in attempt %d: its lease was rescued while it ran", j.ID, j.Attempt)
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d jobs succeeded", len(page.Jobs), len(jobs))
		}
		time.Sleep(50 * time.Millisecond)
	}
	select {
	case id := <-b.started:
		t.Errorf("job %s started again: its lease was rescued while it ran", id)
	default:
	}
}

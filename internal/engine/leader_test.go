package engine

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/pgtest"
	"github.com/gantry-dev/gantry/store"
	"github.com/gantry-dev/gantry/store/postgres"
)

func TestEngineWithoutElectorLeads(t *testing.T) {
	t.Parallel()
	h := setup(t, Config{}, func(context.Context, *Attempt) Result { return Result{} })
	if !h.e.Leader() {
		t.Error("an engine on a store without an Elector does not lead")
	}
}

// maintainedEngine is an engine on its own PostgreSQL store whose
// maintenance steps are counted (through its periodic job's schedule).
type maintainedEngine struct {
	e     *Engine
	st    *postgres.Store
	steps atomic.Int64
	log   logBuffer
}

// logBuffer collects log text from several goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startPG starts an engine on a store of its own on schema, and stops it
// at cleanup unless the test did.
func startPG(t *testing.T, url, schema string) *maintainedEngine {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := postgres.Open(ctx, url, &postgres.Options{Schema: schema, Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	m := &maintainedEngine{st: st}
	m.e, err = New(Config{
		Store:               st,
		Work:                func(context.Context, *Attempt) Result { return Result{} },
		MaintenanceInterval: 20 * time.Millisecond,
		Logger:              slog.New(slog.NewTextHandler(&m.log, nil)),
		Periodic: []Periodic{{
			Name: "count",
			Next: func(t time.Time) time.Time {
				m.steps.Add(1)
				return t.Truncate(time.Hour).Add(time.Hour)
			},
			Job: store.NewJob{Kind: "k", Queue: "default", Args: []byte(`{}`), Priority: store.DefaultPriority, MaxAttempts: 1},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.e.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.stop(t) })
	return m
}

func (m *maintainedEngine) stop(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.e.Stop(ctx); err != nil {
		t.Errorf("stop: %v", err)
	}
	m.st.Close()
}

// waitFor polls cond every 10 ms for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	timeout := time.After(10 * time.Second)
	for !cond() {
		select {
		case <-tick.C:
		case <-timeout:
			t.Fatalf("%s: not within 10s", what)
		}
	}
}

func TestOnlyTheLeaderMaintains(t *testing.T) {
	t.Parallel()
	url := os.Getenv("GANTRY_TEST_POSTGRES_URL")
	if url == "" {
		t.Skip("set GANTRY_TEST_POSTGRES_URL=postgres://... to run the PostgreSQL tests")
	}
	schema := pgtest.Schema(t, url, "gantry_test_")

	first := startPG(t, url, schema)
	waitFor(t, "the first engine leads", first.e.Leader)
	second := startPG(t, url, schema)
	waitFor(t, "the leader maintains", func() bool { return first.steps.Load() >= 10 })
	if second.e.Leader() || second.steps.Load() != 0 {
		t.Fatalf("the follower maintains too: leader %v, %d steps", second.e.Leader(), second.steps.Load())
	}

	start := time.Now()
	first.stop(t)
	// Each line the multi-node guide names is in the logs.
	if got := first.log.String(); !strings.Contains(got, "gained maintenance leadership") || !strings.Contains(got, "released maintenance leadership") {
		t.Errorf("the stopped leader logged %q, want it to have gained and released leadership", got)
	}
	waitFor(t, "the second engine takes over", second.e.Leader)
	t.Logf("takeover after the leader stopped: %v", time.Since(start).Round(time.Millisecond))
	waitFor(t, "the new leader maintains", func() bool { return second.steps.Load() > 0 })
}

// electing is a store whose Lead blocks until ctx ends: this process never
// leads.
type electing struct {
	store.Driver
	asked chan struct{}
}

func (s *electing) Lead(ctx context.Context) (context.Context, func(), error) {
	select {
	case s.asked <- struct{}{}:
	default:
	}
	<-ctx.Done()
	return nil, nil, ctx.Err()
}

// wrapping hides the capabilities of the store it wraps, as an
// instrumented store does, but gives it back with Unwrap.
type wrapping struct{ store.Driver }

func (w wrapping) Unwrap() store.Driver { return w.Driver }

// An engine finds the Elector of a store behind a wrapper, and follows
// the election instead of leading alone.
func TestEngineFindsElectorBehindWrapper(t *testing.T) {
	t.Parallel()
	var el *electing
	h := setupWrapped(t, Config{}, func(context.Context, *Attempt) Result { return Result{} },
		func(st store.Driver) store.Driver {
			el = &electing{Driver: st, asked: make(chan struct{}, 1)}
			return wrapping{el}
		})
	select {
	case <-el.asked:
	case <-time.After(10 * time.Second):
		t.Fatal("the engine never asked the wrapped store for leadership")
	}
	if h.e.Leader() {
		t.Error("the engine leads without being elected")
	}
}

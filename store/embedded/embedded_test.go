package embedded

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/gantry-dev/gantry/store"
)

var t0 = time.Date(2026, time.January, 1, 12, 0, 0, 0, time.UTC)

func setup(t *testing.T) (*Store, string) {
	t.Helper()
	dir := t.TempDir()
	s, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, dir
}

func newJob(queue, kind string, prio int, runAt time.Time) *store.NewJob {
	return &store.NewJob{Kind: kind, Queue: queue, Priority: prio, RunAt: runAt, MaxAttempts: 3,
		Args: json.RawMessage(`{"n":1}`)}
}

func enqueue(t *testing.T, s *Store, jobs ...*store.NewJob) []*store.Job {
	t.Helper()
	res, err := s.Enqueue(context.Background(), &store.EnqueueParams{Jobs: jobs, Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	out := make([]*store.Job, len(res.Jobs))
	for i, e := range res.Jobs {
		out[i] = e.Job
	}
	return out
}

func claim(t *testing.T, s *Store, queue string, max int, now time.Time) []*store.Job {
	t.Helper()
	res, err := s.Claim(context.Background(), &store.ClaimParams{Queue: queue, Max: max, LeaseFor: time.Minute, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return res.Jobs
}

// TestReopen closes a store and opens it again: counters, queue settings,
// the claim order, scheduled jobs and dependencies all survive.
func TestReopen(t *testing.T) {
	t.Parallel()
	s, dir := setup(t)
	ctx := context.Background()
	a := enqueue(t, s,
		newJob("q1", "k1", 5, t0), newJob("q1", "k2", 1, t0), newJob("q1", "k1", 5, t0),
		newJob("q2", "k1", 5, t0.Add(time.Hour)))
	dep := enqueue(t, s, &store.NewJob{Kind: "k3", Queue: "q3", Priority: 5, RunAt: t0, MaxAttempts: 1, DependsOn: []string{a[0].ID}})[0]
	if got := claim(t, s, "q1", 1, t0); len(got) != 1 || got[0].ID != a[1].ID {
		t.Fatalf("first claim: %v", got)
	}
	if err := s.PauseQueue(ctx, &store.PauseParams{Queue: "q9", Paused: true}); err != nil {
		t.Fatal(err)
	}
	before, err := s.Queues(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, a[0].ID); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Get after Close: %v", err)
	}

	s2, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	after, err := s2.Queues(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(before) != fmt.Sprint(after) {
		t.Fatalf("Queues before Close %+v, after reopening %+v", before, after)
	}
	if len(after) != 4 || !after[3].Paused || after[3].Name != "q9" {
		t.Fatalf("queues after reopen: %+v", after)
	}
	// The claim order continues where it stopped, and new jobs queue behind.
	late := enqueue(t, s2, newJob("q1", "k1", 5, t0))[0]
	got := claim(t, s2, "q1", 10, t0)
	if len(got) != 3 || got[0].ID != a[0].ID || got[1].ID != a[2].ID || got[2].ID != late.ID {
		t.Fatalf("claims after reopen: %v", ids(got))
	}
	// The scheduled job is promoted when due.
	if got := claim(t, s2, "q2", 10, t0.Add(time.Hour)); len(got) != 1 || got[0].ID != a[3].ID {
		t.Fatalf("scheduled job after reopen: %v", ids(got))
	}
	// The dependency edge survived: finishing a[0] releases dep.
	fr, err := s2.Finish(ctx, &store.FinishParams{Now: t0, Items: []store.FinishItem{
		{ID: got0(t, got, a[0].ID).ID, LeaseToken: got0(t, got, a[0].ID).LeaseToken, Outcome: store.OutcomeSucceeded}}})
	if err != nil || fr.Errs[0] != nil {
		t.Fatalf("Finish: %v %v", err, fr.Errs)
	}
	if j, err := s2.Get(ctx, dep.ID); err != nil || j.State != store.StateAvailable {
		t.Fatalf("dependent after reopen: %+v %v", j, err)
	}
}

func got0(t *testing.T, jobs []*store.Job, id string) *store.Job {
	t.Helper()
	for _, j := range jobs {
		if j.ID == id {
			return j
		}
	}
	t.Fatalf("job %s not among %v", id, ids(jobs))
	return nil
}

func ids(jobs []*store.Job) []string {
	out := make([]string, len(jobs))
	for i, j := range jobs {
		out[i] = j.ID
	}
	return out
}

// TestNewerFormatRefused: a data dir written by a newer Gantry is not
// opened.
func TestNewerFormatRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db, err := pebble.Open(dir, &pebble.Options{Logger: pebbleLogger{discard()}})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Set(keyFormat, []byte{0, 0, 0, formatVersion + 1}, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if s, err := Open(dir, nil); err == nil {
		s.Close()
		t.Fatal("Open of a newer format succeeded")
	}
}

// TestTombstonesDoNotSlowClaims drains many jobs and checks that the
// claim of the next one starts past the deleted entries instead of
// walking their tombstones.
func TestTombstonesDoNotSlowClaims(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	const n = 5000
	batch := make([]*store.NewJob, n)
	for i := range batch {
		batch[i] = newJob("default", "k", 5, t0)
	}
	enqueue(t, s, batch...)
	for drained := 0; drained < n; {
		got := claim(t, s, "default", 500, t0)
		if len(got) == 0 {
			t.Fatalf("drained %d of %d", drained, n)
		}
		drained += len(got)
	}
	last := enqueue(t, s, newJob("default", "k", 5, t0))[0]

	// Measure what a claim's seek costs from the cursor, as Claim does it.
	prefix := availPrefix("default", "k", 5)
	cursor := s.mem.queues["default"].kinds["k"].prios[5].cursor // no claim runs now
	steps := func(lower []byte) int {
		it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: prefixEnd(prefix)})
		if err != nil {
			t.Fatal(err)
		}
		defer it.Close()
		if !it.First() {
			t.Fatal("no available entry")
		}
		if id := jobID(it.Value()); idString(id) != last.ID {
			t.Fatalf("head is %s, want %s", idString(id), last.ID)
		}
		st := it.Stats()
		return st.ForwardSeekCount[pebble.InternalIterCall] + st.ForwardStepCount[pebble.InternalIterCall]
	}
	if got := steps(append(prefix, cursor[:]...)); got > 10 {
		t.Errorf("a claim from the cursor took %d internal steps, want a handful", got)
	}
	if got := claim(t, s, "default", 10, t0); len(got) != 1 || got[0].ID != last.ID {
		t.Fatalf("claim after the drain: %v", ids(got))
	}
}

// TestCloseWithRequestsInFlight closes the store under load: every call
// either succeeds or returns ErrClosed, and nothing leaks (TestMain).
func TestCloseWithRequestsInFlight(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	started := make(chan struct{})
	errs := make(chan error, 32)
	for i := range 32 {
		wg.Go(func() {
			for k := 0; ; k++ {
				if i == 0 && k == 10 {
					close(started)
				}
				_, err := s.Enqueue(ctx, &store.EnqueueParams{Jobs: []*store.NewJob{newJob("default", "k", 5, t0)}, Now: t0})
				if err != nil {
					if !errors.Is(err, store.ErrClosed) {
						errs <- err
					}
					return
				}
			}
		})
	}
	<-started
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("Enqueue during Close: %v, want nil or ErrClosed", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := s.Claim(ctx, &store.ClaimParams{Queue: "default", Max: 1, LeaseFor: time.Second, Now: t0}); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Claim after Close: %v", err)
	}
	if _, err := s.List(ctx, &store.ListParams{}); !errors.Is(err, store.ErrClosed) {
		t.Errorf("List after Close: %v", err)
	}
	if err := s.Ping(ctx); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Ping after Close: %v", err)
	}
}

// TestOpenBadOptions: options that cannot work are refused before
// anything is created.
func TestOpenBadOptions(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "x")
	if _, err := Open(dir, &Options{MemTables: 1}); err == nil {
		t.Error("Open with MemTables 1 succeeded")
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("Open with bad options created %s: %v", dir, err)
	}
}

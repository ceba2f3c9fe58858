package postgres_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
	"github.com/gantry-dev/gantry/store/postgres"
)

// collector gathers changes and signals each arrival.
type collector struct {
	mu      sync.Mutex
	changes []store.Change
	arrived chan struct{}
}

func newCollector() *collector { return &collector{arrived: make(chan struct{}, 1)} }

func (c *collector) fn(ch []store.Change) {
	c.mu.Lock()
	c.changes = append(c.changes, ch...)
	c.mu.Unlock()
	select {
	case c.arrived <- struct{}{}:
	default:
	}
}

// waitFor waits until ok holds for the changes collected so far.
func (c *collector) waitFor(t *testing.T, what string, ok func([]store.Change) bool) {
	t.Helper()
	timeout := time.NewTimer(10 * time.Second)
	defer timeout.Stop()
	for {
		c.mu.Lock()
		done := ok(c.changes)
		c.mu.Unlock()
		if done {
			return
		}
		select {
		case <-c.arrived:
		case <-timeout.C:
			t.Fatalf("no notification of %s within 10s", what)
		}
	}
}

func has(id string, st store.State, progress bool) func([]store.Change) bool {
	return func(cs []store.Change) bool {
		for _, c := range cs {
			if c.ID == id && c.State == st && c.Progress == progress {
				return true
			}
		}
		return false
	}
}

// TestNotifyAcrossNodes: a change committed on one node reaches the
// listener of another, with its queue, kind and state, for every kind of
// change.
func TestNotifyAcrossNodes(t *testing.T) {
	t.Parallel()
	a, b := twoNodes(t, nil)
	c := newCollector()
	stop := a.Notify(c.fn)
	defer stop()
	ctx := t.Context()

	j := enqueue(t, b, newJobs(1, func(j *store.NewJob) { j.Kind = "mail"; j.Queue = "q1" })...)[0]
	c.waitFor(t, "the enqueue", func(cs []store.Change) bool {
		return has(j.ID, store.StateAvailable, false)(cs) && cs[0].Queue == "q1" && cs[0].Kind == "mail"
	})
	res, err := b.Claim(ctx, &store.ClaimParams{Queue: "q1", Max: 1, LeaseFor: time.Minute, Now: t0})
	if err != nil || len(res.Jobs) != 1 {
		t.Fatalf("Claim: %v %v", res, err)
	}
	c.waitFor(t, "the claim", has(j.ID, store.StateRunning, false))
	if _, err := b.Heartbeat(ctx, &store.HeartbeatParams{ID: j.ID, LeaseToken: res.Jobs[0].LeaseToken,
		Progress: &store.Progress{Percent: 50}, Now: t0}); err != nil {
		t.Fatal(err)
	}
	c.waitFor(t, "the progress", has(j.ID, store.StateRunning, true))
	if _, err := b.Finish(ctx, &store.FinishParams{Now: t0, Items: []store.FinishItem{
		{ID: j.ID, LeaseToken: res.Jobs[0].LeaseToken, Outcome: store.OutcomeSucceeded}}}); err != nil {
		t.Fatal(err)
	}
	c.waitFor(t, "the success", has(j.ID, store.StateSucceeded, false))
}

// TestNotifyLargeBatch: a batch whose changes are far larger than one
// notification's 8000 bytes arrives whole, in several notifications.
func TestNotifyLargeBatch(t *testing.T) {
	t.Parallel()
	s := setup(t, nil)
	c := newCollector()
	defer s.Notify(c.fn)()
	long := strings.Repeat("x", store.MaxNameLen)
	jobs := enqueue(t, s, newJobs(1000, func(j *store.NewJob) { j.Kind, j.Queue = long, long })...)
	c.waitFor(t, "1000 enqueued jobs", func(cs []store.Change) bool { return len(cs) >= len(jobs) })
	seen := map[string]bool{}
	for _, ch := range c.changes {
		if ch.Kind != long || ch.Queue != long || ch.State != store.StateAvailable {
			t.Fatalf("change %+v, want kind and queue %q, available", ch, long)
		}
		seen[ch.ID] = true
	}
	for _, j := range jobs {
		if !seen[j.ID] {
			t.Fatalf("no change for job %s", j.ID)
		}
	}
}

// TestNotifyOnlyAtCommit: jobs enqueued in a transaction are announced
// when it commits, and never when it rolls back.
func TestNotifyOnlyAtCommit(t *testing.T) {
	t.Parallel()
	s := setup(t, nil)
	c := newCollector()
	defer s.Notify(c.fn)()
	ctx := t.Context()
	var ids []string
	for _, commit := range []bool{false, true} {
		tx, err := s.Pool().Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		res, err := s.EnqueueTx(ctx, tx, &store.EnqueueParams{Jobs: newJobs(1), Now: t0})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, res.Jobs[0].Job.ID)
		if commit {
			err = tx.Commit(ctx)
		} else {
			err = tx.Rollback(ctx)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	c.waitFor(t, "the committed job", has(ids[1], store.StateAvailable, false))
	if has(ids[0], store.StateAvailable, false)(c.changes) {
		t.Errorf("the rolled back job %s was announced", ids[0])
	}
}

// TestNotifyReconnects: when the listening connection dies, the listener
// reconnects and changes flow again.
func TestNotifyReconnects(t *testing.T) {
	t.Parallel()
	s := setup(t, &postgres.Options{ListenRetryMin: 10 * time.Millisecond, ListenRetryMax: 50 * time.Millisecond})
	c := newCollector()
	defer s.Notify(c.fn)()
	var killed int
	if err := s.Pool().QueryRow(t.Context(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE query = $1`,
		`LISTEN "`+s.Schema()+`_changes"`).Scan(&killed); err != nil || killed != 1 {
		t.Fatalf("terminating the listener's backend: killed %d, %v; want 1", killed, err)
	}
	// Changes committed while the listener is down are lost (best effort):
	// enqueue until one is seen.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		enqueue(t, s, newJobs(1)...)
		c.mu.Lock()
		n := len(c.changes)
		c.mu.Unlock()
		if n > 0 {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatal("no change delivered within 10s of the listener's connection being killed")
		case <-c.arrived:
			return
		case <-tick.C:
		}
	}
}

// TestNotifyStop: a stopped listener function is not called again.
func TestNotifyStop(t *testing.T) {
	t.Parallel()
	s := setup(t, nil)
	first, second := newCollector(), newCollector()
	stop := s.Notify(first.fn)
	defer s.Notify(second.fn)()
	stop()
	stop() // twice is fine
	j := enqueue(t, s, newJobs(1)...)[0]
	second.waitFor(t, "the enqueue", has(j.ID, store.StateAvailable, false))
	first.mu.Lock()
	defer first.mu.Unlock()
	if len(first.changes) != 0 {
		t.Errorf("a stopped function received %v", first.changes)
	}
}

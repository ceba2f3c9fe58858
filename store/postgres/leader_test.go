package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
	"github.com/gantry-dev/gantry/store/postgres"
)

// term is the outcome of a Lead call.
type term struct {
	lost    context.Context
	release func()
	err     error
	at      time.Time
}

// leadAsync calls s.Lead on a goroutine the test waits for, and delivers
// the outcome on the returned channel.
func leadAsync(t *testing.T, ctx context.Context, s *postgres.Store) <-chan term {
	t.Helper()
	ch := make(chan term, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		lost, release, err := s.Lead(ctx)
		ch <- term{lost, release, err, time.Now()}
	}()
	t.Cleanup(func() { <-done })
	return ch
}

// waitTerm waits up to 10 s for a Lead call to return.
func waitTerm(t *testing.T, ch <-chan term) term {
	t.Helper()
	select {
	case tm := <-ch:
		return tm
	case <-time.After(10 * time.Second):
		t.Fatal("Lead did not return within 10s")
		return term{}
	}
}

// twoStores opens two stores on one fresh schema, as two nodes would.
func twoStores(t *testing.T) (a, b *postgres.Store) {
	t.Helper()
	a = setup(t, nil)
	b = open(t, testURL(t), &postgres.Options{Schema: a.Schema()})
	return a, b
}

func mustLead(t *testing.T, s *postgres.Store) (context.Context, func()) {
	t.Helper()
	// The term lasts as long as ctx: it must outlive this function.
	lost, release, err := s.Lead(context.Background())
	if err != nil {
		t.Fatalf("Lead: %v", err)
	}
	t.Cleanup(release)
	return lost, release
}

func TestLeadOneAtATimeAndRelease(t *testing.T) {
	t.Parallel()
	a, b := twoStores(t)
	lostA, releaseA := mustLead(t, a)
	if postgres.LeaderPID(a) == 0 {
		t.Error("the leader reports no connection")
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := leadAsync(t, ctx, b)
	// Three polls of b's: none may win while a leads.
	select {
	case tm := <-ch:
		t.Fatalf("the second store led while the first did: err %v", tm.err)
	case <-time.After(3 * time.Second):
	}
	if postgres.LeaderPID(b) != 0 {
		t.Error("the waiting store reports a leader connection")
	}

	start := time.Now()
	releaseA()
	if context.Cause(lostA) == nil {
		t.Error("release did not end lost")
	}
	if postgres.LeaderPID(a) != 0 {
		t.Error("the released store still reports a leader connection")
	}
	tm := waitTerm(t, ch)
	if tm.err != nil {
		t.Fatalf("Lead after release: %v", tm.err)
	}
	defer tm.release()
	t.Logf("failover after release: %v", tm.at.Sub(start).Round(time.Millisecond))
	if tm.lost.Err() != nil {
		t.Errorf("the new leader's term already ended: %v", context.Cause(tm.lost))
	}
	releaseA() // a second release does nothing
}

func TestLeadFailoverWhenLeaderBackendDies(t *testing.T) {
	t.Parallel()
	a, b := twoStores(t)
	lostA, _ := mustLead(t, a)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := leadAsync(t, ctx, b)

	pid := postgres.LeaderPID(a)
	if pid == 0 {
		t.Fatal("the leader reports no connection")
	}
	start := time.Now()
	exec(t, "SELECT pg_terminate_backend($1)", int64(pid))

	select {
	case <-lostA.Done():
		t.Logf("old leader noticed after %v: %v", time.Since(start).Round(time.Millisecond), context.Cause(lostA))
	case <-time.After(10 * time.Second):
		t.Fatal("the leader did not notice that its backend was terminated")
	}
	tm := waitTerm(t, ch)
	if tm.err != nil {
		t.Fatalf("Lead after the leader's backend died: %v", tm.err)
	}
	defer tm.release()
	t.Logf("failover after the leader's backend died: %v", tm.at.Sub(start).Round(time.Millisecond))

	// The old leader can lead again once the new one releases.
	tm.release()
	lost, release := mustLead(t, a)
	defer release()
	if lost.Err() != nil {
		t.Error("the new term already ended")
	}
}

func TestLeadCloseAndCancel(t *testing.T) {
	t.Parallel()
	a, b := twoStores(t)
	lostA, _ := mustLead(t, a)

	// A waiting Lead returns ctx's error when ctx ends.
	ctx, cancel := context.WithCancel(context.Background())
	ch := leadAsync(t, ctx, b)
	cancel()
	if tm := waitTerm(t, ch); !errors.Is(tm.err, context.Canceled) {
		t.Errorf("Lead with a cancelled ctx: err %v, want context.Canceled", tm.err)
	}

	// A waiting Lead returns ErrClosed when its store closes.
	ch = leadAsync(t, context.Background(), b)
	b.Close()
	if tm := waitTerm(t, ch); !errors.Is(tm.err, store.ErrClosed) {
		t.Errorf("Lead on a closing store: err %v, want store.ErrClosed", tm.err)
	}
	if _, _, err := b.Lead(context.Background()); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Lead after Close: err %v, want store.ErrClosed", err)
	}

	// Closing the leader ends its term.
	a.Close()
	select {
	case <-lostA.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not end the leader's term")
	}
	if err := context.Cause(lostA); !errors.Is(err, store.ErrClosed) {
		t.Errorf("cause after Close: %v, want store.ErrClosed", err)
	}
}

func TestLeadSchemasElectApart(t *testing.T) {
	t.Parallel()
	a := setup(t, nil)
	b := setup(t, nil)
	_, ra := mustLead(t, a)
	defer ra()
	_, rb := mustLead(t, b) // would block if the schemas shared a lock
	defer rb()
}

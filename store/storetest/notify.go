package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
)

// notifyWait is how long the suite waits for a change to be reported.
const notifyWait = 10 * time.Second

func testNotifier(t *testing.T, open opener) {
	// notifier opens a driver and subscribes a recorder to it, or skips
	// the test when the driver reports no changes.
	notifier := func(t *testing.T) (*harness, *recorder) {
		h := setup(t, open)
		n, ok := store.As[store.Notifier](h.d)
		if !ok {
			t.Skipf("%T does not implement store.Notifier", h.d)
		}
		r := newRecorder()
		stop := n.Notify(r.add)
		t.Cleanup(stop)
		return h, r
	}

	t.Run("Lifecycle", func(t *testing.T) {
		h, r := notifier(t)
		var j, c *store.Job
		r.expect(t, "enqueue", func() { j = h.enqueue(withKind("n.kind"), withQueue("nq")) },
			func() []store.Change { return changes(j, store.StateAvailable, false) })
		r.expect(t, "claim", func() { c = h.claimOne("nq") },
			func() []store.Change { return changes(j, store.StateRunning, false) })
		r.expect(t, "progress heartbeat", func() {
			if _, err := h.heartbeat(store.HeartbeatParams{ID: c.ID, LeaseToken: c.LeaseToken, Progress: &store.Progress{Percent: 50}}); err != nil {
				t.Fatalf("Heartbeat: %v", err)
			}
		}, func() []store.Change { return changes(j, store.StateRunning, true) })
		r.expect(t, "finish", func() { h.succeed(c) },
			func() []store.Change { return changes(j, store.StateSucceeded, false) })
	})

	t.Run("StateChanges", func(t *testing.T) {
		h, r := notifier(t)
		var s, a, b *store.Job
		r.expect(t, "scheduled enqueue", func() { s = h.enqueue(withRunAt(h.now.Add(time.Minute))) },
			func() []store.Change { return changes(s, store.StateScheduled, false) })
		a = h.enqueue(withKind("a"), withAttempts(2))
		r.expect(t, "waiting enqueue", func() { b = h.enqueue(withKind("b"), withDeps(a.ID)) },
			func() []store.Change { return changes(b, store.StateWaiting, false) })
		r.expect(t, "failed attempt", func() { h.fail(h.claimJob(a), time.Second) },
			func() []store.Change { return changes(a, store.StateRetrying, false) })
		r.expect(t, "cancel with a dependent", func() { h.cancel(a.ID, "stop") }, func() []store.Change {
			return append(changes(a, store.StateCancelled, false), changes(b, store.StateCancelled, false)...)
		})
		r.expect(t, "retry", func() { h.retry(a.ID) },
			func() []store.Change { return changes(a, store.StateAvailable, false) })
	})

	t.Run("Maintenance", func(t *testing.T) {
		h, r := notifier(t)
		s := h.enqueue(withRunAt(h.now.Add(time.Minute)))
		c := h.claimJob(h.enqueue(withKind("r")))
		h.advance(time.Hour)
		r.expect(t, "Promote", func() {
			if _, err := h.d.Promote(h.ctx, &store.PromoteParams{Now: h.now}); err != nil {
				t.Fatalf("Promote: %v", err)
			}
		}, func() []store.Change { return changes(s, store.StateAvailable, false) })
		r.expect(t, "Rescue", func() { h.rescue(0) },
			func() []store.Change { return changes(c, store.StateRetrying, false) })
	})

	t.Run("DependentBecomesAvailable", func(t *testing.T) {
		h, r := notifier(t)
		a := h.enqueue(withKind("a"))
		b := h.enqueue(withKind("b"), withDeps(a.ID))
		c := h.claimJob(a)
		r.expect(t, "the dependency succeeded", func() { h.succeed(c) }, func() []store.Change {
			return append(changes(a, store.StateSucceeded, false), changes(b, store.StateAvailable, false)...)
		})
	})

	t.Run("Stop", func(t *testing.T) {
		h, r := notifier(t)
		stopped := newRecorder()
		n, _ := store.As[store.Notifier](h.d)
		stop := n.Notify(stopped.add)
		stop()
		var j *store.Job
		r.expect(t, "enqueue", func() { j = h.enqueue() },
			func() []store.Change { return changes(j, store.StateAvailable, false) })
		// This cannot prove that no call comes later, but a subscriber
		// that was not stopped is usually called by now.
		if got := stopped.all(); len(got) != 0 {
			t.Errorf("a stopped subscriber was called with %+v", got)
		}
	})
}

// recorder collects the changes a Notifier reports.
type recorder struct {
	mu      sync.Mutex
	changes []store.Change // without their Job snapshots
	// bad lists the changes whose Job snapshot did not match them.
	bad []string
	// signal has a value when changes came since the last wait.
	signal chan struct{}
}

func newRecorder() *recorder { return &recorder{signal: make(chan struct{}, 1)} }

// add is the Notifier callback: it must not block.
func (r *recorder) add(cs []store.Change) {
	r.mu.Lock()
	for _, c := range cs {
		if j := c.Job; j != nil && (j.ID != c.ID || j.Queue != c.Queue || j.Kind != c.Kind || j.State != c.State || j.LeaseToken != "") {
			r.bad = append(r.bad, fmt.Sprintf("change %+v carries a job that is %s of queue %q, kind %q, state %s, with lease token %q; want the changed job, without its lease token",
				c, j.ID, j.Queue, j.Kind, j.State, j.LeaseToken))
		}
		c.Job = nil
		r.changes = append(r.changes, c)
	}
	r.mu.Unlock()
	select {
	case r.signal <- struct{}{}:
	default:
	}
}

func (r *recorder) all() []store.Change {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]store.Change(nil), r.changes...)
}

// changes returns the one change a job makes when it becomes s.
func changes(j *store.Job, s store.State, progress bool) []store.Change {
	return []store.Change{{ID: j.ID, Queue: j.Queue, Kind: j.Kind, State: s, Progress: progress}}
}

// expect runs action and waits until every change that want returns
// (called after action) was reported after action began, or fails the test
// after notifyWait.
func (r *recorder) expect(t *testing.T, what string, action func(), want func() []store.Change) {
	t.Helper()
	r.mu.Lock()
	mark := len(r.changes)
	r.mu.Unlock()
	action()
	missing := want()
	timeout := time.NewTimer(notifyWait)
	defer timeout.Stop()
	defer func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, b := range r.bad {
			t.Error(b)
		}
		r.bad = nil
	}()
	for {
		got := r.all()[mark:]
		missing = slices.DeleteFunc(missing, func(w store.Change) bool { return slices.Contains(got, w) })
		if len(missing) == 0 {
			return
		}
		select {
		case <-r.signal:
		case <-timeout.C:
			t.Fatalf("after %s: changes %+v not reported within %s; got %+v", what, missing, notifyWait, got)
		}
	}
}

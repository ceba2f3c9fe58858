package embedded

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
)

// fanIn enqueues a workflow of a parent and n children it waits for, and
// claims the children.
func fanIn(t testing.TB, s *Store, n int) (parent *store.Job, children []*store.Job) {
	t.Helper()
	ctx := context.Background()
	job := func(ref, kind, parent string) *store.NewJob {
		return &store.NewJob{ID: store.NewID(), Ref: ref, Kind: kind, Queue: "default", Args: json.RawMessage(`{}`),
			Priority: store.DefaultPriority, RunAt: t0, MaxAttempts: 1, ParentID: parent}
	}
	jobs := []*store.NewJob{job("parent", "parent", "")}
	pid := jobs[0].ID
	for i := range n {
		jobs = append(jobs, job(fmt.Sprintf("c%d", i), "child", pid))
	}
	res, err := s.Enqueue(ctx, &store.EnqueueParams{Jobs: jobs, Now: t0, Workflow: &store.NewWorkflow{ID: store.NewID()}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.Claim(ctx, &store.ClaimParams{Queue: "default", Kinds: []string{"child"}, Max: n, LeaseFor: time.Minute, Now: t0})
	if err != nil || len(c.Jobs) != n {
		t.Fatalf("claimed %d children, %v", len(c.Jobs), err)
	}
	return res.Jobs[0].Job, c.Jobs
}

// txReq runs fn in the committer, as one request of a group.
type txReq struct {
	reqBase[struct{}]
	fn func(tx *txn)
}

func (r *txReq) apply(tx *txn) { r.fn(tx) }

// TestFanInWritesTheParentOncePerGroup: children that succeed in one group
// count their parent down in memory; the group writes the parent's state
// record once, and what it commits is the count of all of them.
func TestFanInWritesTheParentOncePerGroup(t *testing.T) {
	t.Parallel()
	s, dir := setup(t)
	ctx := context.Background()
	const n = 50
	parent, children := fanIn(t, s, n)
	pid, _ := parseID(parent.ID)
	stateKey := idKey(tState, pid)
	var writes int
	_, err := submit(ctx, s, &txReq{fn: func(tx *txn) {
		for _, c := range children[:n-1] {
			it := store.FinishItem{ID: c.ID, LeaseToken: c.LeaseToken, Outcome: store.OutcomeSucceeded}
			if _, err := tx.finishOne(&it, &store.FinishParams{Now: t0}); err != nil {
				t.Errorf("finish %s: %v", c.ID, err)
			}
		}
		r := tx.b.Reader()
		for {
			_, k, _, ok, err := r.Next()
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				break
			}
			if bytes.Equal(k, stateKey) {
				writes++
			}
		}
	}}, durable)
	if err != nil {
		t.Fatal(err)
	}
	if writes != 0 {
		t.Errorf("the parent's state was written %d times while the group counted it down, want none before the commit", writes)
	}
	// What the group committed survives a reopen: one child to go.
	s.Close()
	s, err = Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	j, err := s.Get(ctx, parent.ID)
	if err != nil || j.State != store.StateWaiting {
		t.Fatalf("parent after the group: %+v, %v", j, err)
	}
	x, err := loadRec(s.db, pid)
	if err != nil || x.st.DepsLeft != 1 {
		t.Fatalf("parent DepsLeft %d after %d of %d children, want 1 (%v)", x.st.DepsLeft, n-1, n, err)
	}
	last := children[n-1]
	if _, err := s.Finish(ctx, &store.FinishParams{Now: t0, Items: []store.FinishItem{
		{ID: last.ID, LeaseToken: last.LeaseToken, Outcome: store.OutcomeSucceeded}}}); err != nil {
		t.Fatal(err)
	}
	if j, err := s.Get(ctx, parent.ID); err != nil || j.State != store.StateAvailable {
		t.Fatalf("parent after its last child: %+v, %v", j, err)
	}
}

// TestFanInCountThenChange: a job counted down in a group and then changed
// in the same group (cancelled, or released) keeps the change: the group's
// deferred copy never overwrites a later save.
func TestFanInCountThenChange(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		// then runs in the group after the first children succeeded.
		then func(t *testing.T, tx *txn, parent *store.Job, rest []*store.Job)
		want store.State
	}{
		{"cancelled", func(t *testing.T, tx *txn, parent *store.Job, _ []*store.Job) {
			id, _ := parseID(parent.ID)
			x, err := tx.load(id)
			if err != nil {
				t.Fatal(err)
			}
			if err := store.CancelJob(&x.job, "stop", t0); err != nil {
				t.Fatal(err)
			}
			tx.save(x, t0)
		}, store.StateCancelled},
		{"released", func(t *testing.T, tx *txn, _ *store.Job, rest []*store.Job) {
			for _, c := range rest {
				it := store.FinishItem{ID: c.ID, LeaseToken: c.LeaseToken, Outcome: store.OutcomeSucceeded}
				if _, err := tx.finishOne(&it, &store.FinishParams{Now: t0}); err != nil {
					t.Fatal(err)
				}
			}
		}, store.StateAvailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, _ := setup(t)
			ctx := context.Background()
			parent, children := fanIn(t, s, 4)
			if _, err := submit(ctx, s, &txReq{fn: func(tx *txn) {
				for _, c := range children[:2] {
					it := store.FinishItem{ID: c.ID, LeaseToken: c.LeaseToken, Outcome: store.OutcomeSucceeded}
					if _, err := tx.finishOne(&it, &store.FinishParams{Now: t0}); err != nil {
						t.Fatal(err)
					}
				}
				tc.then(t, tx, parent, children[2:])
			}}, durable); err != nil {
				t.Fatal(err)
			}
			j, err := s.Get(ctx, parent.ID)
			if err != nil || j.State != tc.want {
				t.Fatalf("parent: %+v, %v; want %s", j, err, tc.want)
			}
		})
	}
}

// BenchmarkDependencies10k: what claiming a parent of 10,000 children
// that succeeded reads, their outcomes (txn.dependencies), in one group.
func BenchmarkDependencies10k(b *testing.B) {
	const n = 10000
	s, err := Open(b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	parent, children := fanIn(b, s, n)
	items := make([]store.FinishItem, len(children))
	for i, c := range children {
		items[i] = store.FinishItem{ID: c.ID, LeaseToken: c.LeaseToken, Outcome: store.OutcomeSucceeded}
	}
	if _, err := s.Finish(ctx, &store.FinishParams{Items: items, Now: t0}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		var got int
		if _, err := submit(ctx, s, &txReq{fn: func(tx *txn) {
			j := *parent
			if err := tx.dependencies(&j); err != nil {
				b.Error(err)
			}
			got = len(j.Dependencies)
		}}, durable); err != nil || got != n {
			b.Fatalf("%d dependencies, %v", got, err)
		}
	}
}

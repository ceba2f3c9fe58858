package postgres_test

import (
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/blob"
	"github.com/gantry-dev/gantry/store"
	"github.com/gantry-dev/gantry/store/postgres"
)

var t0 = time.Date(2026, time.January, 1, 12, 0, 0, 0, time.UTC)

// twoNodes opens two stores on one schema, as two Gantry nodes sharing a
// database would.
func twoNodes(t *testing.T, opts *postgres.Options) (a, b *postgres.Store) {
	t.Helper()
	a = setup(t, opts)
	o := postgres.Options{}
	if opts != nil {
		o = *opts
	}
	o.Schema = a.Schema()
	return a, open(t, testURL(t), &o)
}

func newJobs(n int, opts ...func(*store.NewJob)) []*store.NewJob {
	out := make([]*store.NewJob, n)
	for i := range out {
		out[i] = &store.NewJob{Kind: "k", Queue: "default", Args: json.RawMessage(`{}`),
			Priority: store.DefaultPriority, RunAt: t0, MaxAttempts: 3}
		for _, o := range opts {
			o(out[i])
		}
	}
	return out
}

func enqueue(t testing.TB, s store.Driver, jobs ...*store.NewJob) []*store.Job {
	t.Helper()
	res, err := s.Enqueue(t.Context(), &store.EnqueueParams{Jobs: jobs, Now: t0})
	if err != nil {
		t.Fatalf("Enqueue: %v", err)
	}
	out := make([]*store.Job, len(res.Jobs))
	for i, e := range res.Jobs {
		out[i] = e.Job
	}
	return out
}

// TestClaimAcrossNodes has eight workers on two nodes claim a backlog:
// SKIP LOCKED must hand each job to exactly one of them.
func TestClaimAcrossNodes(t *testing.T) {
	t.Parallel()
	a, b := twoNodes(t, nil)
	const n = 600
	enqueue(t, a, newJobs(n)...)
	var (
		mu     sync.Mutex
		owner  = map[string]int{}
		wg     sync.WaitGroup
		failed = make(chan error, 8)
	)
	for w := range 8 {
		s := a
		if w%2 == 1 {
			s = b
		}
		wg.Go(func() {
			for {
				res, err := s.Claim(t.Context(), &store.ClaimParams{Queue: "default", Max: 7, LeaseFor: time.Minute, Now: t0})
				if err != nil {
					failed <- err
					return
				}
				if len(res.Jobs) == 0 {
					return
				}
				mu.Lock()
				for _, j := range res.Jobs {
					if prev, ok := owner[j.ID]; ok {
						t.Errorf("job %s claimed by workers %d and %d", j.ID, prev, w)
					}
					owner[j.ID] = w
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(failed)
	for err := range failed {
		t.Errorf("Claim: %v", err)
	}
	if len(owner) != n {
		t.Errorf("claimed %d distinct jobs, want %d", len(owner), n)
	}
}

// TestUniqueKeyAcrossNodes enqueues one unique key from many goroutines on
// two nodes at once: exactly one job is created.
func TestUniqueKeyAcrossNodes(t *testing.T) {
	t.Parallel()
	a, b := twoNodes(t, nil)
	const n = 16
	var wg sync.WaitGroup
	results := make([]store.Enqueued, n)
	for i := range n {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Go(func() {
			res, err := s.Enqueue(t.Context(), &store.EnqueueParams{
				Jobs: newJobs(1, func(j *store.NewJob) { j.UniqueKey = "once" }), Now: t0})
			if err != nil {
				t.Errorf("Enqueue: %v", err)
				return
			}
			results[i] = res.Jobs[0]
		})
	}
	wg.Wait()
	created := 0
	for _, r := range results {
		if r.Job == nil {
			continue
		}
		if !r.Duplicate {
			created++
		}
		if r.Job.ID != results[0].Job.ID {
			t.Errorf("enqueues of one key returned jobs %s and %s", r.Job.ID, results[0].Job.ID)
		}
	}
	if created != 1 {
		t.Errorf("%d enqueues of one unique key created %d jobs, want 1", n, created)
	}
}

// TestDependencyRace enqueues a dependent while its dependency finishes,
// many times: the dependent must never be left waiting for a dependency
// that has already succeeded.
func TestDependencyRace(t *testing.T) {
	t.Parallel()
	a, b := twoNodes(t, nil)
	ctx := t.Context()
	const rounds = 30
	for range rounds {
		dep := enqueue(t, a, newJobs(1)...)[0]
		res, err := a.Claim(ctx, &store.ClaimParams{Queue: "default", Max: 1, LeaseFor: time.Minute, Now: t0})
		if err != nil || len(res.Jobs) != 1 {
			t.Fatalf("Claim: %v, %v", res, err)
		}
		claimed := res.Jobs[0]
		var dependent *store.Job
		var wg sync.WaitGroup
		wg.Go(func() {
			fr, err := a.Finish(ctx, &store.FinishParams{Now: t0, Items: []store.FinishItem{
				{ID: claimed.ID, LeaseToken: claimed.LeaseToken, Outcome: store.OutcomeSucceeded}}})
			if err != nil || fr.Errs[0] != nil {
				t.Errorf("Finish: %v, %v", err, fr)
			}
		})
		wg.Go(func() {
			dependent = enqueue(t, b, newJobs(1, func(j *store.NewJob) {
				j.Queue = "dependents"
				j.DependsOn = []string{dep.ID}
			})...)[0]
		})
		wg.Wait()
		if t.Failed() {
			return
		}
		got, err := a.Get(ctx, dependent.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.State != store.StateAvailable {
			t.Fatalf("dependent of a succeeded job is %s, want available", got.State)
		}
	}
}

// TestEnqueueTx: jobs enqueued in the caller's transaction exist if and
// only if it commits.
func TestEnqueueTx(t *testing.T) {
	t.Parallel()
	s := setup(t, nil)
	ctx := t.Context()
	for _, commit := range []bool{false, true} {
		tx, err := s.Pool().Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		res, err := s.EnqueueTx(ctx, tx, &store.EnqueueParams{Now: t0,
			Jobs: newJobs(3, func(j *store.NewJob) { j.UniqueKey = "tx" })})
		if err != nil {
			t.Fatalf("EnqueueTx: %v", err)
		}
		id := res.Jobs[0].Job.ID
		if !res.Jobs[1].Duplicate || res.Jobs[1].Job.ID != id {
			t.Errorf("EnqueueTx: second job with the same key is not a duplicate of the first")
		}
		if _, err := s.Get(ctx, id); err != store.ErrNotFound {
			t.Errorf("Get before commit: %v, want ErrNotFound", err)
		}
		if commit {
			err = tx.Commit(ctx)
		} else {
			err = tx.Rollback(ctx)
		}
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.Get(ctx, id)
		switch {
		case commit && err != nil:
			t.Errorf("Get after commit: %v", err)
		case !commit && err != store.ErrNotFound:
			t.Errorf("Get after rollback: %v, want ErrNotFound", err)
		}
	}
	list, err := s.List(ctx, &store.ListParams{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Jobs) != 1 {
		t.Errorf("after a rolled back and a committed EnqueueTx the store holds %d jobs, want 1", len(list.Jobs))
	}
}

// TestCopyBatch enqueues a batch large enough for COPY, with every field
// set, and reads it back.
func TestCopyBatch(t *testing.T) {
	t.Parallel()
	s := setup(t, &postgres.Options{CopyThreshold: 2})
	parent := enqueue(t, s, newJobs(1)...)[0]
	jobs := newJobs(5, func(j *store.NewJob) {
		j.Args = json.RawMessage(` {"b":1, "a":"é"} `)
		j.Blob = &blob.Info{Key: "k", Size: 3, SHA256: "ab", ContentType: "text/plain"}
		j.Timeout = 1500 * time.Millisecond
		j.ParentID = parent.ID
		j.DependsOn = []string{parent.ID}
		j.RunAt = t0.Add(time.Hour)
	})
	for i, j := range enqueue(t, s, jobs...) {
		got, err := s.Get(t.Context(), j.ID)
		if err != nil {
			t.Fatal(err)
		}
		if string(got.Args) != string(jobs[i].Args) || *got.Blob != *jobs[i].Blob || got.Timeout != jobs[i].Timeout ||
			got.ParentID != parent.ID || len(got.DependsOn) != 1 || got.State != store.StateWaiting {
			t.Errorf("job %d read back as %+v", i, got)
		}
	}
}

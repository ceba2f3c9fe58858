package postgres_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
	"github.com/gantry-dev/gantry/store/postgres"
)

// keyedJobs returns n jobs of queue "default" whose args.tenant is key.
func keyedJobs(key string, n int) []*store.NewJob {
	return newJobs(n, func(j *store.NewJob) {
		j.Args = json.RawMessage(fmt.Sprintf(`{"tenant":%q}`, key))
	})
}

// setKeyed sets l on queue "default" of s, failing the test on error.
func setKeyed(t testing.TB, s *postgres.Store, l store.Limits) {
	t.Helper()
	if err := s.SetLimits(t.Context(), &store.SetLimitsParams{Queue: "default", Limits: l, Now: t0}); err != nil {
		t.Fatalf("SetLimits: %v", err)
	}
}

// enqueueAll enqueues jobs on s in batches, failing the test on error.
func enqueueAll(t testing.TB, s *postgres.Store, jobs []*store.NewJob) {
	t.Helper()
	for len(jobs) > 0 {
		n := min(len(jobs), 1000)
		if _, err := s.Enqueue(t.Context(), &store.EnqueueParams{Jobs: jobs[:n], Now: t0}); err != nil {
			t.Fatalf("Enqueue: %v", err)
		}
		jobs = jobs[n:]
	}
}

// claim claims up to max jobs of queue "default" at now.
func claim(t testing.TB, s store.Driver, max int, now time.Time) *store.ClaimResult {
	t.Helper()
	res, err := s.Claim(t.Context(), &store.ClaimParams{Queue: "default", Max: max, LeaseFor: time.Hour, Now: now})
	if err != nil {
		t.Fatalf("Claim: %v", err)
	}
	return res
}

// finish finishes job j with outcome o at now.
func finish(t testing.TB, s store.Driver, j *store.Job, o store.Outcome, now time.Time) {
	t.Helper()
	item := store.FinishItem{ID: j.ID, LeaseToken: j.LeaseToken, Outcome: o}
	if o == store.OutcomeFailed {
		item.Error = &store.AttemptError{Message: "boom"}
		item.RetryAt = now.Add(time.Minute)
	}
	res, err := s.Finish(t.Context(), &store.FinishParams{Items: []store.FinishItem{item}, Now: now})
	if err != nil || res.Errs[0] != nil {
		t.Fatalf("Finish %s: %v %v", o, err, res.Errs)
	}
}

// TestKeyAtEnqueue: jobs of a keyed queue keep the key read from their
// args at enqueue on every insert path (single, COPY batch), Get and
// Claim return it, and a job enqueued before the queue had a key gets the
// default key.
func TestKeyAtEnqueue(t *testing.T) {
	t.Parallel()
	s := setup(t, &postgres.Options{CopyThreshold: 5})
	ctx := t.Context()
	before, err := s.Enqueue(ctx, &store.EnqueueParams{Jobs: keyedJobs("old", 1), Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	setKeyed(t, s, store.Limits{Key: "args.tenant"})
	for _, n := range []int{1, 10} { // VALUES and COPY
		res, err := s.Enqueue(ctx, &store.EnqueueParams{Jobs: keyedJobs(fmt.Sprint("k", n), n), Now: t0})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range res.Jobs {
			if e.Job.LimitKey != fmt.Sprint("k", n) {
				t.Errorf("Enqueue of %d: LimitKey %q", n, e.Job.LimitKey)
			}
			got, err := s.Get(ctx, e.Job.ID)
			if err != nil || got.LimitKey != fmt.Sprint("k", n) {
				t.Errorf("Get: LimitKey %q, %v", got.LimitKey, err)
			}
		}
	}
	if got, err := s.Get(ctx, before.Jobs[0].Job.ID); err != nil || got.LimitKey != store.DefaultLimitKey {
		t.Errorf("a job enqueued before the key: LimitKey %q, %v", got.LimitKey, err)
	}
	seen := map[string]int{}
	for _, j := range claim(t, s, 100, t0.Add(time.Second)).Jobs {
		seen[j.LimitKey]++
	}
	if want := map[string]int{"": 1, "k1": 1, "k10": 10}; fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Errorf("claimed keys %v, want %v", seen, want)
	}
	qs, err := s.Queues(ctx)
	if err != nil || len(qs) != 1 || qs[0].Limits == nil || !qs[0].Limits.Equal(store.Limits{Key: "args.tenant"}) {
		t.Errorf("Queues: %+v, %v", qs, err)
	}
}

// TestKeyFairness: one key with 1,000 jobs does not starve 10 keys of 10;
// weights share the claims 3 to 1.
func TestKeyFairness(t *testing.T) {
	t.Parallel()
	t.Run("starvation", func(t *testing.T) {
		t.Parallel()
		s := setup(t, nil)
		setKeyed(t, s, store.Limits{Key: "args.tenant"})
		jobs := keyedJobs("big", 1000)
		for i := range 10 {
			jobs = append(jobs, keyedJobs(fmt.Sprint("small", i), 10)...)
		}
		enqueueAll(t, s, jobs)
		small := 0
		for claimed := 0; claimed < 220; {
			res := claim(t, s, 10, t0.Add(time.Second))
			for _, j := range res.Jobs {
				if j.LimitKey != "big" {
					small++
				}
			}
			claimed += len(res.Jobs)
		}
		if small != 100 {
			t.Errorf("the first 220 claimed jobs hold %d of the small keys' 100", small)
		}
	})
	t.Run("weights", func(t *testing.T) {
		t.Parallel()
		s := setup(t, nil)
		setKeyed(t, s, store.Limits{Key: "args.tenant", Weights: map[string]int{"a": 3}})
		enqueueAll(t, s, append(keyedJobs("a", 400), keyedJobs("b", 400)...))
		a := 0
		for range 20 {
			for _, j := range claim(t, s, 10, t0.Add(time.Second)).Jobs {
				if j.LimitKey == "a" {
					a++
				}
			}
		}
		if a < 140 || a > 160 {
			t.Errorf("key a (weight 3) has %d of the first 200 claimed, want 150 ± 10", a)
		}
	})
}

// TestKeyConcurrency: at most PerKeyConcurrency jobs of a key run; every
// way out of running frees a slot; a key at its limit does not hold the
// others back.
func TestKeyConcurrency(t *testing.T) {
	t.Parallel()
	s := setup(t, nil)
	setKeyed(t, s, store.Limits{Key: "args.tenant", PerKeyConcurrency: 2})
	enqueueAll(t, s, append(keyedJobs("hot", 50), keyedJobs("cold", 1)...))
	now := t0.Add(time.Second)
	res := claim(t, s, 10, now)
	count := func(jobs []*store.Job) map[string]int {
		m := map[string]int{}
		for _, j := range jobs {
			m[j.LimitKey]++
		}
		return m
	}
	if c := count(res.Jobs); c["hot"] != 2 || c["cold"] != 1 {
		t.Fatalf("first claim: %v, want hot 2 and cold 1", c)
	}
	if r := claim(t, s, 10, now); len(r.Jobs) != 0 || r.RateWait != 0 {
		t.Fatalf("claim at the limit: %d jobs, RateWait %v; want none and 0", len(r.Jobs), r.RateWait)
	}
	var hot []*store.Job
	for _, j := range res.Jobs {
		if j.LimitKey == "hot" {
			hot = append(hot, j)
		}
	}
	for _, o := range []store.Outcome{store.OutcomeSucceeded, store.OutcomeFailed, store.OutcomeSnoozed} {
		finish(t, s, hot[0], o, now)
		r := claim(t, s, 10, now)
		if len(r.Jobs) != 1 {
			t.Fatalf("after %s: claimed %d, want 1", o, len(r.Jobs))
		}
		hot[0] = r.Jobs[0]
	}
	if _, err := s.Cancel(t.Context(), &store.CancelParams{ID: hot[0].ID, Now: now}); err != nil {
		t.Fatal(err)
	}
	if r := claim(t, s, 10, now); len(r.Jobs) != 1 {
		t.Fatalf("after a cancel: claimed %d, want 1", len(r.Jobs))
	}
}

// TestKeyConcurrencyGlobal: two stores on one schema, as two nodes,
// claiming and finishing at once, never run more than PerKeyConcurrency
// jobs of a key together.
func TestKeyConcurrencyGlobal(t *testing.T) {
	t.Parallel()
	a, b := twoNodes(t, nil)
	setKeyed(t, a, store.Limits{Key: "args.tenant", PerKeyConcurrency: 3})
	var jobs []*store.NewJob
	for i := range 4 {
		jobs = append(jobs, keyedJobs(fmt.Sprint("t", i), 40)...)
	}
	enqueueAll(t, a, jobs)
	var mu sync.Mutex
	running := map[string]int{}
	total := 0
	var wg sync.WaitGroup
	for _, s := range []*postgres.Store{a, b, a, b} {
		wg.Go(func() {
			for range 60 {
				res, err := s.Claim(t.Context(), &store.ClaimParams{Queue: "default", Max: 4, LeaseFor: time.Hour, Now: t0.Add(time.Second)})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				for _, j := range res.Jobs {
					running[j.LimitKey]++
					total++
					if running[j.LimitKey] > 3 {
						t.Errorf("key %s has %d running jobs, limit 3", j.LimitKey, running[j.LimitKey])
					}
				}
				mu.Unlock()
				for _, j := range res.Jobs {
					// Count the slot free before the store frees it: the
					// check above only ever sees too few running.
					mu.Lock()
					running[j.LimitKey]--
					mu.Unlock()
					finish(t, s, j, store.OutcomeSucceeded, t0.Add(time.Second))
				}
			}
		})
	}
	wg.Wait()
	if total != 160 {
		t.Errorf("claimed %d of 160 jobs", total)
	}
}

// TestKeyRate: each key has its own bucket; a claim short of tokens
// reports when the earliest key has one.
func TestKeyRate(t *testing.T) {
	t.Parallel()
	s := setup(t, nil)
	setKeyed(t, s, store.Limits{Key: "args.tenant", PerKeyRate: "10/s", PerKeyBurst: 2})
	enqueueAll(t, s, append(keyedJobs("a", 20), keyedJobs("b", 20)...))
	now := t0.Add(time.Second)
	if r := claim(t, s, 10, now); len(r.Jobs) != 4 || r.RateWait <= 0 || r.RateWait > 100*time.Millisecond {
		t.Fatalf("first claim: %d jobs, RateWait %v; want 4 and up to 100ms", len(r.Jobs), r.RateWait)
	}
	if r := claim(t, s, 10, now.Add(100*time.Millisecond)); len(r.Jobs) != 2 {
		t.Fatalf("100ms later: %d jobs, want 2 (one token a key)", len(r.Jobs))
	}
}

// TestKeySequence: with order fifo, a key's jobs run one at a time in
// enqueue order whatever their priority; a retrying head holds its key
// until it is final; other keys go on.
func TestKeySequence(t *testing.T) {
	t.Parallel()
	s := setup(t, nil)
	setKeyed(t, s, store.Limits{Key: "args.tenant", PerKeyConcurrency: 1, Order: store.OrderFIFO})
	var ids []string
	for i := range 3 {
		j := keyedJobs("seq", 1)
		j[0].Priority = 9 - i // later jobs would come first by priority
		res, err := s.Enqueue(t.Context(), &store.EnqueueParams{Jobs: j, Now: t0.Add(time.Duration(i) * time.Millisecond)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, res.Jobs[0].Job.ID)
	}
	enqueueAll(t, s, keyedJobs("other", 2))
	now := t0.Add(time.Second)
	r := claim(t, s, 10, now)
	var head *store.Job
	for _, j := range r.Jobs {
		if j.LimitKey == "seq" {
			if head != nil || j.ID != ids[0] {
				t.Fatalf("claimed %s of the sequence, want only its first %s", j.ID, ids[0])
			}
			head = j
		} else {
			finish(t, s, j, store.OutcomeSucceeded, now)
		}
	}
	if head == nil || len(r.Jobs) != 2 {
		t.Fatalf("first claim: %d jobs, head %v", len(r.Jobs), head)
	}
	finish(t, s, head, store.OutcomeFailed, now) // retrying at now+1m
	if r := claim(t, s, 10, now.Add(time.Second)); len(r.Jobs) != 1 || r.Jobs[0].LimitKey != "other" {
		t.Fatalf("while the head retries: %d jobs, want the other key's one", len(r.Jobs))
	}
	r = claim(t, s, 10, now.Add(2*time.Minute))
	if len(r.Jobs) != 1 || r.Jobs[0].ID != ids[0] {
		t.Fatalf("once due: claimed %v, want the retried head", r.Jobs)
	}
	finish(t, s, r.Jobs[0], store.OutcomeSucceeded, now.Add(2*time.Minute))
	if r := claim(t, s, 10, now.Add(2*time.Minute)); len(r.Jobs) != 1 || r.Jobs[0].ID != ids[1] {
		t.Fatalf("after the head: claimed %v, want %s", r.Jobs, ids[1])
	}
}

// TestKeyRestart: a reopened store keeps the limits and the running
// counts of its keys.
func TestKeyRestart(t *testing.T) {
	t.Parallel()
	s := setup(t, nil)
	l := store.Limits{Key: "args.tenant", PerKeyConcurrency: 1, Weights: map[string]int{"a": 2}}
	setKeyed(t, s, l)
	enqueueAll(t, s, keyedJobs("a", 3))
	if r := claim(t, s, 10, t0.Add(time.Second)); len(r.Jobs) != 1 {
		t.Fatalf("claimed %d, want 1", len(r.Jobs))
	}
	s.Close()
	s2 := open(t, testURL(t), &postgres.Options{Schema: s.Schema()})
	qs, err := s2.Queues(t.Context())
	if err != nil || len(qs) != 1 || qs[0].Limits == nil || !qs[0].Limits.Equal(l) {
		t.Fatalf("Queues after reopening: %+v, %v", qs, err)
	}
	if r := claim(t, s2, 10, t0.Add(2*time.Second)); len(r.Jobs) != 0 {
		t.Errorf("after reopening: claimed %d with the key's one slot taken", len(r.Jobs))
	}
}

// TestKeyLimitStats: LimitStats counts the keys and the jobs a limit
// holds back, and is nil for a queue without limits.
func TestKeyLimitStats(t *testing.T) {
	t.Parallel()
	s := setup(t, nil)
	ctx := context.Background()
	if st, err := s.LimitStats(ctx, &store.LimitStatsParams{Queue: "default", Now: t0}); err != nil || st != nil {
		t.Fatalf("LimitStats without limits: %+v, %v", st, err)
	}
	setKeyed(t, s, store.Limits{Key: "args.tenant", PerKeyConcurrency: 1})
	enqueueAll(t, s, append(keyedJobs("a", 5), keyedJobs("b", 2)...))
	now := t0.Add(time.Second)
	claim(t, s, 10, now) // one of each key
	st, err := s.LimitStats(ctx, &store.LimitStatsParams{Queue: "default", MaxKeys: 1, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if st.Keys != 2 || st.Held != 5 || len(st.TopKeys) != 1 {
		t.Fatalf("LimitStats: %+v, want 2 keys, 5 held, 1 top key", st)
	}
	if k := st.TopKeys[0]; k.Key != "a" || k.Available != 4 || k.Running != 1 || !k.Held {
		t.Errorf("top key: %+v", k)
	}
}

// TestKeyedQueueCatchesUpStaleEnqueues: a store whose set of keyed queues
// was read before another store keyed the queue enqueues without a key;
// the keyed claims' repair gives those jobs the default key, so they are
// claimed, not left out of every keyed claim.
func TestKeyedQueueCatchesUpStaleEnqueues(t *testing.T) {
	t.Parallel()
	a, b := twoNodes(t, nil)
	enqueueAll(t, b, keyedJobs("warm", 1)) // b reads the set: no keyed queue
	if got := len(claim(t, b, 10, t0).Jobs); got != 1 {
		t.Fatalf("claimed %d of the unkeyed job", got)
	}
	setKeyed(t, a, store.Limits{Key: "args.tenant"})
	enqueueAll(t, b, keyedJobs("late", 3)) // within b's keyedRefresh: no key
	enqueueAll(t, a, keyedJobs("k", 2))
	got := map[string]int{}
	for _, j := range claim(t, a, 10, t0.Add(time.Second)).Jobs {
		got[j.LimitKey]++
	}
	for _, j := range claim(t, a, 10, t0.Add(time.Second)).Jobs {
		got[j.LimitKey]++
	}
	if got["k"] != 2 || got[store.DefaultLimitKey] != 3 {
		t.Errorf("claimed by key %v, want the 2 jobs of key k and the 3 enqueued stale in the default key", got)
	}
}

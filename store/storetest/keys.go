package storetest

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
)

// testKeys checks per-key limits (store.Limits.Key and what goes with it):
// the key read at enqueue, fair claims between keys, per-key concurrency
// and rate, sequences and LimitStats.
func testKeys(t *testing.T, open opener) {
	// keyed opens a store, sets the limits of queue "k" and returns the
	// harness.
	keyed := func(t *testing.T, l store.Limits) (*harness, store.LimitStore) {
		t.Helper()
		h := setup(t, open)
		ls, ok := store.As[store.LimitStore](h.d)
		if !ok {
			t.Skip("the driver has no store.LimitStore")
		}
		if err := ls.SetLimits(h.ctx, &store.SetLimitsParams{Queue: "k", Limits: l, Now: h.now}); err != nil {
			t.Fatalf("SetLimits(%+v): %v", l, err)
		}
		return h, ls
	}
	tenant := func(key string) jobOpt {
		return func(j *store.NewJob) {
			j.Queue = "k"
			j.Args = fmt.Appendf(nil, `{"tenant":%q}`, key)
		}
	}
	// claimK claims up to max jobs of queue "k" and returns them with the
	// claim's RateWait.
	claimK := func(h *harness, max int) ([]*store.Job, time.Duration) {
		h.t.Helper()
		res, err := h.d.Claim(h.ctx, &store.ClaimParams{Queue: "k", Max: max, LeaseFor: leaseFor, Now: h.now})
		if err != nil {
			h.t.Fatalf("Claim(k, %d): %v", max, err)
		}
		return res.Jobs, res.RateWait
	}
	byKey := func(jobs []*store.Job) map[string]int {
		n := map[string]int{}
		for _, j := range jobs {
			n[j.LimitKey]++
		}
		return n
	}

	t.Run("KeyAtEnqueue", func(t *testing.T) {
		h, ls := keyed(t, store.Limits{Key: "args.tenant"})
		for _, tc := range []struct{ args, want string }{
			{`{"tenant":"acme"}`, "acme"},
			{`{"tenant":42}`, "42"},
			{`{"tenant":true}`, "true"},
			{`{"tenant":null}`, store.DefaultLimitKey},
			{`{"other":"x"}`, store.DefaultLimitKey},
		} {
			j := h.enqueue(withQueue("k"), withArgs(tc.args))
			if j.LimitKey != tc.want {
				t.Errorf("Enqueue with args %s: LimitKey %q, want %q", tc.args, j.LimitKey, tc.want)
			}
			if g := h.get(j.ID); g.LimitKey != tc.want {
				t.Errorf("Get of a job with args %s: LimitKey %q, want %q", tc.args, g.LimitKey, tc.want)
			}
		}
		if j := h.enqueue(withQueue("plain"), withArgs(`{"tenant":"acme"}`)); j.LimitKey != "" {
			t.Errorf("a job of a queue without a key got LimitKey %q", j.LimitKey)
		}
		got := h.claim(store.ClaimParams{Queue: "k", Max: 10})
		if len(got) != 5 {
			t.Fatalf("claimed %d jobs of 5", len(got))
		}
		if n := byKey(got); n["acme"] != 1 || n["42"] != 1 || n[""] != 2 {
			t.Errorf("claimed jobs by key %v: want each job's key", n)
		}
		// A key path changed later keeps the keys of the jobs enqueued.
		old := h.enqueue(tenant("acme"), withKind("old"))
		if err := ls.SetLimits(h.ctx, &store.SetLimitsParams{Queue: "k", Limits: store.Limits{Key: "kind"}, Now: h.now}); err != nil {
			t.Fatal(err)
		}
		if g := h.get(old.ID); g.LimitKey != "acme" {
			t.Errorf("after the key path changed, an enqueued job's LimitKey is %q, want acme", g.LimitKey)
		}
		if j := h.enqueue(tenant("acme"), withKind("new")); j.LimitKey != "new" {
			t.Errorf("a job enqueued with Key kind got LimitKey %q, want new", j.LimitKey)
		}
		if got := h.claim(store.ClaimParams{Queue: "k", Max: 10}); len(got) != 2 {
			t.Errorf("after the key path changed, %d of 2 jobs claimed", len(got))
		}
	})

	t.Run("NoStarvation", func(t *testing.T) {
		h, _ := keyed(t, store.Limits{Key: "args.tenant"})
		h.enqueueMany(1000, tenant("big"))
		for i := range 10 {
			h.enqueueMany(10, tenant(fmt.Sprintf("small-%d", i)))
		}
		small := 0
		for claimed := 0; claimed < 220; {
			jobs, _ := claimK(h, 10)
			if len(jobs) == 0 {
				t.Fatalf("a claim took no job after %d", claimed)
			}
			claimed += len(jobs)
			for _, j := range jobs {
				if j.LimitKey != "big" {
					small++
				}
			}
		}
		if small != 100 {
			t.Errorf("of the first 220 jobs claimed, %d were of the small keys, want all 100", small)
		}
	})

	t.Run("Weights", func(t *testing.T) {
		h, _ := keyed(t, store.Limits{Key: "args.tenant", Weights: map[string]int{"a": 3}})
		h.enqueueMany(400, tenant("b"))
		h.enqueueMany(400, tenant("a"))
		var got []*store.Job
		for len(got) < 200 {
			jobs, _ := claimK(h, 10)
			if len(jobs) == 0 {
				t.Fatalf("a claim took no job after %d", len(got))
			}
			got = append(got, jobs...)
		}
		if a := byKey(got[:200])["a"]; math.Abs(float64(a-150)) > 10 {
			t.Errorf("of the first 200 claimed, %d of key a (weight 3 to 1), want 150 ± 10", a)
		}
	})

	t.Run("PriorityWithinKey", func(t *testing.T) {
		h, _ := keyed(t, store.Limits{Key: "args.tenant"})
		low := h.enqueue(tenant("a"), withPriority(5))
		high := h.enqueue(tenant("a"), withPriority(1))
		jobs, _ := claimK(h, 1)
		if len(jobs) != 1 || jobs[0].ID != high.ID {
			t.Fatalf("claimed %v, want the priority 1 job %s before %s", ids(jobs), high.ID, low.ID)
		}
	})

	t.Run("PerKeyConcurrency", func(t *testing.T) {
		h, _ := keyed(t, store.Limits{Key: "args.tenant", PerKeyConcurrency: 2})
		h.enqueueMany(7, tenant("a"))
		h.enqueueMany(3, tenant("b"))
		jobs, wait := claimK(h, 10)
		if n := byKey(jobs); n["a"] != 2 || n["b"] != 2 || wait != 0 {
			t.Fatalf("first claim: %v, RateWait %v; want 2 of each key and no RateWait", n, wait)
		}
		if more, _ := claimK(h, 10); len(more) != 0 {
			t.Fatalf("a claim with every key at its limit took %d jobs", len(more))
		}
		var a []*store.Job
		for _, j := range jobs {
			if j.LimitKey == "a" {
				a = append(a, j)
			}
		}
		// Every way out of running frees a slot: complete, fail with a
		// retry, cancel, snooze, and a lease expiry.
		frees := []struct {
			name string
			free func(j *store.Job)
		}{
			{"complete", func(j *store.Job) { h.succeed(j) }},
			{"fail", func(j *store.Job) { h.fail(j, time.Hour) }},
			{"cancel", func(j *store.Job) { h.cancel(j.ID, "stop") }},
			{"snooze", func(j *store.Job) {
				h.mustFinish(store.FinishItem{ID: j.ID, LeaseToken: j.LeaseToken, Outcome: store.OutcomeSnoozed, RetryAt: h.now.Add(time.Hour)})
			}},
		}
		for _, f := range frees {
			f.free(a[0])
			got, _ := claimK(h, 10)
			if len(got) != 1 || got[0].LimitKey != "a" {
				t.Fatalf("after %s of a running job of a: claimed %v (keys %v), want one job of a", f.name, ids(got), byKey(got))
			}
			a = append(a[1:], got[0])
		}
		h.advance(leaseFor + time.Second)
		if r := h.rescue(100); len(r) != 4 {
			t.Fatalf("rescued %d expired leases, want 4 (two of each key)", len(r))
		}
		// The rescued jobs retry later; the last available job of each key
		// runs now.
		if n := byKey(func() []*store.Job { got, _ := claimK(h, 10); return got }()); n["a"] != 1 || n["b"] != 1 {
			t.Errorf("after the leases expired, claimed %v, want one job of each key", n)
		}
	})

	t.Run("PerKeyRate", func(t *testing.T) {
		h, _ := keyed(t, store.Limits{Key: "args.tenant", PerKeyRate: "10/s", PerKeyBurst: 2})
		h.enqueueMany(10, tenant("a"))
		h.enqueueMany(10, tenant("b"))
		jobs, wait := claimK(h, 10)
		if n := byKey(jobs); n["a"] != 2 || n["b"] != 2 {
			t.Fatalf("first claim: %v, want the burst of 2 of each key", n)
		}
		if wait != 100*time.Millisecond {
			t.Errorf("RateWait with every key out of tokens at 10/s = %v, want 100ms", wait)
		}
		h.enqueue(tenant("c"))
		if got, _ := claimK(h, 10); len(got) != 1 || got[0].LimitKey != "c" {
			t.Errorf("a new key is held by the others' empty buckets: %v", byKey(got))
		}
		h.advance(150 * time.Millisecond)
		jobs, wait = claimK(h, 10)
		if n := byKey(jobs); n["a"] != 1 || n["b"] != 1 || len(jobs) != 2 {
			t.Errorf("after 150ms: %v, want one job of each of a and b", n)
		}
		if wait != 50*time.Millisecond {
			t.Errorf("RateWait with half a token = %v, want 50ms", wait)
		}
	})

	t.Run("PerKeyRateIdleKey", func(t *testing.T) {
		// A key whose jobs all finished keeps its bucket: its next job
		// waits for a token.
		h, _ := keyed(t, store.Limits{Key: "args.tenant", PerKeyRate: "1/s"})
		for i := range 2 {
			h.enqueue(tenant("a"))
			jobs, wait := claimK(h, 10)
			switch {
			case i == 0 && len(jobs) == 1:
				h.succeed(jobs[0])
			case i == 0:
				t.Fatalf("first claim: %d jobs, want 1", len(jobs))
			case len(jobs) != 0 || wait != time.Second:
				t.Errorf("a key idle for no time: %d jobs, RateWait %v; want none and 1s", len(jobs), wait)
			}
		}
		h.advance(time.Second)
		if jobs, _ := claimK(h, 10); len(jobs) != 1 {
			t.Errorf("a second later: %d jobs, want 1", len(jobs))
		}
	})

	t.Run("RateOnTop", func(t *testing.T) {
		h, _ := keyed(t, store.Limits{Rate: "10/s", Burst: 3, Key: "args.tenant"})
		h.enqueueMany(5, tenant("a"))
		h.enqueueMany(5, tenant("b"))
		jobs, wait := claimK(h, 10)
		if len(jobs) != 3 || wait != 100*time.Millisecond {
			t.Errorf("a keyed queue with a rate: %d jobs, RateWait %v; want the burst of 3 and 100ms", len(jobs), wait)
		}
	})

	t.Run("Sequence", func(t *testing.T) {
		h, _ := keyed(t, store.Limits{Key: "args.tenant", PerKeyConcurrency: 1, Order: store.OrderFIFO})
		a1 := h.enqueue(tenant("a"), withPriority(5))
		a2 := h.enqueue(tenant("a"), withPriority(5))
		a3 := h.enqueue(tenant("a"), withPriority(1)) // priority is ignored in a sequence
		b1 := h.enqueue(tenant("b"))
		c1 := h.enqueue(tenant("c"), withRunAt(h.now.Add(time.Hour)))
		c2 := h.enqueue(tenant("c"))
		jobs, _ := claimK(h, 10)
		if !sameIDs(ids(jobs), []string{a1.ID, b1.ID}) {
			t.Fatalf("first claim %v, want the heads %s (a) and %s (b); c's head is scheduled", ids(jobs), a1.ID, b1.ID)
		}
		// A retrying head keeps its place: a2 waits.
		h.fail(jobs[indexOf(jobs, a1.ID)], time.Minute)
		h.succeed(jobs[indexOf(jobs, b1.ID)])
		if got, _ := claimK(h, 10); len(got) != 0 {
			t.Fatalf("with a retrying head and a scheduled one: claimed %v, want none", ids(got))
		}
		h.advance(time.Minute)
		got, _ := claimK(h, 10)
		if len(got) != 1 || got[0].ID != a1.ID {
			t.Fatalf("once the head is due: claimed %v, want %s again", ids(got), a1.ID)
		}
		h.succeed(got[0])
		for _, want := range []*store.Job{a2, a3} {
			got, _ = claimK(h, 10)
			if len(got) != 1 || got[0].ID != want.ID {
				t.Fatalf("claimed %v, want %s next in enqueue order", ids(got), want.ID)
			}
			h.succeed(got[0])
		}
		h.advance(time.Hour)
		for _, want := range []*store.Job{c1, c2} {
			got, _ = claimK(h, 10)
			if len(got) != 1 || got[0].ID != want.ID {
				t.Fatalf("claimed %v, want %s (c in enqueue order)", ids(got), want.ID)
			}
			h.succeed(got[0])
		}
	})

	t.Run("MaxPendingCountsEveryKey", func(t *testing.T) {
		h, _ := keyed(t, store.Limits{Key: "args.tenant"})
		h.enqueueMany(3, tenant("a"))
		h.enqueueMany(2, tenant("b"))
		if q := h.queues()["k"]; q.Counts[store.StateAvailable] != 5 {
			t.Errorf("Queues counts %v, want 5 available jobs whatever their key", q.Counts)
		}
	})

	t.Run("LimitStats", func(t *testing.T) {
		h, _ := keyed(t, store.Limits{Key: "args.tenant", PerKeyConcurrency: 1})
		st, ok := store.As[store.LimitStatsStore](h.d)
		if !ok {
			t.Skip("the driver has no store.LimitStatsStore")
		}
		stats := func(queue string, max int) *store.LimitStats {
			t.Helper()
			s, err := st.LimitStats(h.ctx, &store.LimitStatsParams{Queue: queue, MaxKeys: max, Now: h.now})
			if err != nil {
				t.Fatalf("LimitStats(%s): %v", queue, err)
			}
			return s
		}
		h.enqueueMany(3, tenant("a"))
		h.enqueue(tenant("b"))
		h.enqueue(withQueue("plain"))
		if s := stats("plain", 10); s != nil {
			t.Errorf("LimitStats of a queue without limits: %+v, want nil", s)
		}
		s := stats("k", 10)
		if s == nil || s.Held != 0 || s.Keys != 2 || len(s.TopKeys) != 2 || s.TopKeys[0].Key != "a" || s.TopKeys[0].Available != 3 {
			t.Fatalf("LimitStats before any claim: %+v, want 2 keys, a first with 3 available, none held", s)
		}
		claimK(h, 10)
		s = stats("k", 1)
		if s.Keys != 2 || len(s.TopKeys) != 1 || s.Held == 0 {
			t.Fatalf("LimitStats with both keys at their limit: %+v, want 2 keys, 1 shown, some held", s)
		}
		if k := s.TopKeys[0]; k.Key != "a" || k.Available != 2 || k.Running != 1 || !k.Held {
			t.Errorf("top key %+v, want a with 2 available, 1 running, held", k)
		}
	})
}

// indexOf returns the index of the job id in jobs, or -1.
func indexOf(jobs []*store.Job, id string) int {
	for i, j := range jobs {
		if j.ID == id {
			return i
		}
	}
	return -1
}

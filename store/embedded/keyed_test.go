package embedded

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/gantry-dev/gantry/store"
)

// keyedJobs returns n jobs of queue q for tenant key.
func keyedJobs(q, key string, n int) []*store.NewJob {
	jobs := make([]*store.NewJob, n)
	for i := range jobs {
		j := benchJob()
		j.Queue = q
		j.Args = fmt.Appendf(nil, `{"tenant":%q}`, key)
		jobs[i] = j
	}
	return jobs
}

func claimN(t *testing.T, s *Store, q string, max int, now time.Time) map[string]int {
	t.Helper()
	res, err := s.Claim(context.Background(), &store.ClaimParams{Queue: q, Max: max, LeaseFor: time.Minute, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	n := map[string]int{}
	for _, j := range res.Jobs {
		n[j.LimitKey]++
	}
	return n
}

// TestKeysSurviveReopen: after a reopen the keyed index and the running
// counts per key are rebuilt: a key at its per-key concurrency stays
// there, and a fifo key's head still blocks the jobs behind it.
func TestKeysSurviveReopen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := context.Background()
	s, err := Open(dir, &Options{Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	for q, l := range map[string]store.Limits{
		"conc": {Key: "args.tenant", PerKeyConcurrency: 2},
		"seq":  {Key: "args.tenant", PerKeyConcurrency: 1, Order: store.OrderFIFO},
	} {
		if err := s.SetLimits(ctx, &store.SetLimitsParams{Queue: q, Limits: l, Now: benchNow}); err != nil {
			t.Fatal(err)
		}
	}
	jobs := append(keyedJobs("conc", "a", 4), keyedJobs("conc", "b", 1)...)
	jobs = append(jobs, keyedJobs("seq", "a", 3)...)
	if _, err := s.Enqueue(ctx, &store.EnqueueParams{Jobs: jobs, Now: benchNow}); err != nil {
		t.Fatal(err)
	}
	if n := claimN(t, s, "conc", 10, benchNow); n["a"] != 2 || n["b"] != 1 {
		t.Fatalf("first claim of conc: %v", n)
	}
	if n := claimN(t, s, "seq", 10, benchNow); n["a"] != 1 {
		t.Fatalf("first claim of seq: %v", n)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(dir, &Options{Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n := claimN(t, s, "conc", 10, benchNow); len(n) != 0 {
		t.Errorf("after a reopen, a key at its limit gave %v", n)
	}
	if n := claimN(t, s, "seq", 10, benchNow); len(n) != 0 {
		t.Errorf("after a reopen, a sequence with a running head gave %v", n)
	}
	st, err := s.LimitStats(ctx, &store.LimitStatsParams{Queue: "conc", MaxKeys: 10, Now: benchNow})
	if err != nil || st.Keys != 2 || st.TopKeys[0].Key != "a" || st.TopKeys[0].Running != 2 || st.TopKeys[0].Available != 2 {
		t.Errorf("LimitStats after a reopen: %+v, %v; want a with 2 running, 2 available", st, err)
	}
	// The leases expire: the slots free and the jobs run again.
	later := benchNow.Add(time.Hour)
	if _, err := s.Rescue(ctx, &store.RescueParams{Now: later, Limit: 100, Backoff: func(int) time.Duration { return 0 }}); err != nil {
		t.Fatal(err)
	}
	if n := claimN(t, s, "conc", 10, later); n["a"] != 2 || n["b"] != 1 {
		t.Errorf("after the leases expired: %v, want 2 of a and 1 of b", n)
	}
}

// TestSetLimitsKeysBacklog: a queue keyed once it has jobs serves them
// (enqueued without a key, all of the default key) and later jobs by key;
// removing the key returns it to the unkeyed claims.
func TestSetLimitsKeysBacklog(t *testing.T) {
	t.Parallel()
	s, err := Open(t.TempDir(), &Options{Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if _, err := s.Enqueue(ctx, &store.EnqueueParams{Jobs: keyedJobs("q", "a", 5), Now: benchNow}); err != nil {
		t.Fatal(err)
	}
	set := func(l store.Limits) {
		if err := s.SetLimits(ctx, &store.SetLimitsParams{Queue: "q", Limits: l, Now: benchNow}); err != nil {
			t.Fatal(err)
		}
	}
	set(store.Limits{Key: "args.tenant", PerKeyConcurrency: 2})
	if _, err := s.Enqueue(ctx, &store.EnqueueParams{Jobs: keyedJobs("q", "b", 5), Now: benchNow}); err != nil {
		t.Fatal(err)
	}
	if n := claimN(t, s, "q", 10, benchNow); n[""] != 2 || n["b"] != 2 {
		t.Fatalf("claim after keying a backlog: %v, want 2 of the default key and 2 of b", n)
	}
	set(store.Limits{})
	if n := claimN(t, s, "q", 10, benchNow); n[""]+n["b"] != 6 {
		t.Errorf("claim after removing the key: %v, want the 6 jobs left", n)
	}
}

// TestOpensFormat6: a data dir in format 6 (version 3 specs, without a
// limit key) opens in format 7 with its jobs as they were, of the default
// key; keying their queue then serves them.
func TestOpensFormat6(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := context.Background()
	s, err := Open(dir, &Options{Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Enqueue(ctx, &store.EnqueueParams{Jobs: keyedJobs("default", "a", 3), Now: benchNow})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range res.Jobs {
		ids = append(ids, e.Job.ID)
	}
	before := snapshot(t, s, ids)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := pebble.Open(dir, &pebble.Options{})
	if err != nil {
		t.Fatal(err)
	}
	wb := db.NewBatch()
	err = scan(db, []byte{tSpec}, func(k, v []byte) error {
		if v[0] != 4 || !bytes.HasSuffix(v, []byte{0}) {
			t.Fatalf("spec %x is not a version 4 spec without a limit key", v)
		}
		return wb.Set(k, append([]byte{3}, v[1:len(v)-1]...), nil)
	})
	if err == nil {
		err = wb.Set(keyFormat, binary.BigEndian.AppendUint32(nil, 6), nil)
	}
	if err == nil {
		err = wb.Commit(pebble.Sync)
	}
	wb.Close()
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	s, err = Open(dir, &Options{Logger: discard()})
	if err != nil {
		t.Fatalf("Open of a format 6 data dir: %v", err)
	}
	defer s.Close()
	if after := snapshot(t, s, ids); !reflect.DeepEqual(before, after) {
		t.Errorf("after the migration the store holds\n%+v\nwant\n%+v", after, before)
	}
	if v, err := readFormat(s.db); err != nil || v != formatVersion {
		t.Errorf("format after the migration: %d, %v; want %d", v, err, formatVersion)
	}
	if err := s.SetLimits(ctx, &store.SetLimitsParams{Queue: "default", Limits: store.Limits{Key: "args.tenant"}, Now: benchNow}); err != nil {
		t.Fatal(err)
	}
	if n := claimN(t, s, "default", 10, benchNow); n[""] != 3 {
		t.Errorf("claim of the migrated jobs: %v, want 3 of the default key", n)
	}
}

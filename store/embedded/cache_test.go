package embedded

import (
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
)

// Pebble reserves its memtables in its block cache. A cache of the
// memtables' size therefore kept no table blocks at all, and every claim
// read its jobs from disk (a hit rate of 2% working off a backlog). Claims
// of jobs that were flushed to tables must find most of their blocks in
// the cache: consecutive jobs share blocks.
func TestClaimsHitTheBlockCache(t *testing.T) {
	t.Parallel()
	const mib = 1 << 20
	s, err := Open(t.TempDir(), &Options{CacheSize: 2 * mib, MemTableSize: 2 * mib})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := t.Context()

	// About 12 MiB of jobs: most of them end up in tables, not memtables.
	const n = 30000
	for i := 0; i < n; i += 1000 {
		jobs := make([]*store.NewJob, 1000)
		for k := range jobs {
			jobs[k] = benchJob()
		}
		if _, err := s.Enqueue(ctx, &store.EnqueueParams{Jobs: jobs, Now: benchNow}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.db.Flush(); err != nil {
		t.Fatal(err)
	}

	before := s.db.Metrics().BlockCache
	claimed := 0
	for claimed < n {
		res, err := s.Claim(ctx, &store.ClaimParams{Queue: "default", Max: 50, LeaseFor: time.Minute, Now: benchNow})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Jobs) == 0 {
			t.Fatalf("claimed %d of %d jobs, then none", claimed, n)
		}
		claimed += len(res.Jobs)
	}
	after := s.db.Metrics().BlockCache
	hits, misses := after.Hits-before.Hits, after.Misses-before.Misses
	rate := float64(hits) / float64(hits+misses)
	t.Logf("claiming %d jobs: %d block cache hits, %d misses (%.1f%%)", n, hits, misses, 100*rate)
	if rate < 0.5 {
		t.Errorf("block cache hit rate %.1f%% while claiming in order, want at least 50%%", 100*rate)
	}
}

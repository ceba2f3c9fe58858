package postgres_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
	"github.com/gantry-dev/gantry/store/postgres"
)

// A claim must walk the claim index in order even when the planner knows
// nothing of the table and uses a generic plan, as it does for a statement
// the pool prepared: a backlog enqueued in one burst into a table not yet
// analyzed. That plan used to read every available job with a bitmap scan
// and sort them (1-2 s a claim over 1,000,000 jobs: 31 jobs/s worked
// off); with sorting off in the claim's transaction it takes the index
// (under 1 ms a claim).
func TestClaimWithStaleStatisticsUsesTheIndex(t *testing.T) {
	t.Parallel()
	url := testURL(t)
	reachable(t, url)
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	// Every statement gets the plan a prepared statement settles on.
	s := open(t, url+sep+"plan_cache_mode=force_generic_plan",
		&postgres.Options{Schema: newSchema(t), Migrate: true})
	ctx := context.Background()

	// A backlog of 1,000,000 jobs of 300 bytes in a table PostgreSQL has
	// not analyzed yet (autovacuum wakes up once a minute), as after a
	// burst into a new deployment.
	const n = 1000000
	args := json.RawMessage(`{"pad":"` + strings.Repeat("x", 290) + `"}`)
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for range n / 2000 {
				jobs := newJobs(1000, func(j *store.NewJob) { j.Args = args })
				if _, err := s.Enqueue(ctx, &store.EnqueueParams{Jobs: jobs, Now: t0}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	const claims = 20
	start := time.Now()
	for range claims {
		res, err := s.Claim(ctx, &store.ClaimParams{Queue: "default", Max: 50, LeaseFor: time.Minute, Now: t0})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Jobs) != 50 {
			t.Fatalf("claimed %d jobs, want 50", len(res.Jobs))
		}
	}
	took := time.Since(start)
	t.Logf("%d claims of 50 over %d jobs: %v", claims, n, took)
	// Sorting plans take 1-2 s a claim here; index scans about 2 ms.
	if took > 5*time.Second {
		t.Errorf("%d claims took %v: the claim sorts the backlog instead of walking its index", claims, took)
	}
}

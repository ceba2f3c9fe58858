package push_test

import (
	"context"
	"math"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/gantry-dev/gantry"
	"github.com/gantry-dev/gantry/internal/push"
)

// TestQueueRateLimitsPushes: a push target gets a rate-limited queue's
// jobs at the queue's rate (the store's limit, shared with every other
// way of claiming): within 5% over 3s, or a minute with
// GANTRY_LIMITS_LONG=1 (make test-limits-long).
func TestQueueRateLimitsPushes(t *testing.T) {
	span := 3 * time.Second
	if os.Getenv("GANTRY_LIMITS_LONG") != "" {
		span = time.Minute
	}
	const perSecond, burst = 40, 5
	var mu sync.Mutex
	var at []time.Time
	srv := target(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		at = append(at, time.Now())
		mu.Unlock()
		w.WriteHeader(204)
	})
	e := setup(t, push.Target{Name: "thumbnail", URL: srv.URL})
	if err := e.c.SetLimits(t.Context(), gantry.DefaultQueue, gantry.Limits{Rate: "40/s", Burst: burst}); err != nil {
		t.Fatal(err)
	}
	specs := make([]gantry.JobSpec, int(perSecond*span.Seconds())+200)
	for i := range specs {
		specs[i] = gantry.JobSpec{Kind: "thumbnail", Args: []byte(`{"n":1}`)}
	}
	if _, err := e.c.EnqueueBatch(context.Background(), specs, nil); err != nil {
		t.Fatal(err)
	}
	time.Sleep(span + 500*time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if len(at) == 0 {
		t.Fatal("no push")
	}
	n := 0
	for _, a := range at {
		if a.Sub(at[0]) < span {
			n++
		}
	}
	want := burst + perSecond*span.Seconds()
	if dev := math.Abs(float64(n)-want) / want; dev > 0.05 {
		t.Errorf("%d pushes in %v at 40/s with burst 5, want %.0f within 5%%", n, span, want)
	}
	t.Logf("%d pushes in %v, want %.0f", n, span, want)
}

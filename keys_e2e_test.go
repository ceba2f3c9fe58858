package gantry_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gantry-dev/gantry"
)

// TestLimitsKeysFairness: a queue at 200 jobs/s keyed by tenant, one
// tenant with 2,000 jobs enqueued first and 10 tenants with 10 each: the
// small tenants' 100 jobs all finish within twice the time they take at
// the queue's rate (0.5s), not after the big tenant's.
func TestLimitsKeysFairness(t *testing.T) {
	t.Parallel()
	const perSecond, small = 200, 10
	var mu sync.Mutex
	var first, lastSmall time.Time
	smallLeft := small * 10
	done := make(chan struct{})
	reg := gantry.NewRegistry()
	gantry.Register(reg, gantry.HandlerFunc[greetArgs](func(_ context.Context, task *gantry.Task[greetArgs]) error {
		mu.Lock()
		defer mu.Unlock()
		now := time.Now()
		if first.IsZero() {
			first = now
		}
		if task.Args.Name != "big" {
			lastSmall = now
			if smallLeft--; smallLeft == 0 {
				close(done)
			}
		}
		return nil
	}))
	c := setup(t, reg, &gantry.Config{
		Queues: map[string]gantry.QueueConfig{gantry.DefaultQueue: {Workers: 16}},
		Limits: map[string]gantry.Limits{gantry.DefaultQueue: {Rate: fmt.Sprintf("%d/s", perSecond), Burst: 10, Key: "args.name"}},
	})
	var specs []gantry.JobSpec
	for range 2000 {
		specs = append(specs, gantry.JobSpec{Kind: "greet", Args: []byte(`{"name":"big"}`)})
	}
	for i := range 10 {
		for range small {
			specs = append(specs, gantry.JobSpec{Kind: "greet", Args: fmt.Appendf(nil, `{"name":"small-%d"}`, i)})
		}
	}
	if _, err := c.EnqueueBatch(context.Background(), specs, nil); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("the small tenants' jobs did not all finish: %d left", smallLeft)
	}
	mu.Lock()
	defer mu.Unlock()
	took, want := lastSmall.Sub(first), 2*time.Duration(small*10)*time.Second/perSecond
	if took > want {
		t.Errorf("the small tenants' 100 jobs finished %v after the first job started, want within %v", took, want)
	}
	t.Logf("the small tenants' 100 jobs finished %v after the first job started (the big tenant alone takes 10s)", took)
}

package gantrytest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/gantry-dev/gantry"
	"github.com/gantry-dev/gantry/store/embedded"
)

// stopTimeout bounds stopping the client at the end of a test.
const stopTimeout = 10 * time.Second

// NewClient returns a started client on an embedded store in a temporary
// directory of t, configured by cfg (nil: the defaults). When the test ends
// the client is stopped and the store closed; a failure of either fails the
// test. The client runs the handlers of cfg.Registry; with none it only
// enqueues and runs maintenance.
func NewClient(t testing.TB, cfg *gantry.Config) *gantry.Client {
	t.Helper()
	st, err := embedded.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatalf("gantrytest: opening the embedded store: %v", err)
	}
	if cfg == nil {
		cfg = &gantry.Config{}
	}
	c, err := gantry.NewClient(st, cfg)
	if err != nil {
		st.Close()
		t.Fatalf("gantrytest: %v", err)
	}
	if err := c.Start(context.Background()); err != nil {
		st.Close()
		t.Fatalf("gantrytest: starting the client: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
		defer cancel()
		if err := c.Stop(ctx); err != nil {
			t.Errorf("gantrytest: stopping the client: %v", err)
		}
		if err := st.Close(); err != nil {
			t.Errorf("gantrytest: closing the store: %v", err)
		}
	})
	return c
}

// Clock is a gantry.Clock that a test sets and moves by hand, forward or
// back (gantry.TestConfig.Clock). It is safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock that stands at t.
func NewClock(t time.Time) *Clock {
	return &Clock{now: t}
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock by d, which may be negative (a jump back).
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

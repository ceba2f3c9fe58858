package engine

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/gantry-dev/gantry/store"
)

// ClockSyncEvery is how often an engine on a store with a store.Clock
// reads the store's time again.
const ClockSyncEvery = 10 * time.Second

// maxSyncRTT bounds the round trip of a clock reading that is kept: a
// slower one says little about when the store read its clock.
const maxSyncRTT = time.Second

// storeClock is the store's time kept by the local clock: the local
// clock's monotonic reading plus the offset between the store's clock and
// the local one, measured at each sync (at the midpoint of the round
// trip). Nodes that share a store thus agree on the time to within their
// round trips, and a step of a node's own clock is undone at the next
// sync.
type storeClock struct {
	src    store.Clock
	local  func() time.Time
	offset atomic.Int64 // store minus local, in nanoseconds
	synced atomic.Bool
}

// Now returns the local time corrected by the last measured offset.
func (c *storeClock) Now() time.Time {
	return c.local().Add(time.Duration(c.offset.Load()))
}

// sync reads the store's clock and updates the offset. A failed or slow
// reading keeps the offset as it was.
func (c *storeClock) sync(ctx context.Context) error {
	t0 := c.local()
	st, err := c.src.StoreNow(ctx)
	t1 := c.local()
	if err != nil {
		return err
	}
	rtt := t1.Sub(t0)
	if rtt > maxSyncRTT && c.synced.Load() {
		return nil
	}
	mid := t0.Add(rtt / 2).Round(0) // the wall reading: st has no monotonic one
	c.offset.Store(int64(st.Sub(mid)))
	c.synced.Store(true)
	return nil
}

package engine

import (
	"errors"
	"log/slog"
	"time"

	"github.com/gantry-dev/gantry/store"
)

// heartbeatLoop extends the leases of attempts that run for longer than a
// third of the lease, and writes progress that was reported too soon after
// the previous write.
func (e *Engine) heartbeatLoop() {
	ctx := e.bgCtx
	every := max(e.cfg.LeaseFor/3, 10*time.Millisecond)
	tick := min(every, progressFlushEvery*2)
	t := time.NewTicker(tick)
	defer t.Stop()
	lastSync := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if c := e.cfg.clock; c != nil && time.Since(lastSync) >= ClockSyncEvery {
			lastSync = time.Now()
			if err := c.sync(ctx); err != nil && ctx.Err() == nil {
				e.log.Warn("reading the store's clock failed; keeping the last offset", slog.Any("error", err))
			}
		}
		e.mu.Lock()
		attempts := make([]*Attempt, 0, len(e.running))
		for _, a := range e.running {
			attempts = append(attempts, a)
		}
		e.mu.Unlock()
		for _, a := range attempts {
			var extend time.Duration
			if a.leaseEnd().Sub(e.cfg.Now()) < e.cfg.LeaseFor-every {
				extend = e.cfg.LeaseFor
			}
			p := a.takePending()
			if extend == 0 && p == nil {
				continue
			}
			if err := a.heartbeat(ctx, p, nil, extend); err != nil && !errors.Is(err, store.ErrLeaseLost) && ctx.Err() == nil {
				e.log.Warn("heartbeat failed", slog.String("job_id", a.Job.ID), slog.Any("error", err))
			}
		}
	}
}

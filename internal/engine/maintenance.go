package engine

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/gantry-dev/gantry/store"
)

// maintenanceBatch bounds the jobs one maintenance step touches, so that a
// huge backlog of due work is handled in several short commits.
const maintenanceBatch = 1000

// pruneEvery is how many maintenance ticks pass between retention runs.
const pruneEvery = 30

// maintenanceLoop promotes due jobs, rescues expired leases, enqueues
// periodic jobs and deletes old finished jobs. When the store is shared by
// several processes (store.As finds a store.Elector) only the elected leader
// does this: the loop waits for leadership, maintains until it is lost, and
// waits again.
func (e *Engine) maintenanceLoop() {
	ctx := e.bgCtx
	lastTick := make(map[string]time.Time, len(e.cfg.Periodic))
	el, ok := store.As[store.Elector](e.store)
	if !ok { // Start set e.leader
		e.maintainUntil(ctx, lastTick)
		e.leader.Store(false)
		return
	}
	for ctx.Err() == nil {
		lost, release, err := el.Lead(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			e.log.Warn("seeking maintenance leadership failed", slog.Any("error", err))
			sleep(ctx, e.cfg.MaintenanceInterval)
			continue
		}
		e.log.Info("gained maintenance leadership")
		e.leader.Store(true)
		e.maintainUntil(lost, lastTick)
		e.leader.Store(false)
		release()
		if ctx.Err() != nil {
			e.log.Info("released maintenance leadership")
			return
		}
		e.log.Warn("lost maintenance leadership", slog.Any("cause", context.Cause(lost)))
	}
}

// maintainUntil runs a maintenance step every MaintenanceInterval until ctx
// ends.
func (e *Engine) maintainUntil(ctx context.Context, lastTick map[string]time.Time) {
	t := time.NewTicker(e.cfg.MaintenanceInterval)
	defer t.Stop()
	for n := 0; ; n++ {
		e.maintain(ctx, n%pruneEvery == 0, lastTick)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Leader reports whether this engine runs maintenance now: always while it
// runs on a store without store.Elector (unless DisableMaintenance is set),
// and while it holds leadership otherwise.
func (e *Engine) Leader() bool { return e.leader.Load() }

func (e *Engine) maintain(ctx context.Context, prune bool, lastTick map[string]time.Time) {
	now := e.cfg.Now()
	if _, err := e.store.Promote(ctx, &store.PromoteParams{Now: now, Limit: maintenanceBatch}); err != nil && ctx.Err() == nil {
		e.log.Warn("promoting due jobs failed", slog.Any("error", err))
	}
	if res, err := e.store.Rescue(ctx, &store.RescueParams{Now: now, Limit: maintenanceBatch, Backoff: e.cfg.Backoff}); err != nil {
		if ctx.Err() == nil {
			e.log.Warn("rescuing expired leases failed", slog.Any("error", err))
		}
	} else if len(res.Jobs) > 0 {
		e.log.Info("rescued jobs whose lease expired", slog.Int("jobs", len(res.Jobs)))
	}
	e.enqueuePeriodic(ctx, now, lastTick)
	if prune && e.cfg.Retention > 0 {
		e.prune(ctx, now)
	}
}

func (e *Engine) prune(ctx context.Context, now time.Time) {
	for ctx.Err() == nil {
		res, err := e.store.Prune(ctx, &store.PruneParams{FinishedBefore: now.Add(-e.cfg.Retention), Now: now, Limit: maintenanceBatch})
		if err != nil {
			if ctx.Err() == nil {
				e.log.Warn("deleting finished jobs failed", slog.Any("error", err))
			}
			return
		}
		if len(res.BlobKeys) > 0 && e.cfg.OnPrune != nil {
			e.cfg.OnPrune(ctx, res.BlobKeys)
		}
		if res.Deleted < maintenanceBatch {
			return
		}
	}
}

// enqueuePeriodic makes sure the next tick of every periodic job is
// enqueued, scheduled at the tick. The unique key names the tick, so every
// node and every restart agrees on one job per tick; ticks that passed while
// no engine ran are skipped, as cron does.
func (e *Engine) enqueuePeriodic(ctx context.Context, now time.Time, lastTick map[string]time.Time) {
	for _, p := range e.cfg.Periodic {
		next := p.Next(now)
		if next.IsZero() || next.Equal(lastTick[p.Name]) {
			continue
		}
		j := p.Job
		j.RunAt = next
		j.UniqueKey = PeriodicKey(p.Name, next)
		if _, err := e.store.Enqueue(ctx, &store.EnqueueParams{Jobs: []*store.NewJob{&j}, Now: now}); err != nil {
			if ctx.Err() == nil {
				e.log.Warn("enqueueing periodic job failed", slog.String("periodic", p.Name), slog.Any("error", err))
			}
			continue
		}
		lastTick[p.Name] = next
	}
}

// PeriodicKey is the unique key of a periodic job's tick.
func PeriodicKey(name string, tick time.Time) string {
	return "periodic:" + name + ":" + strconv.FormatInt(tick.Unix(), 10)
}

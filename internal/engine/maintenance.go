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
	steps := &clockSteps{}
	for n := 0; ; n++ {
		e.maintain(ctx, n%pruneEvery == 0, lastTick, steps)
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

func (e *Engine) maintain(ctx context.Context, prune bool, lastTick map[string]time.Time, steps *clockSteps) {
	now := e.cfg.Now()
	if _, err := e.store.Promote(ctx, &store.PromoteParams{Now: now, Limit: maintenanceBatch}); err != nil && ctx.Err() == nil {
		e.log.Warn("promoting due jobs failed", slog.Any("error", err))
	}
	rescueAt, stepped := steps.rescueNow(now, time.Now())
	if stepped > 0 {
		e.log.Warn("the wall clock stepped forward; leases taken before are judged by the clock they were taken with",
			slog.Duration("step", stepped), slog.Duration("for", StepHold))
	}
	if res, err := e.store.Rescue(ctx, &store.RescueParams{Now: rescueAt, Limit: maintenanceBatch, Backoff: e.cfg.Backoff}); err != nil {
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

// StepTolerance is how much more the wall clock (Config.Now) may advance
// than the monotonic clock between two maintenance steps before it counts
// as stepped forward.
const StepTolerance = time.Second

// MaxLeaseFor is the longest lease a worker may hold without a heartbeat
// (gantry.MaxLeaseFor).
const MaxLeaseFor = 24 * time.Hour

// StepHold is how long after a forward step of the wall clock leases are
// still judged by the clock they were taken with: MaxLeaseFor, so that
// every live holder has extended its lease on the new clock by then.
const StepHold = MaxLeaseFor

// clockSteps keeps the rescue of expired leases from following a step of
// the wall clock. Leases end at wall-clock times; when the clock jumps
// forward an hour (an operator, a virtual machine resumed, NTP correcting a
// clock that was wrong), every lease taken before the jump would look an
// hour past its end, and all would be rescued at once while their holders
// still work. So the forward steps seen between maintenance steps
// (measured against the monotonic clock) are subtracted from the time
// Rescue is given, for StepHold: a lease is judged by the clock it was
// taken with, and one taken or extended after the step ends at most the
// step late. Promotion of scheduled jobs keeps the wall clock: a job runs
// at most the step early. A backward step needs nothing: leases then end
// later than they should (at most the step), which is safe, and the
// engine goes on claiming and running jobs.
type clockSteps struct {
	wall, mono time.Time     // at the last observation
	ahead      time.Duration // forward steps held
	until      time.Time     // monotonic: when ahead is forgotten
}

// rescueNow returns the time to rescue leases at, given the wall clock's
// now and the monotonic clock's, and the forward step seen since the last
// call (0 when none).
func (c *clockSteps) rescueNow(wall, mono time.Time) (time.Time, time.Duration) {
	wall = wall.Round(0) // the wall reading alone, whatever the clock
	var step time.Duration
	if !c.wall.IsZero() {
		if d := wall.Sub(c.wall) - mono.Sub(c.mono); d > StepTolerance {
			step = d
			c.ahead += d
			c.until = mono.Add(StepHold)
		}
	}
	c.wall, c.mono = wall, mono
	if c.ahead > 0 && !mono.Before(c.until) {
		c.ahead = 0
	}
	return wall.Add(-c.ahead), step
}

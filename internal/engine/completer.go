package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/gantry-dev/gantry/store"
)

// completerBuffer bounds the outcomes waiting to be recorded; workers block
// when it is full, which slows claiming down to what the store can record.
const completerBuffer = 4096

type completion struct {
	item store.FinishItem
	a    *Attempt // nil for releases of jobs that never started
}

// completer records attempt outcomes in batches: while one batch commits,
// the next one gathers, so many outcomes share one durable commit.
type completer struct {
	e    *Engine
	in   chan completion
	done chan struct{}
	// ctx is what recording runs under: not the engine's cancellation, so
	// that a shutdown loses no outcome, but ended by close when its bound
	// has passed.
	ctx    context.Context
	cancel context.CancelFunc
}

func newCompleter(e *Engine) *completer {
	c := &completer{e: e, in: make(chan completion, completerBuffer), done: make(chan struct{})}
	c.ctx, c.cancel = context.WithCancel(context.WithoutCancel(e.bgCtx))
	go func() {
		defer close(c.done)
		c.loop()
	}()
	return c
}

func (c *completer) add(item store.FinishItem, a *Attempt) {
	c.in <- completion{item: item, a: a}
}

// close records what is queued and waits for it until ctx ends, or for
// grace when ctx has ended already; then it gives up on what is left (those
// jobs run again when their leases expire) and says how many it dropped.
func (c *completer) close(ctx context.Context, grace time.Duration) error {
	close(c.in)
	defer c.cancel()
	if ctx.Err() == nil {
		select {
		case <-c.done:
			return nil
		case <-ctx.Done():
		}
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-c.done:
		return nil
	case <-t.C:
	}
	c.cancel()
	<-c.done
	return fmt.Errorf("stopped before every outcome was recorded: %w", context.Cause(ctx))
}

func (c *completer) loop() {
	batch := make([]completion, 0, DefaultCompleterBatch)
	for first := range c.in {
		batch = append(batch[:0], first)
	gather:
		for len(batch) < DefaultCompleterBatch {
			select {
			case x, ok := <-c.in:
				if !ok {
					break gather
				}
				batch = append(batch, x)
			default:
				break gather
			}
		}
		c.record(batch)
	}
}

// recordTries is how many times a batch is written at least before its
// outcomes are given up.
const recordTries = 10

// record writes one batch, retrying while the store fails for reasons other
// than being closed: at least recordTries times, and for as long as a lease
// of the batch lasts (an outage of the store shorter than the lease then
// loses no outcome), unless the engine is stopping. Recording runs without
// the engine's cancellation: outcomes must not be lost to a shutdown.
func (c *completer) record(batch []completion) {
	e := c.e
	items := make([]store.FinishItem, len(batch))
	var leaseEnd time.Time
	for i := range batch {
		items[i] = batch[i].item
		if a := batch[i].a; a != nil {
			if end := a.leaseEnd(); end.After(leaseEnd) {
				leaseEnd = end
			}
		}
	}
	ctx := c.ctx
	var res *store.FinishResult
	var err error
	for try := 1; ; try++ {
		res, err = e.store.Finish(ctx, &store.FinishParams{Items: items, Now: e.cfg.Now()})
		if err == nil || errors.Is(err, store.ErrClosed) || ctx.Err() != nil {
			break
		}
		if try >= recordTries && (e.bgCtx.Err() != nil || !e.cfg.Now().Before(leaseEnd)) {
			break
		}
		e.log.Warn("recording outcomes failed; retrying", slog.Int("jobs", len(items)), slog.Any("error", err))
		if !sleep(ctx, min(time.Duration(try)*100*time.Millisecond, 2*time.Second)) {
			break
		}
	}
	if err != nil {
		// The leases will expire and the jobs run again: at-least-once.
		e.log.Error("recording outcomes failed; the jobs will run again when their leases expire",
			slog.Int("jobs", len(items)), slog.Any("error", err))
		return
	}
	for i, j := range res.Jobs {
		if err := res.Errs[i]; err != nil {
			e.log.Debug("outcome refused", slog.String("job_id", items[i].ID), slog.Any("error", err))
			continue
		}
		if h := e.cfg.Hooks.Finished; h != nil && batch[i].a != nil {
			h(j, batch[i].a.took)
		}
	}
}

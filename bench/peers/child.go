package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// runChild runs one spec in this (child) process and returns its result.
func runChild(ctx context.Context, sp *spec) (*result, error) {
	res := &result{Row: sp.Row, System: sp.System, Run: sp.Run, Start: time.Now()}
	var err error
	switch sp.Row {
	case rowEnqueue:
		err = childEnqueue(ctx, sp, res, false)
	case rowBatch:
		err = childEnqueue(ctx, sp, res, true)
	case rowE2E:
		err = childEndToEnd(ctx, sp, res, e2eWorkers, sp.Sizes.E2EJobs, 0, sp.Sizes.E2ECap)
	case rowSleep:
		err = childEndToEnd(ctx, sp, res, sleepWorkers, sp.Sizes.SleepJobs, sleepFor, sp.Sizes.SleepCap)
	case rowPickup:
		err = childPickup(ctx, sp, res)
	case rowBacklog:
		if sp.Phase == "fill" {
			err = childFill(ctx, sp, res)
		} else {
			err = childDrain(ctx, sp, res)
		}
	default:
		err = fmt.Errorf("row %q does not run in a child", sp.Row)
	}
	res.PeakRSS = peakRSS(0)
	return res, err
}

func noop(context.Context) error { return nil }

// parallel runs f from n goroutines until it returns false or an error,
// and returns the first error.
func parallel(n int, f func() (bool, error)) error {
	var wg sync.WaitGroup
	var first error
	var once sync.Once
	for range n {
		wg.Go(func() {
			for {
				more, err := f()
				if err != nil {
					once.Do(func() { first = err })
					return
				}
				if !more {
					return
				}
			}
		})
	}
	wg.Wait()
	return first
}

// childEnqueue measures enqueues for a fixed time: one job per call from
// 64 goroutines, or batches of 1,000 from one.
func childEnqueue(ctx context.Context, sp *spec, res *result, batch bool) error {
	q, err := openQueue(ctx, sp, 1, noop)
	if err != nil {
		return err
	}
	defer q.close()
	n, per, d := enqueueGoroutines, 1, sp.Sizes.EnqueueFor
	call := q.enqueue
	if batch {
		n, per, d = 1, batchSize, sp.Sizes.BatchFor
		call = func(ctx context.Context) error { return q.enqueueBatch(ctx, batchSize) }
	}
	loop := func(until time.Time, count *atomic.Int64) error {
		return parallel(n, func() (bool, error) {
			if err := call(ctx); err != nil {
				return false, err
			}
			count.Add(int64(per))
			return time.Now().Before(until), nil
		})
	}
	var warm, count atomic.Int64
	if err := loop(time.Now().Add(sp.Sizes.Warmup), &warm); err != nil {
		return err
	}
	t0 := time.Now()
	if err := loop(t0.Add(d), &count); err != nil {
		return err
	}
	res.Elapsed = time.Since(t0)
	res.Jobs = count.Load()
	res.Rate = float64(res.Jobs) / res.Elapsed.Seconds()
	return nil
}

// counter counts handled jobs and closes done at want.
type counter struct {
	n, want atomic.Int64
	done    chan struct{}
	once    sync.Once
}

func newCounter() *counter {
	c := &counter{done: make(chan struct{})}
	c.want.Store(1 << 62)
	return c
}

func (c *counter) reset(want int64) {
	c.once = sync.Once{}
	c.done = make(chan struct{})
	c.n.Store(0)
	c.want.Store(want)
}

func (c *counter) add() {
	if c.n.Add(1) >= c.want.Load() {
		c.once.Do(func() { close(c.done) })
	}
}

// openStarted opens sp's system and starts its workers; done stops and
// closes it.
func openStarted(ctx context.Context, sp *spec, workers int, h handlerFunc) (q queue, done func(), err error) {
	q, err = openQueue(ctx, sp, workers, h)
	if err != nil {
		return nil, nil, err
	}
	if err := q.start(ctx); err != nil {
		q.close()
		return nil, nil, err
	}
	return q, func() {
		_ = q.stop(context.WithoutCancel(ctx))
		_ = q.close()
	}, nil
}

// waitDone waits until q has no unfinished job, or until the deadline.
func waitDone(ctx context.Context, q queue, deadline time.Time) (bool, error) {
	for {
		n, err := q.pending(ctx)
		if err != nil {
			return false, err
		}
		if n == 0 {
			return true, nil
		}
		if time.Now().After(deadline) {
			return false, nil
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// childEndToEnd enqueues jobs from 64 goroutines while workers run the
// handler (sleeping for work each); the clock stops when every job is
// recorded as finished, or at the cap.
func childEndToEnd(ctx context.Context, sp *spec, res *result, workers, jobs int, work, capFor time.Duration) error {
	cnt := newCounter()
	h := func(ctx context.Context) error {
		if work > 0 {
			time.Sleep(work)
		}
		cnt.add()
		return nil
	}
	q, done, err := openStarted(ctx, sp, workers, h)
	if err != nil {
		return err
	}
	defer done()
	// warm-up: a tenth of the jobs, through the same path, not measured.
	run := func(n int) (time.Duration, bool, error) {
		cnt.reset(int64(n))
		t0 := time.Now()
		deadline := t0.Add(capFor)
		var next atomic.Int64
		err := parallel(enqueueGoroutines, func() (bool, error) {
			if next.Add(1) > int64(n) {
				return false, nil
			}
			return true, q.enqueue(ctx)
		})
		if err != nil {
			return 0, false, err
		}
		select {
		case <-cnt.done:
		case <-time.After(time.Until(deadline)):
			return time.Since(t0), false, nil
		}
		ok, err := waitDone(ctx, q, deadline)
		return time.Since(t0), ok, err
	}
	if _, _, err := run(max(jobs/10, 100)); err != nil {
		return err
	}
	if _, err := waitDone(ctx, q, time.Now().Add(capFor)); err != nil {
		return err
	}
	took, ok, err := run(jobs)
	if err != nil {
		return err
	}
	res.Elapsed = took
	res.Jobs = int64(jobs)
	if !ok {
		res.Capped = true
		res.Jobs = min(cnt.n.Load(), int64(jobs))
	}
	res.Rate = float64(res.Jobs) / took.Seconds()
	if work > 0 {
		ideal := float64(workers) / work.Seconds()
		res.Extra = map[string]any{"ideal_rate": ideal, "efficiency": res.Rate / ideal}
	}
	return nil
}

// childPickup measures, on an idle queue, the time from an enqueue
// returning to its handler starting, one job at a time.
func childPickup(ctx context.Context, sp *spec, res *result) error {
	started := make(chan time.Time, 1)
	h := func(context.Context) error {
		select {
		case started <- time.Now():
		default:
		}
		return nil
	}
	q, done, err := openStarted(ctx, sp, pickupWorkers, h)
	if err != nil {
		return err
	}
	defer done()
	one := func() (time.Duration, error) {
		if err := q.enqueue(ctx); err != nil {
			return 0, err
		}
		t0 := time.Now()
		select {
		case t := <-started:
			return t.Sub(t0), nil
		case <-time.After(10 * time.Second):
			return 0, errors.New("a job was not picked up within 10 s")
		}
	}
	for range 3 { // warm-up
		if _, err := one(); err != nil {
			return err
		}
		time.Sleep(pickupGap)
	}
	var lat []time.Duration
	t0 := time.Now()
	for len(lat) < sp.Sizes.PickupN && time.Since(t0) < sp.Sizes.PickupCap {
		d, err := one()
		if err != nil {
			return err
		}
		lat = append(lat, d)
		time.Sleep(pickupGap)
	}
	res.Jobs = int64(len(lat))
	res.Elapsed = time.Since(t0)
	res.Capped = len(lat) < sp.Sizes.PickupN
	res.Latency = summarize(lat)
	res.Rate = res.Latency.P50
	return nil
}

func summarize(lat []time.Duration) *latency {
	if len(lat) == 0 {
		return &latency{}
	}
	slices.Sort(lat)
	at := func(q float64) float64 {
		i := min(int(q*float64(len(lat))), len(lat)-1)
		return float64(lat[i]) / float64(time.Millisecond)
	}
	return &latency{P50: at(0.5), P90: at(0.9), P99: at(0.99), Max: at(1)}
}

// childFill enqueues the backlog: batches of 1,000 where the system has
// batch inserts (from 2 goroutines), else one job per call from 64.
func childFill(ctx context.Context, sp *spec, res *result) error {
	q, err := openQueue(ctx, sp, 1, noop)
	if err != nil {
		return err
	}
	defer q.close()
	t0 := time.Now()
	n := int64(sp.Sizes.BacklogN)
	var next atomic.Int64
	// The probe enqueues the backlog's first job where batches work.
	if err := q.enqueueBatch(ctx, 1); errors.Is(err, errNoBatch) {
		err = parallel(enqueueGoroutines, func() (bool, error) {
			if next.Add(1) > n {
				return false, nil
			}
			return true, q.enqueue(ctx)
		})
		if err != nil {
			return err
		}
	} else if err != nil {
		return err
	} else {
		next.Store(1)
		err = parallel(2, func() (bool, error) {
			from := next.Add(batchSize) - batchSize
			if from >= n {
				return false, nil
			}
			return true, q.enqueueBatch(ctx, int(min(batchSize, n-from)))
		})
		if err != nil {
			return err
		}
	}
	res.Elapsed = time.Since(t0)
	res.Jobs = n
	res.Rate = float64(n) / res.Elapsed.Seconds()
	return nil
}

// childDrain works off the backlog with 64 workers of a no-op handler:
// from opening the store to every job recorded as finished.
func childDrain(ctx context.Context, sp *spec, res *result) error {
	cnt := newCounter()
	n := int64(sp.Sizes.BacklogN)
	cnt.reset(n)
	t0 := time.Now()
	deadline := t0.Add(sp.Sizes.BacklogCap)
	q, done, err := openStarted(ctx, sp, backlogWorkers, func(context.Context) error { cnt.add(); return nil })
	if err != nil {
		return err
	}
	defer done()
	ok := false
	select {
	case <-cnt.done:
		ok, err = waitDone(ctx, q, deadline)
		if err != nil {
			return err
		}
	case <-time.After(time.Until(deadline)):
	}
	res.Elapsed = time.Since(t0)
	res.Jobs = n
	if !ok {
		res.Capped = true
		res.Jobs = min(cnt.n.Load(), n)
	}
	res.Rate = float64(res.Jobs) / res.Elapsed.Seconds()
	return nil
}

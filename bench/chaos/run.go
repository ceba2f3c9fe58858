package chaos

import (
	"context"
	"errors"
	"sync"
)

// Run runs the clients, the workers and the supervisor on nodes that are
// already started, waits for every job to be final, reads the final state
// of every acknowledged job, and returns the verdict of Check on the
// history. An error says the run could not be completed (a node would not
// start again, the jobs never drained); the verdict is returned with it.
func Run(ctx context.Context, cfg Config, sup *Supervisor) (*Verdict, error) {
	d := NewDriver(cfg)
	workCtx, stopWork := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { d.Work(workCtx) })
	supErr := make(chan error, 1)
	go func() { supErr <- sup.Run(ctx, d) }()
	d.Enqueue(ctx)
	err := <-supErr
	drainErr := d.WaitDrained(ctx)
	stopWork()
	wg.Wait()
	d.ReadFinal(ctx)
	v := Check(cfg.History.Events())
	return v, errors.Join(err, drainErr, cfg.History.Flush())
}

// Package gantry is the Go API of Gantry, a job server and library for slow,
// expensive work: a program records a job durably, answers at once with the
// job's id (its ticket), and a bounded pool of workers runs the job at a pace
// the downstream systems can sustain.
//
// A program opens a store (store/embedded, the default, or store/postgres),
// registers typed handlers in a Registry, creates a Client and starts it:
//
//	type ResizeArgs struct {
//		Width int `json:"width"`
//	}
//
//	func (ResizeArgs) Kind() string { return "resize" }
//
//	reg := gantry.NewRegistry()
//	gantry.Register(reg, gantry.HandlerFunc[ResizeArgs](func(ctx context.Context, t *gantry.Task[ResizeArgs]) error {
//		return resize(ctx, t.Args.Width)
//	}))
//	st, err := embedded.Open("gantry-data", nil)
//	...
//	c, err := gantry.NewClient(st, &gantry.Config{Registry: reg})
//	...
//	if err := c.Start(ctx); err != nil { ... }
//	defer c.Stop(ctx)
//	res, err := c.Enqueue(ctx, ResizeArgs{Width: 256}, nil)
//
// Enqueue returns once the job is durable. Jobs of kinds without a handler in
// this process stay available for other processes and external workers.
//
// Delivery is at-least-once: a handler may run again after a crash or an
// expired lease, so handlers should be idempotent, and effects that must
// happen once should use unique keys.
package gantry

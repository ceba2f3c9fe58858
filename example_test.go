package gantry_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/gantry-dev/gantry"
	"github.com/gantry-dev/gantry/store/embedded"
)

// ThumbnailArgs are the args of the "thumbnail" kind.
type ThumbnailArgs struct {
	Image string `json:"image"`
	Width int    `json:"width"`
}

// Kind names the kind; it is stored with every job and must never change.
func (ThumbnailArgs) Kind() string { return "thumbnail" }

// A program registers a typed handler, enqueues a job and waits for its
// result.
func Example() {
	dir, err := os.MkdirTemp("", "gantry-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	st, err := embedded.Open(dir, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()

	reg := gantry.NewRegistry()
	gantry.Register(reg, gantry.HandlerFunc[ThumbnailArgs](func(ctx context.Context, t *gantry.Task[ThumbnailArgs]) error {
		if err := t.Progress(ctx, 50, "resizing"); err != nil {
			return err
		}
		return t.SetResult(map[string]string{"thumbnail": fmt.Sprintf("%s@%dw", t.Args.Image, t.Args.Width)})
	}))
	c, err := gantry.NewClient(st, &gantry.Config{Registry: reg})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	if err := c.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer c.Stop(ctx)

	res, err := c.Enqueue(ctx, ThumbnailArgs{Image: "cat.png", Width: 256}, nil)
	if err != nil {
		log.Fatal(err)
	}
	job, err := c.Wait(ctx, res.Job.ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(job.State, string(job.Result))
	// Output: succeeded {"thumbnail":"cat.png@256w"}
}

// Jobs can wait for other jobs: a job that depends on others runs after
// they all succeed, and is cancelled if one of them fails.
func ExampleEnqueueOpts_dependsOn() {
	dir, err := os.MkdirTemp("", "gantry-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	st, err := embedded.Open(dir, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	c, err := gantry.NewClient(st, nil) // enqueue only: no handlers here
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	upload, err := c.Enqueue(ctx, ThumbnailArgs{Image: "cat.png"}, nil)
	if err != nil {
		log.Fatal(err)
	}
	notify, err := c.Enqueue(ctx, ThumbnailArgs{Image: "cat.png", Width: 64}, &gantry.EnqueueOpts{DependsOn: []string{upload.Job.ID}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(upload.Job.State, notify.Job.State)
	if _, err := c.Cancel(ctx, upload.Job.ID, "image deleted"); err != nil {
		log.Fatal(err)
	}
	j, err := c.Get(ctx, notify.Job.ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(j.State)
	// Output:
	// available waiting
	// cancelled
}

// Per-key limits: each customer's emails at most two at once and five a
// second, all customers together fifty a second, acme served three turns
// for each of another customer's. LimitsDiff names what a change changes,
// as the warning of a node whose config differs from the stored limits.
func ExampleLimitsDiff() {
	old := gantry.Limits{Rate: "50/s", Key: "args.customer_id", PerKeyConcurrency: 2, PerKeyRate: "5/s",
		Weights: map[string]int{"acme": 3}}
	if err := old.Validate(); err != nil {
		log.Fatal(err)
	}
	changed := old
	changed.PerKeyConcurrency = 1
	changed.Weights = map[string]int{"acme": 5}
	fmt.Println(gantry.LimitsDiff(old, changed))
	// A sequence: one job of each account at a time, in enqueue order.
	ledger := gantry.Limits{Key: "args.account", PerKeyConcurrency: 1, Order: gantry.OrderFIFO}
	fmt.Println(ledger.Validate())
	// Output:
	// per_key_concurrency 2 -> 1, weights["acme"] 3 -> 5
	// <nil>
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/gantry-dev/gantry"
	"github.com/gantry-dev/gantry/store"
	"github.com/gantry-dev/gantry/store/embedded"
	"github.com/gantry-dev/gantry/store/postgres"
	"github.com/jackc/pgx/v5"
)

// jobArgs are the args of every job: the ~200 bytes of args of
// bench/load's default body, the size of a request for a thumbnail. The
// same struct is a Gantry Args and a River JobArgs; asynq gets its JSON.
type jobArgs struct {
	UserID        int64  `json:"user_id"`
	Source        string `json:"source"`
	Sizes         []int  `json:"sizes"`
	Format        string `json:"format"`
	Quality       int    `json:"quality"`
	StripMetadata bool   `json:"strip_metadata"`
	Notify        string `json:"notify"`
}

// Kind names the job kind in Gantry, River and asynq.
func (jobArgs) Kind() string { return "peers.bench" }

var theArgs = jobArgs{
	UserID:        4815162342,
	Source:        "https://images.example.com/uploads/2026/11/22/c2f1a7e0-5b7d-4f5e-9f0a-3b1d2e4c6a8b.png",
	Sizes:         []int{64, 128, 256, 512},
	Format:        "webp",
	Quality:       82,
	StripMetadata: true,
	Notify:        "ops@example.com",
}

var argsJSON, _ = json.Marshal(theArgs)

// handlerFunc is the work of one job.
type handlerFunc func(ctx context.Context) error

// errNoBatch is returned by enqueueBatch of a queue without batch inserts.
var errNoBatch = errors.New("no batch enqueue")

// queue is one system under test, opened in a child process. Its workers
// (workers of them, running h) start with start; enqueue works before.
type queue interface {
	enqueue(ctx context.Context) error
	enqueueBatch(ctx context.Context, n int) error
	start(ctx context.Context) error
	// pending counts the jobs not yet finished (recorded as done).
	pending(ctx context.Context) (int64, error)
	stop(ctx context.Context) error
	close() error
}

// openQueue opens sp's system with workers running h.
func openQueue(ctx context.Context, sp *spec, workers int, h handlerFunc) (queue, error) {
	sys, ok := systemByName(sp.System)
	if !ok {
		return nil, fmt.Errorf("unknown system %q", sp.System)
	}
	switch sys.Family {
	case "gantry":
		return openGantry(ctx, sp, workers, h)
	case "river":
		return openRiver(ctx, sp, sys, workers, h)
	case "asynq", "asynq-aof":
		return openAsynq(sp, workers, h)
	}
	return nil, fmt.Errorf("system %q is not a queue", sp.System)
}

type gantryQueue struct {
	st         store.Driver
	closeStore func() error
	c          *gantry.Client
}

func openGantry(ctx context.Context, sp *spec, workers int, h handlerFunc) (*gantryQueue, error) {
	q := &gantryQueue{}
	switch sp.System {
	case "gantry":
		st, err := embedded.Open(sp.Dir, nil)
		if err != nil {
			return nil, err
		}
		q.st, q.closeStore = st, st.Close
	case "gantry-pg":
		if err := createSchema(ctx, sp.PG, sp.Schema); err != nil {
			return nil, err
		}
		st, err := postgres.Open(ctx, sp.PG, &postgres.Options{Schema: sp.Schema, Migrate: true})
		if err != nil {
			return nil, err
		}
		q.st, q.closeStore = st, st.Close
	default:
		return nil, fmt.Errorf("unknown gantry system %q", sp.System)
	}
	reg := gantry.NewRegistry()
	gantry.Register(reg, gantry.HandlerFunc[jobArgs](func(ctx context.Context, t *gantry.Task[jobArgs]) error {
		return h(ctx)
	}))
	c, err := gantry.NewClient(q.st, &gantry.Config{
		Registry: reg,
		Queues:   map[string]gantry.QueueConfig{gantry.DefaultQueue: {Workers: max(workers, 1)}},
	})
	if err != nil {
		q.closeStore()
		return nil, err
	}
	q.c = c
	return q, nil
}

func (q *gantryQueue) enqueue(ctx context.Context) error {
	_, err := q.c.Enqueue(ctx, theArgs, nil)
	return err
}

func (q *gantryQueue) enqueueBatch(ctx context.Context, n int) error {
	specs := make([]gantry.JobSpec, n)
	for i := range specs {
		s, err := gantry.Spec(theArgs, nil)
		if err != nil {
			return err
		}
		specs[i] = s
	}
	_, err := q.c.EnqueueBatch(ctx, specs, nil)
	return err
}

func (q *gantryQueue) start(ctx context.Context) error { return q.c.Start(ctx) }
func (q *gantryQueue) stop(ctx context.Context) error  { return q.c.Stop(ctx) }
func (q *gantryQueue) close() error                    { return q.closeStore() }

func (q *gantryQueue) pending(ctx context.Context) (int64, error) {
	qs, err := q.c.Queues(ctx)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, qi := range qs {
		for st, c := range qi.Counts {
			switch st {
			case gantry.StateSucceeded, gantry.StateFailed, gantry.StateCancelled:
			default:
				n += c
			}
		}
	}
	return n, nil
}

// createSchema creates a PostgreSQL schema when it does not exist.
func createSchema(ctx context.Context, url, schema string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{schema}.Sanitize())
	return err
}

// dropSchema drops a PostgreSQL schema and everything in it.
func dropSchema(ctx context.Context, url, schema string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
	return err
}

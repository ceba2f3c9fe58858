package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/url"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
)

// riverPoolConns is the size of River's pgx pool: the size of Gantry's
// PostgreSQL pool (postgres.DefaultMaxConns), so neither has more
// connections than the other. pgxpool's own default is max(4, NumCPU).
const riverPoolConns = 16

type riverWorker struct {
	river.WorkerDefaults[jobArgs]
	h handlerFunc
}

func (w *riverWorker) Work(ctx context.Context, _ *river.Job[jobArgs]) error { return w.h(ctx) }

type riverQueue struct {
	pool   *pgxpool.Pool
	c      *river.Client[pgx.Tx]
	schema string
}

func openRiver(ctx context.Context, sp *spec, sys system, workers int, h handlerFunc) (*riverQueue, error) {
	if err := createSchema(ctx, sp.PG, sp.Schema); err != nil {
		return nil, err
	}
	u, err := url.Parse(sp.PG)
	if err != nil {
		return nil, err
	}
	qv := u.Query()
	qv.Set("pool_max_conns", fmt.Sprint(riverPoolConns))
	u.RawQuery = qv.Encode()
	pool, err := pgxpool.New(ctx, u.String())
	if err != nil {
		return nil, err
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	driver := riverpgxv5.New(pool)
	m, err := rivermigrate.New(driver, &rivermigrate.Config{Schema: sp.Schema, Logger: quiet})
	if err != nil {
		pool.Close()
		return nil, err
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		pool.Close()
		return nil, fmt.Errorf("river migrate: %w", err)
	}
	ws := river.NewWorkers()
	river.AddWorker(ws, &riverWorker{h: h})
	cfg := &river.Config{
		Schema:  sp.Schema,
		Logger:  quiet,
		Workers: ws,
		Queues:  map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: max(workers, 1)}},
	}
	if sys.Best {
		cfg.FetchCooldown = riverBestCooldown
		cfg.FetchPollInterval = riverBestPollInterval
	}
	c, err := river.NewClient(driver, cfg)
	if err != nil {
		pool.Close()
		return nil, err
	}
	return &riverQueue{pool: pool, c: c, schema: sp.Schema}, nil
}

func (q *riverQueue) enqueue(ctx context.Context) error {
	_, err := q.c.Insert(ctx, theArgs, nil)
	return err
}

// enqueueBatch uses InsertManyFast, River's fastest batch insert (COPY;
// it returns a count where Gantry's EnqueueBatch returns every job).
func (q *riverQueue) enqueueBatch(ctx context.Context, n int) error {
	ps := make([]river.InsertManyParams, n)
	for i := range ps {
		ps[i] = river.InsertManyParams{Args: theArgs}
	}
	_, err := q.c.InsertManyFast(ctx, ps)
	return err
}

func (q *riverQueue) start(ctx context.Context) error { return q.c.Start(ctx) }

func (q *riverQueue) stop(ctx context.Context) error { return q.c.Stop(ctx) }

func (q *riverQueue) close() error {
	q.pool.Close()
	return nil
}

func (q *riverQueue) pending(ctx context.Context) (int64, error) {
	var n int64
	err := q.pool.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{q.schema, "river_job"}.Sanitize()+
		" WHERE state NOT IN ('completed', 'discarded', 'cancelled')").Scan(&n)
	return n, err
}

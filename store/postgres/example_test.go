package postgres_test

import (
	"context"
	"encoding/json"
	"log"
	"time"

	"github.com/gantry-dev/gantry/store"
	"github.com/gantry-dev/gantry/store/postgres"
)

// Open a store on a schema that `gantry migrate up` prepared, and enqueue
// a job.
func ExampleOpen() {
	ctx := context.Background()
	s, err := postgres.Open(ctx, "postgres://gantry@db.internal/gantry", &postgres.Options{Schema: "gantry"})
	if err != nil {
		log.Fatal(err) // errors.Is(err, postgres.ErrSchemaVersion): run `gantry migrate up`
	}
	defer s.Close()
	_, err = s.Enqueue(ctx, &store.EnqueueParams{Now: time.Now(), Jobs: []*store.NewJob{{
		Kind: "thumbnail", Queue: "default", Args: json.RawMessage(`{"width":256}`),
		Priority: store.DefaultPriority, RunAt: time.Now(), MaxAttempts: 5,
	}}})
	if err != nil {
		log.Fatal(err)
	}
}

// Migrate a schema to this build's version, as `gantry migrate up` does.
// Several nodes may do this at once.
func ExampleMigrate() {
	ctx := context.Background()
	s, err := postgres.Open(ctx, "postgres://gantry@db.internal/gantry", &postgres.Options{Migrate: true})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	st, err := postgres.Status(ctx, s.Pool(), s.Schema())
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("schema %s at version %d of %d", st.Schema, st.Current, st.Latest)
}

// Enqueue a job in the same transaction as the application's own write:
// the job exists if and only if the order does.
func ExampleStore_EnqueueTx() {
	ctx := context.Background()
	s, err := postgres.Open(ctx, "postgres://gantry@db.internal/shop", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	tx, err := s.Pool().Begin(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `INSERT INTO orders (id) VALUES ($1)`, 42); err != nil {
		log.Fatal(err)
	}
	now := time.Now()
	if _, err := s.EnqueueTx(ctx, tx, &store.EnqueueParams{Now: now, Jobs: []*store.NewJob{{
		Kind: "order.confirm", Queue: "default", Args: json.RawMessage(`{"order":42}`),
		Priority: store.DefaultPriority, RunAt: now, MaxAttempts: 5,
	}}}); err != nil {
		log.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		log.Fatal(err)
	}
}

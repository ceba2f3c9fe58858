// Package postgres is the Gantry store for PostgreSQL (15 or newer), for
// many Gantry nodes sharing one database. It implements store.Driver and
// store.Notifier and passes the conformance suite in store/storetest.
//
// Open connects a pgx pool and checks the schema:
//
//	s, err := postgres.Open(ctx, "postgres://gantry@db/gantry", &postgres.Options{Schema: "gantry"})
//
// # Migrations
//
// The schema lives in versioned SQL files embedded in the binary
// (migrations/NNNN_name.up.sql and .down.sql). Migrate moves a schema to a
// version and Status reports where it stands; both hold an advisory lock
// derived from the schema name, so several nodes may migrate at once. Open
// refuses a schema that is not at LatestVersion, naming the command that
// fixes it (`gantry migrate up`), unless Options.Migrate is set.
//
// # How it works
//
// Claims promote the queue's due scheduled and retrying jobs and lease
// available ones with UPDATE ... FROM (SELECT ... FOR UPDATE SKIP LOCKED),
// in one round trip, so nodes never wait for each other's claims. Finish,
// Cancel, Retry and Rescue lock their jobs, apply the shared transition
// functions of package store in Go, and write the rows back with one
// UPDATE; dependents are released or cancelled (transitively, with a
// recursive CTE) in the same transaction. Large Enqueue batches use COPY.
// EnqueueTx enqueues in the caller's own transaction.
//
// Timestamps are kept with microsecond precision, as PostgreSQL keeps them;
// the store never reads a clock.
//
// # Notifications
//
// Changes are announced with NOTIFY on the channel <schema>_changes after
// each commit, in batches, and each store LISTENs on a connection of its
// own (see Store.Notify). Notifications are best-effort; pollers remain the
// fallback.
//
// # Errors
//
// Besides the store package's errors, calls return PostgreSQL and
// connection errors wrapped with the operation's name; errors.As finds the
// *pgconn.PgError or net error inside. Errors that say the database cannot
// serve now (connection refused or lost, shutting down, too many
// connections) match store.ErrUnavailable, for a 503 and a retry.
//
// Tests run against the database named by GANTRY_TEST_POSTGRES_URL, each in
// a schema of its own; without it they are skipped, unless
// GANTRY_REQUIRE_PG=1, when they fail.
package postgres

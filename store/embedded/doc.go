// Package embedded is Gantry's default store: a store.Driver kept in a
// directory on local disk, in pure Go, on the Pebble LSM engine
// (github.com/cockroachdb/pebble/v2).
//
// # Durability and group commit
//
// One goroutine, the committer, owns every change. Callers hand it requests;
// it takes everything that is pending (up to Options.MaxGroup requests),
// applies each in order to one batch, commits the batch once and answers
// every request of the group. Enqueue, Finish, Cancel, Retry, Rescue,
// Promote, Prune and PauseQueue are fsynced before they return, so many
// concurrent callers share one fsync. Claim and Heartbeat need not be
// durable (a claim lost in a crash leaves the job available), so a group of
// only those commits without waiting for the disk. A request that fails
// validation writes nothing and does not affect the others of its group.
//
// # Memory
//
// The backlog lives on disk. Memory holds counters per queue, kind and
// state, and a cursor per queue, kind and priority into the available
// index, so it grows with the number of queues and kinds, never with the
// number of jobs. Pebble's block cache and memtables are bounded by
// Options.
//
// # Failures and upgrades
//
// A commit that fails (a full disk) fails its requests with an error that
// wraps store.ErrUnavailable, and store.ErrInsufficientStorage for a full
// disk, and so does every request after it, until the committer has
// reopened the database: it tries by itself, backing off to every two
// seconds, once a test write to the data dir succeeds. Every commit
// acknowledged before the failure is kept. Live (store.Liveness) reports
// only a failure the store cannot leave without a restart of the process.
//
// The on-disk format changes only through numbered migrations, which Open
// applies in place (migrate.go; docs/decisions/0008-store-migrations.md).
//
// # Reads
//
// Get and List read committed data directly, without waiting for the
// committer. Queues goes through the committer so that its counts include
// every change acknowledged before it was called.
package embedded

// Command peers measures Gantry side by side with other job queues on one
// machine, in one run: Gantry on its embedded store and on PostgreSQL,
// River on the same PostgreSQL, asynq on the local Redis (persistence off,
// its default, and on with appendonly yes and appendfsync everysec), and
// the three designs of the seed posts (goroutine per request, buffered
// channel, chan chan Job worker pool) behind one HTTP handler.
//
// It is a module of its own so that Gantry's module never depends on the
// queues it is compared with. `make bench-peers` runs it:
//
//	cd bench/peers && go run . -out out -img ../../docs/img
//
// Rows (workloads), selected with -only:
//
//	enqueue   one job per call from 64 goroutines, for a fixed time
//	batch     1,000 jobs per call from one goroutine, for a fixed time
//	e2e       enqueue from 64 goroutines while 64 workers run a no-op handler
//	sleep     the same with a handler sleeping 50 ms, at 100 workers
//	pickup    one job at a time on an idle queue: enqueue returned to handler started
//	backlog   1,000,000 jobs enqueued by one process, worked off by another:
//	          time to drain and the worker process's peak RSS
//	seed      1,000,000 HTTP requests in one minute (open loop, bench/load)
//	          against `gantry serve` and the three seed designs
//
// -only also takes system names (gantry, gantry-pg, gantry-http,
// river-default, river-best, asynq-default, asynq-best, asynq-aof,
// seed-goroutine, seed-channel, seed-pool) or prefixes of them (river,
// asynq), and mixes with rows: -only e2e,river runs the e2e row of River
// at its default and best settings. When -only names peers but no Gantry
// system, the Gantry systems of the same rows run too, for the ratios.
// -quick is a smoke pass: small sizes, one run. -from FILE writes the
// tables and plots of an earlier run's runs.json again, without running;
// results/ holds those of the run published in docs/benchmarks.md.
//
// Every (row, system) runs -runs times (3 by default), each run in a child
// process of its own (this binary, re-executed with -child), so that a
// run's peak RSS (VmHWM) is its own and no run inherits another's heap.
// The table prints medians and the ratio Gantry/peer; -out receives
// runs.json (every run), results.md (the table) and the PNG plots, which
// are also copied to -img when it is set.
//
// PostgreSQL (-pg, default postgres://postgres@127.0.0.1:5432/test) and
// Redis (-redis, default 127.0.0.1:6379) are used when they answer; a
// system whose server is missing is skipped with a message. Each run uses
// a PostgreSQL schema of its own (peers_*), dropped afterwards, and Redis
// database -redis-db (13 by default), flushed before and after. The
// persistence-on rows of asynq turn on appendonly with CONFIG SET and
// restore the server's settings afterwards.
package main

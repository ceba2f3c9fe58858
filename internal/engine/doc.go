// Package engine runs jobs: one fetcher per queue claims at most as many jobs
// as the queue has free worker slots, a fixed set of worker goroutines runs
// them, a completer records outcomes in batches, a heartbeater keeps the
// leases of long jobs alive, and a maintenance loop rescues expired leases,
// promotes scheduled jobs, deletes old finished jobs and enqueues periodic
// jobs.
//
// The backlog lives in the store: the engine holds at most the jobs its
// workers are running plus one claim per queue, however many jobs wait.
package engine

package gantry

import "github.com/gantry-dev/gantry/store"

// Job is a job and everything recorded about it.
type Job = store.Job

// State is where a job is in its life; see docs/state-machine.md.
type State = store.State

// Blob describes a job's binary payload in a blob store.
type Blob = store.Blob

// Progress is what a running job last reported about itself.
type Progress = store.Progress

// AttemptError records one failed attempt of a job.
type AttemptError = store.AttemptError

// Enqueued is the outcome of enqueueing one job.
type Enqueued = store.Enqueued

// QueueInfo describes a queue: its counts per state and whether it is paused.
type QueueInfo = store.QueueInfo

// The states of a job.
const (
	StateScheduled = store.StateScheduled
	StateWaiting   = store.StateWaiting
	StateAvailable = store.StateAvailable
	StateRunning   = store.StateRunning
	StateRetrying  = store.StateRetrying
	StateSucceeded = store.StateSucceeded
	StateFailed    = store.StateFailed
	StateCancelled = store.StateCancelled
)

// States lists every state in the order a job usually passes through them.
var States = store.States

// Priority bounds: 1 runs first, 9 last.
const (
	MinPriority     = store.MinPriority
	MaxPriority     = store.MaxPriority
	DefaultPriority = store.DefaultPriority
)

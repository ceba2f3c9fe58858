// Package taskhook connects package gantry to package gantrytest: it lets
// gantrytest build the gantry.Task a handler sees, without a client or a
// store, and read back what the handler recorded through it. Nothing else
// uses it.
package taskhook

import (
	"context"
	"encoding/json"
)

// Reporter receives what a handler reports through its Task while it runs.
// In a client it is the running attempt (internal/engine.Attempt); in
// gantrytest, a recorder.
type Reporter interface {
	// Progress reports how far the attempt got, 0 to 100, with a message.
	Progress(ctx context.Context, percent int, message string) error
	// SaveCheckpoint records data for the next attempt.
	SaveCheckpoint(ctx context.Context, data json.RawMessage) error
}

// Set by package gantry when it is initialized, so that gantrytest, which
// imports gantry, always finds them set.
var (
	// Attach makes r the reporter of task, a *gantry.Task[T]. It reports
	// false when task is not one.
	Attach func(task any, r Reporter) bool
	// Result returns the result task's handler set with SetResult.
	Result func(task any) json.RawMessage
)

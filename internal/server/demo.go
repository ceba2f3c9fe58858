package server

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/gantry-dev/gantry"
)

// The built-in kinds that `gantry serve` runs in-process (unless
// --demo=false), so that a fresh server does something visible.
const (
	// KindSleep sleeps args.ms milliseconds, reporting progress, then
	// succeeds with {"slept_ms": ms}.
	KindSleep = "gantry.sleep"
	// KindEcho succeeds at once with its args as its result.
	KindEcho = "gantry.echo"
)

// maxSleep bounds gantry.sleep; a job's own timeout (10 minutes by
// default) may end it sooner.
const maxSleep = 24 * time.Hour

type sleepArgs struct {
	MS int64 `json:"ms"`
}

func (sleepArgs) Kind() string { return KindSleep }

type echoArgs map[string]json.RawMessage

func (echoArgs) Kind() string { return KindEcho }

// RegisterDemo adds the built-in kinds, KindSleep and KindEcho, to reg.
func RegisterDemo(reg *gantry.Registry) {
	gantry.Register(reg, gantry.HandlerFunc[sleepArgs](sleep))
	gantry.Register(reg, gantry.HandlerFunc[echoArgs](func(ctx context.Context, t *gantry.Task[echoArgs]) error {
		return t.SetResult(t.Job.Args)
	}))
}

func sleep(ctx context.Context, t *gantry.Task[sleepArgs]) error {
	d := time.Duration(t.Args.MS) * time.Millisecond
	if t.Args.MS < 0 || d > maxSleep {
		return gantry.Permanent(fmt.Errorf("ms must be between 0 and %d", maxSleep.Milliseconds()))
	}
	// Report progress about ten times, at most once a second.
	step := max(d/10, time.Second)
	start := time.Now()
	timer := time.NewTimer(d)
	defer timer.Stop()
	tick := time.NewTicker(step)
	defer tick.Stop()
	for {
		select {
		case <-timer.C:
			_ = t.Progress(ctx, 100, fmt.Sprintf("slept %v", d))
			return t.SetResult(map[string]int64{"slept_ms": t.Args.MS})
		case <-tick.C:
			done := time.Since(start)
			pct := int(min(99, 100*done/d))
			// Best effort: a failed report must not fail the sleep.
			_ = t.Progress(ctx, pct, fmt.Sprintf("slept %v of %v", done.Round(time.Millisecond), d))
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}

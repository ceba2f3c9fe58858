package gantry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"

	"github.com/gantry-dev/gantry/store"
)

// Limits are a queue's flow-control limits: Rate ("50/s", "3000/m",
// "10/h") caps how many of its jobs start, as a token bucket holding at
// most Burst tokens (zero means 1). They are kept in the store, so they
// hold for every client on it (across nodes on PostgreSQL), survive
// restarts, and apply to in-process handlers, leased workers and push
// targets alike: each claim takes one token a job. See docs/limits.md.
type Limits = store.Limits

// ErrNoLimits: the store keeps no queue limits (it lacks
// store.LimitStore).
var ErrNoLimits = errors.New("gantry: the store keeps no queue limits")

// SetLimits records the limits of queue for every client on the store, at
// once and durably; zero Limits remove them. A queue that does not exist
// yet exists from then on (see Queues). Invalid limits give an error
// wrapping ErrInvalid (a *FieldError).
func (c *Client) SetLimits(ctx context.Context, queue string, l Limits) error {
	ls, ok := store.As[store.LimitStore](c.store)
	if !ok {
		return ErrNoLimits
	}
	return ls.SetLimits(ctx, &store.SetLimitsParams{Queue: queue, Limits: l, Now: c.cfg.Now()})
}

// applyLimits records Config.Limits, at Start: the stored
// limits are the truth, and the last client to start with a config that
// differs for a queue wins, with a warning naming the difference.
func (c *Client) applyLimits(ctx context.Context) error {
	if len(c.limits) == 0 {
		return nil
	}
	if _, ok := store.As[store.LimitStore](c.store); !ok {
		return ErrNoLimits
	}
	infos, err := c.store.Queues(ctx)
	if err != nil {
		return fmt.Errorf("gantry: reading the stored queue limits: %w", err)
	}
	stored := make(map[string]Limits, len(infos))
	for _, q := range infos {
		if q.Limits != nil {
			stored[q.Name] = *q.Limits
		}
	}
	for _, name := range slices.Sorted(maps.Keys(c.limits)) {
		l := c.limits[name]
		old, had := stored[name]
		if old.Equal(l) {
			continue
		}
		if had {
			c.cfg.Logger.Warn("gantry: the config's limits of a queue differ from the stored ones; the config's apply from now on",
				slog.String("queue", name), slog.String("difference", LimitsDiff(old, l)))
		}
		if err := c.SetLimits(ctx, name, l); err != nil {
			return fmt.Errorf("gantry: queues[%s]: %w", name, err)
		}
	}
	return nil
}

// LimitsDiff names the settings in which b differs from a, as
// `rate "50/s" -> "20/s"`, or returns "" when they are the same.
func LimitsDiff(a, b Limits) string {
	var d []string
	if a.Rate != b.Rate {
		d = append(d, fmt.Sprintf("rate %q -> %q", a.Rate, b.Rate))
	}
	if a.Burst != b.Burst {
		d = append(d, fmt.Sprintf("burst %d -> %d", a.Burst, b.Burst))
	}
	return fmt.Sprint(d)
}

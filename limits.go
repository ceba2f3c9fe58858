package gantry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"github.com/gantry-dev/gantry/store"
)

// Limits are a queue's flow-control limits: Rate ("50/s", "3000/m",
// "10/h") caps how many of its jobs start, as a token bucket holding at
// most Burst tokens (zero means 1); Key splits its jobs by a key read at
// enqueue (Job.LimitKey), served in turn (weighted by Weights), each key
// limited by PerKeyConcurrency and PerKeyRate, and with Order OrderFIFO a
// sequence. They are kept in the store, so they hold for every client on
// it (across nodes on PostgreSQL), survive restarts, and apply to
// in-process handlers, leased workers and push targets alike. See
// docs/limits.md.
type Limits = store.Limits

// OrderFIFO is Limits.Order for sequences: each key's jobs run one at a
// time, in enqueue order.
const OrderFIFO = store.OrderFIFO

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

// maxDiffWeights bounds the changed weights LimitsDiff names one by one.
const maxDiffWeights = 10

// LimitsDiff names the settings in which b differs from a, by the names
// of the config file, as `rate "50/s" -> "20/s", per_key_concurrency 2 -> 1`,
// or returns "" when they are the same. Weights show as the keys whose
// weight changed (0: no weight, the default 1), the first
// maxDiffWeights of them by name.
func LimitsDiff(a, b Limits) string {
	var d []string
	str := func(name, x, y string) {
		if x != y {
			d = append(d, fmt.Sprintf("%s %q -> %q", name, x, y))
		}
	}
	num := func(name string, x, y int) {
		if x != y {
			d = append(d, fmt.Sprintf("%s %d -> %d", name, x, y))
		}
	}
	str("rate", a.Rate, b.Rate)
	num("burst", a.Burst, b.Burst)
	str("key", a.Key, b.Key)
	num("per_key_concurrency", a.PerKeyConcurrency, b.PerKeyConcurrency)
	str("per_key_rate", a.PerKeyRate, b.PerKeyRate)
	num("per_key_burst", a.PerKeyBurst, b.PerKeyBurst)
	keys := slices.Sorted(maps.Keys(a.Weights))
	for k := range b.Weights {
		if _, ok := a.Weights[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	changed := 0
	for _, k := range keys {
		if a.Weights[k] == b.Weights[k] {
			continue
		}
		if changed++; changed <= maxDiffWeights {
			num(fmt.Sprintf("weights[%q]", k), a.Weights[k], b.Weights[k])
		}
	}
	if changed > maxDiffWeights {
		d = append(d, fmt.Sprintf("and %d more weights", changed-maxDiffWeights))
	}
	str("order", a.Order, b.Order)
	return strings.Join(d, ", ")
}

// limitsNames maps the Go names of the fields of Limits to their JSON
// names, which the config file and the HTTP API use: the struct tags are
// the one owner of both.
var limitsNames = func() map[string]string {
	out := map[string]string{}
	for f := range reflect.TypeFor[Limits]().Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		out[f.Name] = name
	}
	return out
}()

// limitsWord matches a word of a FieldError's reason that may be a Go name
// of a field of Limits, or a quoted string (a key, which stays as it is).
var limitsWord = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|\b[A-Z][A-Za-z]*\b`)

// LimitsJSONError returns err, a *FieldError of Limits.Validate or
// SetLimits, with the fields of Limits named by their JSON names (the
// names of the config file and the HTTP API) in its Field and Reason:
// "PerKeyBurst: needs PerKeyRate" becomes "per_key_burst: needs
// per_key_rate". Any other error is returned as it is.
func LimitsJSONError(err error) error {
	var fe *FieldError
	if !errors.As(err, &fe) {
		return err
	}
	name := func(s string) string {
		if n, ok := limitsNames[s]; ok {
			return n
		}
		return s
	}
	return &FieldError{Index: fe.Index, Field: name(fe.Field), Reason: limitsWord.ReplaceAllStringFunc(fe.Reason, name)}
}

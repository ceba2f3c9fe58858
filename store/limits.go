package store

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/ratelimit"
)

// Limits are the flow-control limits of one queue, kept in the store so
// that they hold for every node and survive restarts. They apply to every
// Claim of the queue: in-process handlers, leased workers and push targets
// all claim.
//
// Rate and Burst limit the queue as a whole. Key splits the queue's jobs
// by a value read from each job at enqueue (Job.LimitKey); claims then
// serve the keys with work round-robin (weighted by Weights), and
// PerKeyConcurrency and PerKeyRate limit each key on its own. Order
// "fifo" with PerKeyConcurrency 1 makes each key a sequence. Limits
// compare with Equal (Weights is a map).
type Limits struct {
	// Rate, when set ("50/s", "3000/m", "10/h"), caps how many jobs of the
	// queue are claimed: a token bucket that refills at Rate and holds at
	// most Burst tokens, one token a claimed job. Empty: no rate limit.
	Rate string `json:"rate,omitempty"`
	// Burst is how many tokens the bucket holds at most, at least 1; zero
	// means 1.
	Burst int `json:"burst,omitempty"`
	// Key, when set, is where a job's limit key is read at enqueue:
	// "args.FIELD" (a path of one or more field names into the job's
	// args, "args.customer.id"), "kind" or "queue". See KeyOf. Empty:
	// the queue's jobs have no keys and none of the per-key settings
	// below may be set.
	Key string `json:"key,omitempty"`
	// PerKeyConcurrency, when positive, is the most jobs of one key that
	// run at once (across all nodes). Zero: no limit.
	PerKeyConcurrency int `json:"per_key_concurrency,omitempty"`
	// PerKeyRate, when set, caps how many jobs of each key are claimed, as
	// Rate caps the queue's: one token bucket a key, holding at most
	// PerKeyBurst tokens (zero means 1).
	PerKeyRate  string `json:"per_key_rate,omitempty"`
	PerKeyBurst int    `json:"per_key_burst,omitempty"`
	// Weights give keys more turns in the round-robin between keys: a key
	// of weight 3 is served three jobs for each job of a key of weight 1
	// (the default), while both have work. 1 to MaxWeight.
	Weights map[string]int `json:"weights,omitempty"`
	// Order is "" (by priority, then as jobs became available) or
	// OrderFIFO, which needs Key and PerKeyConcurrency 1: each key is a
	// sequence, its jobs run one at a time in enqueue order, and a job
	// that is retrying keeps its place: the next job of its key waits
	// until it is final.
	Order string `json:"order,omitempty"`
}

// OrderFIFO is Limits.Order for sequences.
const OrderFIFO = "fifo"

// MaxBurst bounds Limits.Burst and Limits.PerKeyBurst.
const MaxBurst = 1_000_000

// MaxWeight bounds the values of Limits.Weights, and MaxWeights their
// number.
const (
	MaxWeight  = 1000
	MaxWeights = 10_000
)

// Zero reports whether l limits nothing.
func (l Limits) Zero() bool { return l.Rate == "" && l.Key == "" }

// Keyed reports whether l splits its queue's jobs by key.
func (l Limits) Keyed() bool { return l.Key != "" }

// Equal reports whether l and o are the same limits.
func (l Limits) Equal(o Limits) bool {
	return l.Rate == o.Rate && l.Burst == o.Burst && l.Key == o.Key &&
		l.PerKeyConcurrency == o.PerKeyConcurrency && l.PerKeyRate == o.PerKeyRate &&
		l.PerKeyBurst == o.PerKeyBurst && l.Order == o.Order && maps.Equal(l.Weights, o.Weights)
}

// Weight returns the weight of key under l: Weights[key], or 1.
func (l Limits) Weight(key string) int {
	if w, ok := l.Weights[key]; ok {
		return w
	}
	return 1
}

// Bucket returns l's rate in tokens per second and its burst, or zeros
// when l has no rate. l must be valid.
func (l Limits) Bucket() (perSecond float64, burst int) {
	if l.Rate == "" {
		return 0, 0
	}
	r, _ := ratelimit.Parse(l.Rate)
	return r.PerSecond(), max(l.Burst, 1)
}

// KeyBucket returns l's per-key rate in tokens per second and its burst,
// or zeros when l has no per-key rate. l must be valid.
func (l Limits) KeyBucket() (perSecond float64, burst int) {
	if l.PerKeyRate == "" {
		return 0, 0
	}
	r, _ := ratelimit.Parse(l.PerKeyRate)
	return r.PerSecond(), max(l.PerKeyBurst, 1)
}

// KeyLimits returns the limits of one key of l as a Limits of their own:
// PerKeyRate and PerKeyBurst as Rate and Burst, so that a Tokens bucket
// can keep a key's tokens.
func (l Limits) KeyLimits() Limits {
	return Limits{Rate: l.PerKeyRate, Burst: l.PerKeyBurst}
}

// Validate checks l, returning a *FieldError naming the bad field.
func (l Limits) Validate() error {
	bad := func(field, reason string) error { return &FieldError{Index: -1, Field: field, Reason: reason} }
	for _, r := range []struct{ field, rate string }{{"Rate", l.Rate}, {"PerKeyRate", l.PerKeyRate}} {
		if r.rate != "" {
			if _, err := ratelimit.Parse(r.rate); err != nil {
				return bad(r.field, "must be N/s, N/m or N/h with N a positive number")
			}
		}
	}
	for _, b := range []struct {
		field string
		n     int
	}{{"Burst", l.Burst}, {"PerKeyBurst", l.PerKeyBurst}} {
		if b.n < 0 || b.n > MaxBurst {
			return bad(b.field, fmt.Sprintf("must be between 0 and %d", MaxBurst))
		}
	}
	if l.Key != "" {
		if err := checkKeyPath(l.Key); err != nil {
			return bad("Key", err.Error())
		}
	}
	switch {
	case l.PerKeyConcurrency < 0:
		return bad("PerKeyConcurrency", "must not be negative")
	case l.Key == "" && (l.PerKeyConcurrency != 0 || l.PerKeyRate != "" || l.PerKeyBurst != 0 || len(l.Weights) != 0 || l.Order != ""):
		return bad("Key", "must be set with per-key limits, weights or order")
	case l.PerKeyBurst != 0 && l.PerKeyRate == "":
		return bad("PerKeyBurst", "needs PerKeyRate")
	case l.Burst != 0 && l.Rate == "":
		return bad("Burst", "needs Rate")
	case l.Order != "" && l.Order != OrderFIFO:
		return bad("Order", `must be "" or "fifo"`)
	case l.Order == OrderFIFO && l.PerKeyConcurrency != 1:
		return bad("PerKeyConcurrency", `must be 1 with order "fifo"`)
	case len(l.Weights) > MaxWeights:
		return bad("Weights", fmt.Sprintf("must have at most %d keys", MaxWeights))
	}
	for _, k := range slices.Sorted(maps.Keys(l.Weights)) {
		if w := l.Weights[k]; w < 1 || w > MaxWeight {
			return bad("Weights", fmt.Sprintf("weight of key %q must be between 1 and %d", k, MaxWeight))
		}
		if len(k) > MaxLimitKey {
			return bad("Weights", fmt.Sprintf("key %.20q… is longer than %d bytes", k, MaxLimitKey))
		}
	}
	return nil
}

// LimitStore is an optional capability of a Driver, found with As: a store
// that keeps queue limits and applies them in Claim. Both stores of this
// module have it; a driver without it limits nothing.
type LimitStore interface {
	// SetLimits records the limits of a queue, durably; zero Limits remove
	// them. It works on queues that have no jobs yet, and the queue then
	// exists (Queues lists it). QueueInfo.Limits reports them.
	SetLimits(ctx context.Context, p *SetLimitsParams) error
}

// SetLimitsParams are the arguments of LimitStore.SetLimits.
type SetLimitsParams struct {
	Queue  string
	Limits Limits
	// Now starts the queue's bucket full, when its rate changes.
	Now time.Time
}

// CheckSetLimits checks p as every driver's SetLimits does.
func CheckSetLimits(p *SetLimitsParams) error {
	if err := CheckName("Queue", p.Queue); err != nil {
		return err
	}
	return p.Limits.Validate()
}

// Tokens is a queue's token bucket as a store keeps it: the tokens it held
// at Last.
type Tokens struct {
	N    float64
	Last time.Time
}

// Take takes up to n tokens from b at now under l's rate, and returns how
// many it took. A bucket never set (zero Last) starts full. With no rate,
// every n is taken.
func (b *Tokens) Take(l Limits, now time.Time, n int) int {
	perSecond, burst := l.Bucket()
	if perSecond == 0 {
		return n
	}
	if b.Last.IsZero() {
		b.N, b.Last = float64(burst), now
	}
	b.N = ratelimit.Refill(b.N, perSecond, float64(burst), b.Last, now)
	if now.After(b.Last) {
		b.Last = now
	}
	got := min(n, int(b.N))
	b.N -= float64(got)
	return got
}

// Wait returns how long until b holds a whole token under l's rate.
func (b *Tokens) Wait(l Limits) time.Duration {
	perSecond, _ := l.Bucket()
	return TokenWait(b.N, perSecond)
}

// TokenWait returns how long a bucket holding tokens and refilling at
// perSecond takes to hold a whole token; zero when it holds one, or has
// no rate.
func TokenWait(tokens, perSecond float64) time.Duration {
	if perSecond <= 0 {
		return 0
	}
	return ratelimit.Until(tokens, perSecond)
}

// TokenStore is an optional capability of a Driver, found with As: named
// token buckets kept in the store, shared by every node on it, for a rate
// that is not a queue's (a push target's). They are the same buckets as
// queue limits: tokens refill at Limits' rate up to its burst, a new or
// changed bucket starts full. Bucket names contain a '/', which no queue
// name does, so they never meet a queue's. Both stores of this module have
// it (PostgreSQL: a row of the queues table that Queues does not list;
// embedded: in memory, one process has the data dir); a driver without it
// leaves the caller to a bucket of its own.
type TokenStore interface {
	// TakeTokens gives back p.Give tokens, then takes up to p.Take whole
	// tokens from bucket p.Bucket at p.Now.
	TakeTokens(ctx context.Context, p *TakeTokensParams) (*TakeTokensResult, error)
}

// TakeTokensParams are the arguments of TokenStore.TakeTokens.
type TakeTokensParams struct {
	// Bucket names the bucket: a '/' then 1-128 characters of a name.
	Bucket string
	// Limits is the bucket's rate and burst (Rate must be set); when they
	// differ from those stored, the bucket restarts full with them.
	Limits Limits
	// Give returns unused tokens (taken before and not spent), at most up
	// to the burst; Take is how many to take, at most.
	Give, Take int
	Now        time.Time
}

// TakeTokensResult is the outcome of TokenStore.TakeTokens.
type TakeTokensResult struct {
	// Took is how many tokens were taken, 0 to Take.
	Took int
	// Wait, when Took is below Take, is how long until the bucket holds a
	// whole token again.
	Wait time.Duration
}

// CheckTakeTokens checks p as every driver's TakeTokens does.
func CheckTakeTokens(p *TakeTokensParams) error {
	name, ok := strings.CutPrefix(p.Bucket, "/")
	if !ok || name == "" {
		return &FieldError{Index: -1, Field: "Bucket", Reason: "must be a '/' and a name"}
	}
	if err := CheckName("Bucket", strings.ReplaceAll(name, "/", ".")); err != nil {
		return err
	}
	if p.Limits.Zero() {
		return &FieldError{Index: -1, Field: "Limits.Rate", Reason: "must be set"}
	}
	if p.Give < 0 || p.Take < 0 {
		return &FieldError{Index: -1, Field: "Take", Reason: "Give and Take must not be negative"}
	}
	return p.Limits.Validate()
}

// Give returns n tokens to b, up to l's burst.
func (b *Tokens) Give(l Limits, n int) {
	if n <= 0 || b.Last.IsZero() {
		return
	}
	_, burst := l.Bucket()
	b.N = min(b.N+float64(n), float64(burst))
}

// LimitStatsStore is an optional capability of a Driver, found with As:
// a store that reports how its queue limits hold jobs back, for metrics
// and the dashboard. Both stores of this module have it.
type LimitStatsStore interface {
	// LimitStats reports the limits of one queue as they stand at p.Now:
	// nil when the queue has no limits.
	LimitStats(ctx context.Context, p *LimitStatsParams) (*LimitStats, error)
}

// LimitStatsParams are the arguments of LimitStatsStore.LimitStats.
type LimitStatsParams struct {
	Queue string
	// MaxKeys caps LimitStats.Keys: the keys with the most available jobs
	// come first. Zero means none.
	MaxKeys int
	Now     time.Time
}

// LimitStats is how a queue's limits stand.
type LimitStats struct {
	Limits Limits
	// Tokens is what the queue's bucket holds, when it has a Rate.
	Tokens float64
	// Held counts the queue's available jobs that a limit holds back
	// now: all of them while the queue's bucket is empty, else those of
	// keys at their PerKeyConcurrency, out of per-key tokens, or behind
	// the head of their sequence. Stores may count it approximately.
	Held int
	// Keys counts the queue's keys with available or running jobs, and
	// TopKeys shows up to MaxKeys of them.
	Keys    int
	TopKeys []KeyStats
}

// KeyStats is how one key of a queue stands.
type KeyStats struct {
	Key                string
	Available, Running int
	// Tokens is what the key's bucket holds, when the queue has a
	// PerKeyRate.
	Tokens float64
	// Held reports whether a limit holds the key's available jobs back.
	Held bool
}

// Package ratelimit is a token bucket: a rate such as "200/s" with a
// burst, taken by callers that wait for tokens. It keeps no goroutine and
// reads the time through an injected clock.
package ratelimit

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Rate is a number of events per period.
type Rate struct {
	N   float64
	Per time.Duration
}

// PerSecond returns the rate in events per second.
func (r Rate) PerSecond() float64 { return r.N / r.Per.Seconds() }

// String returns the rate as Parse reads it.
func (r Rate) String() string {
	unit := map[time.Duration]string{time.Second: "s", time.Minute: "m", time.Hour: "h"}[r.Per]
	return strconv.FormatFloat(r.N, 'f', -1, 64) + "/" + unit
}

// Parse reads a rate "N/s", "N/m" or "N/h" with N a positive number.
func Parse(s string) (Rate, error) {
	n, unit, ok := strings.Cut(s, "/")
	if !ok {
		return Rate{}, fmt.Errorf("gantry: rate %q: want N/s, N/m or N/h", s)
	}
	per := map[string]time.Duration{"s": time.Second, "m": time.Minute, "h": time.Hour}[unit]
	v, err := strconv.ParseFloat(n, 64)
	if per == 0 || err != nil || !(v > 0) || math.IsInf(v, 0) {
		return Rate{}, fmt.Errorf("gantry: rate %q: want a positive number per s, m or h, as 200/s", s)
	}
	return Rate{N: v, Per: per}, nil
}

// Bucket is a token bucket: tokens accrue at its rate up to its burst. Its
// methods are safe for concurrent use.
type Bucket struct {
	mu     sync.Mutex
	rate   float64 // tokens per second
	burst  float64
	tokens float64
	last   time.Time
	now    func() time.Time
}

// NewBucket returns a full bucket of rate r holding at most burst tokens
// (at least 1). now is the clock; nil means time.Now.
func NewBucket(r Rate, burst int, now func() time.Time) *Bucket {
	if now == nil {
		now = time.Now
	}
	b := &Bucket{rate: r.PerSecond(), burst: float64(max(burst, 1)), now: now}
	b.tokens, b.last = b.burst, now()
	return b
}

// refill adds the tokens accrued from the last call to now; b.mu is held.
func (b *Bucket) refill(now time.Time) {
	if now.After(b.last) {
		b.tokens = Refill(b.tokens, b.rate, b.burst, b.last, now)
		b.last = now
	}
}

// Take takes up to n whole tokens at once and returns how many it took,
// and, when it took none, how long until one is there.
func (b *Bucket) Take(n int) (int, time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill(b.now())
	return b.take(n)
}

// TakeAt is Take at the time now rather than the bucket's clock, for
// callers that are handed the time (a store's claim). A now before the
// last one adds no tokens.
func (b *Bucket) TakeAt(now time.Time, n int) (int, time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill(now)
	return b.take(n)
}

// take takes up to n whole tokens; b.mu is held and tokens are refilled.
func (b *Bucket) take(n int) (int, time.Duration) {
	got := min(n, int(b.tokens))
	if got > 0 {
		b.tokens -= float64(got)
		return got, 0
	}
	return 0, Until(b.tokens, b.rate)
}

// Tokens returns the tokens the bucket holds now, a fraction included.
func (b *Bucket) Tokens() float64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill(b.now())
	return b.tokens
}

// Until returns how long a bucket holding tokens (less than one) and
// refilling at perSecond takes to hold one whole token.
func Until(tokens, perSecond float64) time.Duration {
	if tokens >= 1 {
		return 0
	}
	return time.Duration(math.Ceil((1 - tokens) / perSecond * float64(time.Second)))
}

// Refill returns the tokens of a bucket that held tokens at last, at now:
// what accrued at perSecond since then, up to burst.
func Refill(tokens, perSecond, burst float64, last, now time.Time) float64 {
	if d := now.Sub(last); d > 0 {
		tokens += d.Seconds() * perSecond
	}
	return math.Min(burst, tokens)
}

// Return gives back n tokens taken but not used.
func (b *Bucket) Return(n int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.tokens = math.Min(b.burst, b.tokens+float64(n))
}

// Wait takes up to n tokens, waiting for at least one, and returns how
// many it took; it returns ctx's error if ctx ends first.
func (b *Bucket) Wait(ctx context.Context, n int) (int, error) {
	for {
		got, wait := b.Take(n)
		if got > 0 {
			return got, nil
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return 0, ctx.Err()
		}
	}
}

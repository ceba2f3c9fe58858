package push

import (
	"context"
	"math"
	"sync"
	"time"
)

// Defaults of a Limiter.
const (
	// DefaultBackoffRatio is the multiplicative decrease on overload.
	DefaultBackoffRatio = 0.9
	// DefaultTolerance is how far above its baseline a round's mean
	// latency may go before it counts as overload: 1.5 times the baseline,
	// well below the doubling that one request queued at a saturated target
	// costs every request (docs/decisions/0012).
	DefaultTolerance = 1.5
	// DefaultBaselineWindow is how long a minimum latency stays the
	// baseline: the baseline is the least latency of the last one to two
	// windows, so that it follows a downstream whose base latency moved.
	DefaultBaselineWindow = 10 * time.Second
	// probeRounds is how many good rounds the limit waits before it grows
	// past the limit of the last decrease.
	probeRounds = 4
)

// Sample is how one request that held a slot of a Limiter went.
type Sample struct {
	// Latency is how long the request took.
	Latency time.Duration
	// Overload: the target said it is overloaded (429, 503) or the
	// request timed out.
	Overload bool
	// Ignore: the request says nothing of the target's health (a 4xx
	// about the job, a request cancelled at shutdown).
	Ignore bool
}

// Limiter bounds the requests in flight to one target, and adapts the
// bound between min and max with AIMD (additive increase, multiplicative
// decrease; Chiu and Jain 1989, as in TCP congestion avoidance and the
// AIMD limit of Netflix's concurrency-limits) on a latency signal as in TCP
// Vegas (Brakmo and Peterson 1995): the baseline is the least latency seen
// lately. Samples are taken in rounds of one per slot (about one round
// trip); a round whose mean latency is above DefaultTolerance times the
// baseline multiplies the limit by DefaultBackoffRatio, and so does any
// overload at once; any other round adds one, but only if at least half
// the limit was in use during it, so that an idle target does not earn a
// large limit. Samples of requests that started before the limit last
// changed are left out, so that each round judges the limit in force, and
// one congestion event decreases the limit once.
//
// Acquire is meant for one goroutine (the target's dispatcher); Release
// and the readers are safe from any.
type Limiter struct {
	mu          sync.Mutex
	min, max    float64
	limit       float64
	inFlight    int
	ratio, tol  float64
	window      time.Duration
	minCur      time.Duration // least latency of the current window
	minPrev     time.Duration // and of the one before
	windowStart time.Time
	lastChange  time.Time // of the limit
	// the current round: samples, their summed latency, and whether at
	// least half the limit was in use during it
	roundN    int
	roundSum  time.Duration
	roundUsed bool
	// lastMax is the limit at the last decrease; good counts the good
	// rounds since the last change.
	lastMax float64
	good    int
	now     func() time.Time
	wake    chan struct{}
}

// NewLimiter returns a limiter between lo and hi (1 <= lo <= hi) that
// starts at lo. now is the clock; nil means time.Now.
func NewLimiter(lo, hi int, now func() time.Time) *Limiter {
	if lo < 1 || hi < lo {
		panic("push: NewLimiter needs 1 <= lo <= hi")
	}
	if now == nil {
		now = time.Now
	}
	return &Limiter{
		min: float64(lo), max: float64(hi), limit: float64(lo),
		ratio: DefaultBackoffRatio, tol: DefaultTolerance, window: DefaultBaselineWindow,
		now: now, windowStart: now(), wake: make(chan struct{}, 1),
	}
}

// Limit returns the current limit.
func (l *Limiter) Limit() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return int(l.limit)
}

// InFlight returns the slots held.
func (l *Limiter) InFlight() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.inFlight
}

// Free returns how many slots are free now.
func (l *Limiter) Free() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return max(int(l.limit)-l.inFlight, 0)
}

// Slot is a slot taken from a Limiter; Release gives it back.
type Slot struct {
	l     *Limiter
	Start time.Time
}

// Acquire takes a slot, waiting while the limit is reached, or returns
// ctx's error.
func (l *Limiter) Acquire(ctx context.Context) (*Slot, error) {
	for {
		l.mu.Lock()
		if l.inFlight < int(l.limit) {
			l.inFlight++
			s := &Slot{l: l, Start: l.now()}
			l.mu.Unlock()
			return s, nil
		}
		l.mu.Unlock()
		select {
		case <-l.wake:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Release gives the slot back and adapts the limit to how its request
// went.
func (s *Slot) Release(smp Sample) {
	l := s.l
	l.mu.Lock()
	l.inFlight--
	if !smp.Ignore {
		l.update(s.Start, smp)
	}
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// update adapts the limit; l.mu is held. Samples of requests that started
// before the limit last changed are left out: they tell of the limit
// before, and would hide the effect of an increase for a round.
func (l *Limiter) update(start time.Time, smp Sample) {
	now := l.now()
	if now.Sub(l.windowStart) >= l.window {
		l.minPrev, l.minCur, l.windowStart = l.minCur, 0, now
	}
	if !smp.Overload && smp.Latency > 0 && (l.minCur == 0 || smp.Latency < l.minCur) {
		l.minCur = smp.Latency
	}
	if start.Before(l.lastChange) {
		return
	}
	if smp.Overload {
		l.decrease(now)
		return
	}
	l.roundN++
	l.roundSum += smp.Latency
	l.roundUsed = l.roundUsed || 2*(l.inFlight+1) >= int(l.limit)
	// A round is about one request per slot, so about one round trip; a
	// slow half round is enough to decrease, since at an overloaded target
	// the rest of the round would take the longest.
	n := int(l.limit)
	if l.roundN < (n+1)/2 {
		return
	}
	avg := l.roundSum / time.Duration(l.roundN)
	if base := l.baseline(); base > 0 && float64(avg) > l.tol*float64(base) {
		l.decrease(now)
		return
	}
	if l.roundN < n {
		return
	}
	if l.roundUsed {
		l.good++
		// Going back to the limit of the last decrease costs every request
		// if the target is still saturated there: do it only after
		// probeRounds good rounds (as BIC and CUBIC slow down near the last
		// maximum); elsewhere grow by one a round.
		if math.Abs(l.limit+1-l.lastMax) >= 1 || l.good >= probeRounds {
			l.limit = math.Min(l.max, l.limit+1)
			l.lastChange = now
			l.good = 0
		}
	}
	l.roundN, l.roundSum, l.roundUsed = 0, 0, false
}

// decrease multiplies the limit by the ratio and starts a new round; l.mu
// is held.
func (l *Limiter) decrease(now time.Time) {
	l.lastMax = l.limit
	l.good = 0
	l.limit = math.Max(l.min, math.Floor(l.limit*l.ratio))
	l.lastChange = now
	l.roundN, l.roundSum, l.roundUsed = 0, 0, false
}

// baseline is the least latency of the last one or two windows; l.mu is
// held.
func (l *Limiter) baseline() time.Duration {
	switch {
	case l.minPrev == 0:
		return l.minCur
	case l.minCur == 0:
		return l.minPrev
	}
	return min(l.minCur, l.minPrev)
}

// TryAcquire takes a slot if one is free now, or returns nil.
func (l *Limiter) TryAcquire() *Slot {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.inFlight >= int(l.limit) {
		return nil
	}
	l.inFlight++
	return &Slot{l: l, Start: l.now()}
}

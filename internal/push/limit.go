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
	mu       sync.Mutex
	min, max float64
	limit    float64
	inFlight int
	gen      uint64 // of the limit: how many times it changed
	rule     rule
	now      func() time.Time
	wake     chan struct{}
}

// A rule adapts a Limiter's limit to each sample; stale says the
// request's slot was taken before the limit last changed. l.mu is held.
// The rule of Gantry is aimd; the tests compare it with others.
type rule interface {
	update(l *Limiter, stale bool, smp Sample)
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
	t := now()
	return &Limiter{
		min: float64(lo), max: float64(hi), limit: float64(lo),
		rule: &aimd{windowStart: t},
		now:  now, wake: make(chan struct{}, 1),
	}
}

// set sets the limit, within [min, max]; l.mu is held.
func (l *Limiter) set(limit float64) {
	l.limit = math.Max(l.min, math.Min(l.max, limit))
	l.gen++
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
	l   *Limiter
	gen uint64 // the limit's when the slot was taken
}

// Acquire takes a slot, waiting while the limit is reached, or returns
// ctx's error.
func (l *Limiter) Acquire(ctx context.Context) (*Slot, error) {
	for {
		l.mu.Lock()
		if l.inFlight < int(l.limit) {
			l.inFlight++
			s := &Slot{l: l, gen: l.gen}
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
		l.rule.update(l, s.gen != l.gen, smp)
	}
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// aimd is the rule of a Limiter (see Limiter).
type aimd struct {
	minCur, minPrev time.Duration // least latency of the current window and of the one before
	windowStart     time.Time
	// the current round: samples, their summed latency, and whether at
	// least half the limit was in use during it
	roundN    int
	roundSum  time.Duration
	roundUsed bool
	// lastMax is the limit at the last decrease; good counts the good
	// rounds since the last change.
	lastMax float64
	good    int
}

// update adapts the limit. Samples of requests whose slot was taken
// before the limit last changed (stale) are left out: they tell of the
// limit before, and would hide the effect of an increase for a round.
func (a *aimd) update(l *Limiter, stale bool, smp Sample) {
	now := l.now()
	if now.Sub(a.windowStart) >= DefaultBaselineWindow {
		a.minPrev, a.minCur, a.windowStart = a.minCur, 0, now
	}
	if !smp.Overload && smp.Latency > 0 && (a.minCur == 0 || smp.Latency < a.minCur) {
		a.minCur = smp.Latency
	}
	if stale {
		return
	}
	if smp.Overload {
		a.decrease(l)
		return
	}
	a.roundN++
	a.roundSum += smp.Latency
	a.roundUsed = a.roundUsed || 2*(l.inFlight+1) >= int(l.limit)
	// A round is about one request per slot, so about one round trip; a
	// slow half round is enough to decrease, since at an overloaded target
	// the rest of the round would take the longest.
	n := int(l.limit)
	if a.roundN < (n+1)/2 {
		return
	}
	avg := a.roundSum / time.Duration(a.roundN)
	if base := a.baseline(); base > 0 && float64(avg) > DefaultTolerance*float64(base) {
		a.decrease(l)
		return
	}
	if a.roundN < n {
		return
	}
	if a.roundUsed {
		a.good++
		// Going back to the limit of the last decrease costs every request
		// if the target is still saturated there: do it only after
		// probeRounds good rounds (as BIC and CUBIC slow down near the last
		// maximum); elsewhere grow by one a round.
		if math.Abs(l.limit+1-a.lastMax) >= 1 || a.good >= probeRounds {
			l.set(l.limit + 1)
			a.good = 0
		}
	}
	a.roundN, a.roundSum, a.roundUsed = 0, 0, false
}

// decrease multiplies the limit by the ratio and starts a new round.
func (a *aimd) decrease(l *Limiter) {
	a.lastMax = l.limit
	a.good = 0
	l.set(math.Floor(l.limit * DefaultBackoffRatio))
	a.roundN, a.roundSum, a.roundUsed = 0, 0, false
}

// baseline is the least latency of the last one or two windows.
func (a *aimd) baseline() time.Duration {
	switch {
	case a.minPrev == 0:
		return a.minCur
	case a.minCur == 0:
		return a.minPrev
	}
	return min(a.minCur, a.minPrev)
}

// TryAcquire takes a slot if one is free now, or returns nil.
func (l *Limiter) TryAcquire() *Slot {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.inFlight >= int(l.limit) {
		return nil
	}
	l.inFlight++
	return &Slot{l: l, gen: l.gen}
}

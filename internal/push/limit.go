package push

import (
	"context"
	"math"
	"slices"
	"sync"
	"time"
)

// Defaults of a Limiter.
const (
	// DefaultBackoffRatio is the multiplicative decrease on overload.
	DefaultBackoffRatio = 0.9
	// DefaultTolerance is how far above its baseline a round's median
	// latency may go before it counts as overload: 1.5 times the baseline,
	// well below the doubling that one request queued at a saturated target
	// costs every request (docs/decisions/0012).
	DefaultTolerance = 1.5
	// DefaultBaselineWindow is how long a round's median latency stays in
	// the baseline: the baseline is the least round median of the last one
	// to two windows, so that it follows a downstream whose base latency
	// moved.
	DefaultBaselineWindow = 10 * time.Second
	// probeWaitMin and probeWaitMax bound how many good rounds the limit
	// waits before it steps up to a limit whose step last failed (the
	// ceiling): the wait doubles with each failed probe and halves when a
	// probe holds.
	probeWaitMin = 4
	probeWaitMax = 64
	// stepMargin: a step up from n fails when the mean latency grew by
	// more than this times (n+1)/n, so that the throughput, by Little's
	// law n over the mean latency, did not grow (5% allows for noise).
	stepMargin = 1.05
	// roundMin is the fewest samples of a round, so that its median means
	// something at a small limit too.
	roundMin = 8
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
// Vegas (Brakmo and Peterson 1995), probing past the last limit that
// failed less and less often, as BBR's bandwidth probing does (Cardwell et
// al. 2016).
//
// Samples are taken in rounds of one per slot (about one round trip),
// counting only requests that started after the limit last changed, so
// that each round judges the limit in force and one congestion event
// decreases the limit once. A round's signal is its median latency, so
// that a few slow samples (a busy machine's scheduling delays) do not
// count as queueing; the baseline is the least round median of the last
// 10 to 20 s. A round whose median passes DefaultTolerance times the
// baseline (judged after half a round already) multiplies the limit by
// DefaultBackoffRatio, and so does any overload at once. Any other round
// adds one if at least half the limit was in use during it (an idle target
// earns nothing), except that the step to the ceiling, the limit whose
// first round last failed, waits for 4 to 64 good rounds: each failed
// probe doubles the wait, each probe that holds halves it and lifts the
// ceiling. At a steady downstream the limit thus sits one below its
// capacity and pays for a probe once every 64 rounds.
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
		rule: &aimd{ratio: DefaultBackoffRatio, tol: DefaultTolerance, window: DefaultBaselineWindow,
			windowStart: t, wait: probeWaitMin},
		now: now, wake: make(chan struct{}, 1),
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
	ratio, tol  float64
	window      time.Duration
	minCur      time.Duration // least round median of the current window
	minPrev     time.Duration // and of the one before
	windowStart time.Time
	// the current round: its latencies, and whether at least half the
	// limit was in use during it; warm is how many samples after a change
	// are left out before the round starts
	round []time.Duration
	used  bool
	warm  int
	// ceil is the limit whose first round last failed (0: none); a step up
	// to it waits for wait good rounds, counted in good. stepped: the limit
	// was just raised and no round has judged it yet.
	ceil    float64
	wait    int
	good    int
	stepped bool
	// prevMean is the trimmed mean latency of the last good round; slow
	// counts the slow rounds in a row.
	prevMean time.Duration
	slow     int
	// settled: the limit decreased at least once.
	settled bool
}

// update adapts the limit. Samples of requests that started before the
// limit last changed are left out: they tell of the limit before, and
// would hide the effect of an increase for a round.
func (a *aimd) update(l *Limiter, stale bool, smp Sample) {
	if stale {
		return
	}
	now := l.now()
	if smp.Overload {
		a.decrease(l)
		return
	}
	// Until the first decrease, the limit grows by one a round trip (a
	// round of one sample per slot, no warm-up), as TCP's slow start
	// grows fast until the first loss.
	if a.warm > 0 && a.settled {
		a.warm--
		return
	}
	a.round = append(a.round, smp.Latency)
	a.used = a.used || 2*(l.inFlight+1) >= int(l.limit)
	if n := int(l.limit); len(a.round) < n || a.settled && len(a.round) < roundMin {
		return
	}
	slices.Sort(a.round)
	med, mean := a.round[len(a.round)/2], trimmedMean(a.round)
	base := a.baseline()
	a.observe(now, med)
	slow := base > 0 && float64(med) > a.tol*float64(base)
	if slow {
		a.slow++
	} else {
		a.slow = 0
	}
	switch {
	case slow && (a.stepped || a.slow >= 2):
		// One slow round right after a step condemns it; at a limit that
		// held, a slow round may be the machine, so two in a row decrease.
		a.decrease(l)
	case slow:
	case a.stepped && float64(mean)*(l.limit-1) >= stepMargin*float64(a.prevMean)*l.limit:
		// By Little's law the step cost more in latency than it brought
		// in requests in flight: the target's throughput did not grow.
		a.fail(l)
	case a.used:
		a.prevMean = mean
		a.grow(l)
	}
	a.round, a.used = a.round[:0], false
}

// trimmedMean is the mean of sorted latencies but the slowest eighth, so
// that a stray slow sample does not count.
func trimmedMean(sorted []time.Duration) time.Duration {
	keep := sorted[:len(sorted)-len(sorted)/8]
	var sum time.Duration
	for _, d := range keep {
		sum += d
	}
	return sum / time.Duration(len(keep))
}

// grow follows a good round in which the limit was in use.
func (a *aimd) grow(l *Limiter) {
	a.stepped = false
	if a.ceil > 0 && l.limit >= a.ceil {
		// The probe held: the target takes more than it did.
		a.ceil, a.wait = 0, max(probeWaitMin, a.wait/2)
	}
	if a.ceil > 0 && l.limit+1 >= a.ceil {
		if a.good++; a.good < a.wait {
			return
		}
		a.good = 0
	}
	if l.limit < l.max {
		l.set(l.limit + 1)
		a.stepped, a.warm = true, int(l.limit)
	}
}

// fail undoes a step up that did not raise the target's throughput: the
// limit goes back and becomes the ceiling.
func (a *aimd) fail(l *Limiter) {
	a.failed(l)
	l.set(l.limit - 1)
	a.round, a.used, a.warm = a.round[:0], false, int(l.limit)
}

// failed marks the limit, just reached by a step that failed, as the
// ceiling; if the step was a probe of the ceiling, the next waits twice as
// long.
func (a *aimd) failed(l *Limiter) {
	if a.ceil > 0 && l.limit >= a.ceil {
		a.wait = min(2*a.wait, probeWaitMax)
	}
	a.ceil, a.good, a.stepped, a.settled = l.limit, 0, false, true
}

// decrease multiplies the limit by the ratio and starts a new round. A
// decrease in the first round after a step up makes that limit the
// ceiling; if the step was a probe of the ceiling, the next waits twice as
// long.
func (a *aimd) decrease(l *Limiter) {
	if a.stepped {
		a.failed(l)
	}
	a.stepped = false
	l.set(math.Floor(l.limit * a.ratio))
	a.round, a.used, a.warm, a.slow, a.settled = a.round[:0], false, int(l.limit), 0, true
}

// observe adds a round's median to the baseline's window.
func (a *aimd) observe(now time.Time, med time.Duration) {
	if now.Sub(a.windowStart) >= a.window {
		a.minPrev, a.minCur, a.windowStart = a.minCur, 0, now
	}
	if med > 0 && (a.minCur == 0 || med < a.minCur) {
		a.minCur = med
	}
}

// baseline is the least round median of the last one or two windows.
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

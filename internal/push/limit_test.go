package push

import (
	"container/heap"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// Bounds of the wait of probing, in good rounds.
const (
	probeWaitMin = 4
	probeWaitMax = 64
)

// newProbingLimiter returns a Limiter of [lo, hi] with the rule probing.
func newProbingLimiter(lo, hi int, now func() time.Time) *Limiter {
	l := NewLimiter(lo, hi, now)
	l.rule = &probing{ratio: DefaultBackoffRatio, tol: DefaultTolerance, window: DefaultBaselineWindow,
		windowStart: l.now(), wait: probeWaitMin}
	return l
}

// probing is a candidate rule, compared with the rule of Gantry in
// TestLimiterSimulated and make bench-push (decision 0012): the rule of
// Gantry, but the step up to the ceiling (the limit whose first round last
// failed) waits for probeWaitMin to probeWaitMax good rounds, doubling
// with each failed probe and halving when one holds, as BBR probes for
// bandwidth less often once it has found it.
type probing struct {
	ratio, tol  float64
	window      time.Duration
	minCur      time.Duration // least latency of the current window
	minPrev     time.Duration // and of the one before
	windowStart time.Time
	// the current round: samples, their summed latency, and whether at
	// least half the limit was in use during it
	roundN    int
	roundSum  time.Duration
	roundUsed bool
	// lastMax is the limit at the last decrease; good counts the good
	// rounds since the last step to it or to the ceiling.
	lastMax float64
	good    int
	// ceil is the limit whose first round last failed (0: none); a step up
	// to it waits for wait good rounds. stepped: the limit was just raised
	// and no round has judged it yet.
	ceil    float64
	wait    int
	stepped bool
}

// update adapts the limit. Samples of requests that started before the
// limit last changed are left out (stale): they tell of the limit before,
// and would hide the effect of an increase for a round.
func (a *probing) update(l *Limiter, stale bool, smp Sample) {
	now := l.now()
	if now.Sub(a.windowStart) >= a.window {
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
	if base := a.baseline(); base > 0 && float64(avg) > a.tol*float64(base) {
		a.decrease(l)
		return
	}
	if a.roundN < n {
		return
	}
	if a.roundUsed {
		a.grow(l)
	}
	a.roundN, a.roundSum, a.roundUsed = 0, 0, false
}

// grow follows a good round in which the limit was in use.
func (a *probing) grow(l *Limiter) {
	a.stepped = false
	if a.ceil > 0 && l.limit >= a.ceil {
		// The probe held: the target takes more than it did.
		a.ceil, a.wait = 0, max(probeWaitMin, a.wait/2)
	}
	a.good++
	// Going back to the limit of the last decrease costs every request if
	// the target is still saturated there: do it only after probeWaitMin
	// good rounds (as BIC and CUBIC slow down near the last maximum), and
	// to the ceiling only after wait good rounds; elsewhere grow by one a
	// round.
	switch {
	case a.ceil > 0 && l.limit+1 >= a.ceil:
		if a.good < a.wait {
			return
		}
	case math.Abs(l.limit+1-a.lastMax) < 1:
		if a.good < probeWaitMin {
			return
		}
	}
	a.good = 0
	if l.limit < l.max {
		l.set(l.limit + 1)
		a.stepped = true
	}
}

// decrease multiplies the limit by the ratio and starts a new round. A
// decrease in the first round after a step up makes that limit the
// ceiling; if the step was a probe of the ceiling, the next waits twice as
// long.
func (a *probing) decrease(l *Limiter) {
	if a.stepped {
		if a.ceil > 0 && l.limit >= a.ceil {
			a.wait = min(2*a.wait, probeWaitMax)
		}
		a.ceil = l.limit
	}
	a.stepped, a.good, a.lastMax = false, 0, l.limit
	l.set(math.Floor(l.limit * a.ratio))
	a.roundN, a.roundSum, a.roundUsed = 0, 0, false
}

// baseline is the least latency of the last one or two windows.
func (a *probing) baseline() time.Duration {
	switch {
	case a.minPrev == 0:
		return a.minCur
	case a.minCur == 0:
		return a.minPrev
	}
	return min(a.minCur, a.minPrev)
}

// noise is what a machine adds to a request beside the downstream's
// base time, each part exponential with the mean given: Gap before the
// request reaches the downstream, In while it is there (a late wake from
// its sleep; plus Spike for a share Spikes of the requests), Out after its
// answer.
type noise struct {
	Gap, In, Out, Spike time.Duration
	Spikes              float64
}

func exp(r *rand.Rand, mean time.Duration) time.Duration {
	return time.Duration(r.ExpFloat64() * float64(mean))
}

func (n noise) in(r *rand.Rand) time.Duration {
	d := exp(r, n.In)
	if r.Float64() < n.Spikes {
		d += n.Spike
	}
	return d
}

// simRun is one simulated run: the limit every 100 ms, and the requests
// answered from skip on.
type simRun struct {
	limits []int
	served int
	errors int
	took   time.Duration
}

func (r *simRun) goodput() float64 { return float64(r.served) / r.took.Seconds() }

// simulate drives lim against the downstream (base latency L, a
// capacity that capacity gives at each instant; the downstream of drive)
// in virtual time, with every slot in use, for dur.
func simulate(lim *Limiter, clock *time.Time, L time.Duration, capacity func(time.Duration) int, nz noise, dur, skip time.Duration) *simRun {
	rng := rand.New(rand.NewPCG(1, 2))
	start := *clock
	out := &simRun{took: dur - skip}
	var q reqHeap
	inside := 0              // requests at the downstream
	next := time.Duration(0) // of the next limit tick
	for {
		el := clock.Sub(start)
		for ; next <= el; next += 100 * time.Millisecond {
			out.limits = append(out.limits, lim.Limit())
		}
		if el >= dur {
			return out
		}
		for s := lim.TryAcquire(); s != nil; s = lim.TryAcquire() {
			heap.Push(&q, &simReq{slot: s, start: *clock, at: clock.Add(exp(rng, nz.Gap))})
		}
		r := heap.Pop(&q).(*simReq)
		*clock = r.at
		switch r.phase {
		case 0: // reaches the downstream
			inside++
			c := capacity(clock.Sub(start))
			r.phase = 1
			if inside > 2*c {
				r.overload = true
				r.at = clock.Add(100 * time.Microsecond)
			} else {
				r.at = clock.Add(L*time.Duration(1+max(inside-c, 0)) + nz.in(rng))
			}
			heap.Push(&q, r)
		case 1: // answered
			inside--
			r.phase = 2
			r.at = clock.Add(exp(rng, nz.Out))
			heap.Push(&q, r)
		default: // back at the client
			r.slot.Release(Sample{Latency: clock.Sub(r.start), Overload: r.overload})
			if clock.Sub(start) >= skip {
				if r.overload {
					out.errors++
				} else {
					out.served++
				}
			}
		}
	}
}

type simReq struct {
	slot     *Slot
	start    time.Time
	at       time.Time // of the next phase
	phase    int       // 0: on the way, 1: at the downstream, 2: answered
	overload bool
}

type reqHeap []*simReq

func (h reqHeap) Len() int           { return len(h) }
func (h reqHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h reqHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *reqHeap) Push(x any)        { *h = append(*h, x.(*simReq)) }
func (h *reqHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// TestLimiterSimulated checks the rule of Gantry in virtual time, against
// the downstream of the issue (L = 10 ms, C = 16) on a quiet and on a busy
// machine: the limit within 20% of C within 10 s, errors below 1%, and
// following C when it halves and comes back. Its goodput, and that of the
// candidate rule probing, are reported beside the best fixed concurrency;
// probing must reach 90% of it (the bound, which the rule of
// Gantry misses: decision 0012).
func TestLimiterSimulated(t *testing.T) {
	t.Parallel()
	const L, C = 10 * time.Millisecond, 16
	steady := func(time.Duration) int { return C }
	halving := func(el time.Duration) int {
		if el >= 10*time.Second && el < 20*time.Second {
			return C / 2
		}
		return C
	}
	for _, tc := range []struct {
		name  string
		noise noise
		// check: the bounds hold; the loaded machine (a late wake of 3 ms
		// on average beside L = 10 ms, 5% of 30 ms) is only reported: there
		// the latency signal reads the machine as queueing, with either
		// rule (docs/decisions/0012).
		check bool
	}{
		{"quiet", noise{Gap: 50 * time.Microsecond, In: 100 * time.Microsecond, Out: 50 * time.Microsecond}, true},
		{"busy", noise{Gap: 200 * time.Microsecond, In: time.Millisecond, Out: 200 * time.Microsecond, Spike: 20 * time.Millisecond, Spikes: 0.02}, true},
		{"loaded", noise{Gap: 500 * time.Microsecond, In: 3 * time.Millisecond, Out: 500 * time.Microsecond, Spike: 30 * time.Millisecond, Spikes: 0.05}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			run := func(newLim func(lo, hi int, now func() time.Time) *Limiter, lo, hi int, capacity func(time.Duration) int, dur, skip time.Duration) *simRun {
				clock := time.Unix(0, 0)
				return simulate(newLim(lo, hi, func() time.Time { return clock }), &clock, L, capacity, tc.noise, dur, skip)
			}
			fixed, bestN := 0.0, 0
			for n := C - 4; n <= C+4; n++ {
				if g := run(NewLimiter, n, n, steady, 5*time.Second, time.Second).goodput(); g > fixed {
					fixed, bestN = g, n
				}
			}
			ad := run(NewLimiter, 1, 64, steady, 20*time.Second, 10*time.Second)
			cand := run(newProbingLimiter, 1, 64, steady, 20*time.Second, 10*time.Second)
			t.Logf("goodput: best fixed %d %.0f/s; adaptive %.0f/s (%.1f%%), median limit %d; probing %.0f/s (%.1f%%), median limit %d",
				bestN, fixed, ad.goodput(), 100*ad.goodput()/fixed, median(ad.limits[100:]), cand.goodput(), 100*cand.goodput()/fixed, median(cand.limits[100:]))
			if !tc.check {
				return
			}
			if cand.goodput() < 0.9*fixed {
				t.Errorf("probing: goodput %.0f/s is below 90%% of the best fixed (%d: %.0f/s); limits %v", cand.goodput(), bestN, fixed, cand.limits)
			}
			if s := settledAt(ad.limits, C, 0.2); s < 0 || s > 100 {
				t.Errorf("the limit did not settle within 20%% of %d within 10 s (tick %d); limits %v", C, s, ad.limits)
			}
			if e := float64(ad.errors) / float64(ad.served+ad.errors); e >= 0.01 {
				t.Errorf("error rate after settling %.2f%%", 100*e)
			}
			ch := run(NewLimiter, 1, 64, halving, 30*time.Second, 0)
			down, up := firstWithin(ch.limits[100:200], C/2, 0.2), firstWithin(ch.limits[200:], C, 0.2)
			mDown, mUp := median(ch.limits[100+max(down, 0):200]), median(ch.limits[200+max(up, 0):])
			t.Logf("C halves: within 20%% after %d ticks, median %d; C back: after %d ticks, median %d", down, mDown, up, mUp)
			if down < 0 || up < 0 || mDown < C/2*8/10 || mDown > C/2*12/10 || mUp < C*8/10 || mUp > C*12/10 {
				t.Errorf("the limit did not follow the capacity: %d, %d ticks; limits %v", down, up, ch.limits)
			}
		})
	}
}

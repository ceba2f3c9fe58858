package httpapi

import (
	"math"
	"time"
)

// The drain-rate estimate behind Retry-After of a full queue.
const (
	// rateWindow is how far back the drain rate looks.
	rateWindow = 10 * time.Second
	// rateMinSpan is the shortest span of samples that gives an estimate.
	rateMinSpan = 500 * time.Millisecond
	// rateMaxSamples bounds the samples kept per queue.
	rateMaxSamples = 128
	// retryAfterUnknown is the Retry-After when the rate is unknown.
	retryAfterUnknown = 5 * time.Second
	// retryAfterMin and retryAfterMax clamp a computed Retry-After.
	retryAfterMin = time.Second
	retryAfterMax = 60 * time.Second
)

// rateSample is a queue's count of finished jobs at a time.
type rateSample struct {
	at       time.Time
	finished int64
}

// drainRate estimates how fast a queue drains (jobs finished per second)
// from successive snapshots of its count of finished jobs. It is not safe
// for concurrent use.
type drainRate struct {
	samples []rateSample
}

// add records that the queue had finished jobs at time at. Samples older
// than the newest are ignored. A count that went down (retention deleted
// finished jobs) starts the window afresh.
func (d *drainRate) add(at time.Time, finished int64) {
	if n := len(d.samples); n > 0 {
		last := d.samples[n-1]
		if !at.After(last.at) {
			return
		}
		if finished < last.finished {
			d.samples = d.samples[:0]
		}
	}
	// Samples closer than rateWindow/rateMaxSamples to the one before the
	// newest replace the newest, so that frequent snapshots neither grow
	// the window nor shorten the span it covers.
	if n := len(d.samples); n >= 2 && at.Sub(d.samples[n-2].at) < rateWindow/rateMaxSamples {
		d.samples[n-1] = rateSample{at: at, finished: finished}
	} else {
		d.samples = append(d.samples, rateSample{at: at, finished: finished})
	}
	// Keep one sample at or before the window's start, so that the window
	// is spanned whole.
	cut := at.Add(-rateWindow)
	drop := 0
	for drop+1 < len(d.samples) && !d.samples[drop+1].at.After(cut) {
		drop++
	}
	if over := len(d.samples) - drop - rateMaxSamples; over > 0 {
		drop += over
	}
	if drop > 0 {
		d.samples = append(d.samples[:0], d.samples[drop:]...)
	}
}

// rate returns the jobs finished per second over the window, and false
// when the samples span too short a time to tell.
func (d *drainRate) rate() (float64, bool) {
	if len(d.samples) < 2 {
		return 0, false
	}
	first, last := d.samples[0], d.samples[len(d.samples)-1]
	span := last.at.Sub(first.at)
	if span < rateMinSpan {
		return 0, false
	}
	return float64(last.finished-first.finished) / span.Seconds(), true
}

// retryAfter is how long a client should wait before the queue has room
// for its jobs: the excess (jobs that must finish first) divided by the
// drain rate, rounded up to whole seconds and clamped to [1s, 60s];
// retryAfterUnknown when the rate is unknown, and the maximum when the
// queue does not drain at all.
func retryAfter(excess int64, rate float64, known bool) time.Duration {
	switch {
	case !known || math.IsNaN(rate):
		return retryAfterUnknown
	case excess <= 0:
		return retryAfterMin
	case rate <= 0:
		return retryAfterMax
	}
	secs := math.Ceil(float64(excess) / rate)
	if secs >= retryAfterMax.Seconds() {
		return retryAfterMax
	}
	return max(time.Duration(secs)*time.Second, retryAfterMin)
}

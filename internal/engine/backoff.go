package engine

import (
	"math/rand/v2"
	"time"
)

// Bounds of Backoff.
const (
	BackoffBase = time.Second
	BackoffCap  = time.Hour
)

// Backoff is the default retry delay: exponential with full jitter, a
// uniformly random delay in [0, min(BackoffCap, BackoffBase*2^(attempt-1))).
// Full jitter spreads the retries of jobs that failed together, so a
// recovering downstream is not hit by all of them at once.
func Backoff(attempt int) time.Duration {
	return jittered(attempt, BackoffBase, BackoffCap, rand.Int64N)
}

// BackoffCeiling is the upper bound of Backoff for an attempt.
func BackoffCeiling(attempt int) time.Duration {
	return ceiling(attempt, BackoffBase, BackoffCap)
}

func ceiling(attempt int, base, limit time.Duration) time.Duration {
	if attempt < 1 {
		attempt = 1
	}
	d := base
	for i := 1; i < attempt; i++ {
		d *= 2
		if d >= limit {
			return limit
		}
	}
	return min(d, limit)
}

func jittered(attempt int, base, limit time.Duration, randN func(int64) int64) time.Duration {
	c := ceiling(attempt, base, limit)
	if c <= 0 {
		return 0
	}
	return time.Duration(randN(int64(c)))
}

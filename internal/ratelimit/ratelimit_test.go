package ratelimit

import (
	"context"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want float64 // per second; 0: an error
	}{
		{"200/s", 200}, {"3000/m", 50}, {"36/h", 0.01}, {"0.5/s", 0.5},
		{"", 0}, {"200", 0}, {"0/s", 0}, {"-1/s", 0}, {"1/d", 0}, {"x/s", 0}, {"NaN/s", 0}, {"Inf/s", 0},
	} {
		r, err := Parse(tc.in)
		switch {
		case tc.want == 0 && err == nil:
			t.Errorf("Parse(%q) = %v, want an error", tc.in, r)
		case tc.want != 0 && (err != nil || r.PerSecond() != tc.want):
			t.Errorf("Parse(%q) = %v/s, %v; want %v/s", tc.in, r.PerSecond(), err, tc.want)
		case err == nil && r.String() != tc.in:
			t.Errorf("Parse(%q).String() = %q", tc.in, r.String())
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"200/s", "3000/m", "1/h", "1e9/s", "/", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := Parse(s)
		if err != nil {
			return
		}
		if !(r.PerSecond() > 0) {
			t.Fatalf("Parse(%q) = %v, not positive", s, r)
		}
	})
}

func TestBucket(t *testing.T) {
	t.Parallel()
	now := time.Unix(0, 0)
	b := NewBucket(Rate{N: 10, Per: time.Second}, 5, func() time.Time { return now })
	if got, _ := b.Take(8); got != 5 {
		t.Fatalf("a full bucket of 5 gave %d", got)
	}
	got, wait := b.Take(1)
	if got != 0 || wait != 100*time.Millisecond {
		t.Fatalf("an empty bucket: %d, wait %v; want 0, 100ms", got, wait)
	}
	now = now.Add(250 * time.Millisecond)
	if got, _ := b.Take(5); got != 2 {
		t.Errorf("after 250ms at 10/s: %d tokens, want 2", got)
	}
	b.Return(3)
	if got, _ := b.Take(5); got != 3 {
		t.Errorf("after returning 3: %d, want 3", got)
	}
	now = now.Add(time.Hour)
	if got, _ := b.Take(100); got != 5 {
		t.Errorf("after an hour: %d, want the burst 5", got)
	}
}

func TestWaitEndsWithContext(t *testing.T) {
	t.Parallel()
	b := NewBucket(Rate{N: 1, Per: time.Hour}, 1, nil)
	if got, err := b.Wait(context.Background(), 3); got != 1 || err != nil {
		t.Fatalf("Wait = %d, %v", got, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := b.Wait(ctx, 1); err != context.DeadlineExceeded {
		t.Errorf("Wait on an empty bucket = %v, want the deadline", err)
	}
}

func TestBucketTakeAt(t *testing.T) {
	t.Parallel()
	start := time.Unix(100, 0)
	b := NewBucket(Rate{N: 50, Per: time.Second}, 10, func() time.Time { return start })
	// Over one simulated minute, taken in steps of 7ms, the bucket gives
	// its burst plus 50 a second.
	got := 0
	for now := start; now.Before(start.Add(time.Minute)); now = now.Add(7 * time.Millisecond) {
		n, wait := b.TakeAt(now, 100)
		if n == 0 && (wait <= 0 || wait > 20*time.Millisecond) {
			t.Fatalf("at %v: no token and a wait of %v", now.Sub(start), wait)
		}
		got += n
	}
	if got < 3009 || got > 3010 {
		t.Errorf("a minute at 50/s with burst 10 gave %d tokens, want 3010", got)
	}
	// A time before the last one adds nothing.
	if n, _ := b.TakeAt(start, 1); n != 0 {
		t.Errorf("a time in the past gave %d tokens", n)
	}
}

func TestUntilRefill(t *testing.T) {
	t.Parallel()
	if d := Until(0.5, 10); d != 50*time.Millisecond {
		t.Errorf("Until(0.5, 10) = %v, want 50ms", d)
	}
	if d := Until(1, 10); d != 0 {
		t.Errorf("Until(1, 10) = %v, want 0", d)
	}
	t0 := time.Unix(0, 0)
	if got := Refill(0, 10, 5, t0, t0.Add(200*time.Millisecond)); got != 2 {
		t.Errorf("Refill over 200ms at 10/s = %v, want 2", got)
	}
	if got := Refill(4, 10, 5, t0, t0.Add(time.Second)); got != 5 {
		t.Errorf("Refill past the burst = %v, want 5", got)
	}
	if got := Refill(3, 10, 5, t0, t0.Add(-time.Second)); got != 3 {
		t.Errorf("Refill back in time = %v, want 3", got)
	}
}

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

package cron

import (
	"strings"
	"testing"
	"time"
)

// FuzzParse feeds Parse arbitrary specs: it must not panic, its errors must
// carry the package prefix, and every schedule it accepts must compute ticks
// that are strictly after their argument, on the tick grid, and consistent:
// nothing ticks between an argument and its result.
func FuzzParse(f *testing.F) {
	for _, spec := range validSpecs {
		f.Add(spec)
	}
	for _, tc := range invalidSpecs {
		f.Add(tc.spec)
	}
	times := []time.Time{
		{},
		time.Date(1969, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(2026, 3, 8, 6, 59, 30, 0, time.UTC),  // just before New York springs forward
		time.Date(2026, 11, 1, 5, 30, 0, 0, time.UTC),  // New York's repeated hour
		time.Date(2096, 2, 29, 12, 0, 0, 0, time.UTC),  // eight years to the next February 29th
		time.Date(9999, 12, 31, 23, 0, 0, 0, time.UTC), // near the end of ticks
	}
	f.Fuzz(func(t *testing.T, spec string) {
		s, err := Parse(spec)
		if err != nil {
			if s != nil {
				t.Errorf("Parse(%q) returned a schedule with error %v", spec, err)
			}
			if !strings.HasPrefix(err.Error(), "cron: ") {
				t.Errorf("Parse(%q) error %q lacks the cron: prefix", spec, err)
			}
			return
		}
		if s.String() != spec {
			t.Errorf("Parse(%q).String() = %q", spec, s.String())
		}
		for _, after := range times {
			next := s.Next(after)
			if next.IsZero() {
				continue
			}
			if !next.After(after) {
				t.Fatalf("%q: Next(%v) = %v, not after it", spec, after, next)
			}
			if next.Location() != s.Location() {
				t.Fatalf("%q: Next(%v) is in %v, want %v", spec, after, next.Location(), s.Location())
			}
			if s.every > 0 {
				if next.Nanosecond() != 0 || next.Unix()%int64(s.every/time.Second) != 0 {
					t.Fatalf("%q: Next(%v) = %v, not a multiple of the interval", spec, after, next)
				}
			} else if next.Second() != 0 || next.Nanosecond() != 0 {
				t.Fatalf("%q: Next(%v) = %v, not at second 0", spec, after, next)
			}
			if again := s.Next(next.Add(-time.Nanosecond)); !again.Equal(next) {
				t.Fatalf("%q: Next(%v) = %v, but Next(%v) = %v", spec, after, next, next.Add(-time.Nanosecond), again)
			}
			if later := s.Next(next); !later.IsZero() && !later.After(next) {
				t.Fatalf("%q: Next(%v) = %v, not after it", spec, next, later)
			}
		}
	})
}

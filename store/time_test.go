package store_test

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
)

func TestTimeWindow(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		t  time.Time
		ok bool
	}{
		{store.MinTime, false},
		{store.MinTime.Add(time.Nanosecond), true},
		{now, true},
		{store.MaxTime.Add(-time.Nanosecond), true},
		{store.MaxTime, false},
		{time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC), false},
		{time.Date(1677, 1, 1, 0, 0, 0, 0, time.UTC), false},
		{time.Time{}, false},
	} {
		if got := store.InWindow(tc.t); got != tc.ok {
			t.Errorf("InWindow(%s) = %v, want %v", tc.t, got, tc.ok)
		}
		if err := store.CheckTime("RunAt", tc.t); (err == nil) != tc.ok || (err != nil && !errors.Is(err, store.ErrInvalid)) {
			t.Errorf("CheckTime(%s) = %v", tc.t, err)
		}
	}
	for _, tc := range []struct {
		now time.Time
		d   time.Duration
		ok  bool
	}{
		{now, 0, true},
		{now, time.Hour, true},
		{now, store.MaxTime.Sub(now) - 1, true},
		{now, store.MaxTime.Sub(now), false},
		{now, math.MaxInt64, false},
		{now, -time.Hour, true},
		{now, math.MinInt64, false},
		{store.MaxTime, 0, false},
		{time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC), 20 * 365 * 24 * time.Hour, false},
	} {
		err := store.CheckAfter("Delay", tc.now, tc.d)
		var fe *store.FieldError
		if (err == nil) != tc.ok || (err != nil && (!errors.As(err, &fe) || fe.Field != "Delay")) {
			t.Errorf("CheckAfter(%s, %v) = %v, want ok %v", tc.now, tc.d, err, tc.ok)
		}
	}
	if got := store.AddCapped(now, math.MaxInt64); !store.InWindow(got) || got.Before(now) {
		t.Errorf("AddCapped(now, max) = %s, want a time in the window after now", got)
	}
	if got := store.AddCapped(now, time.Hour); !got.Equal(now.Add(time.Hour)) {
		t.Errorf("AddCapped(now, 1h) = %s", got)
	}
}

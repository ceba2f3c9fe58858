package cron

import (
	"math/bits"
	"time"
)

// Horizon is how far ahead of its argument Next looks for a tick. It is more
// than the eight years between two February 29ths across a century that is not
// a leap year (2096 to 2104), so every schedule that can tick is found.
const Horizon = 10 * 366 * 24 * time.Hour

// maxSegments bounds the number of time zone offset changes Next walks
// through; Horizon holds a few dozen in any real zone.
const maxSegments = 1000

// endOfTime bounds the ticks Next returns: it returns the zero Time rather
// than a tick at or after the start of year 10000, which keeps its arithmetic
// far from overflow.
var endOfTime = time.Date(10000, time.January, 1, 0, 0, 0, 0, time.UTC)

// Schedule is a parsed schedule spec. It is immutable and safe for concurrent
// use. Make one with Parse.
type Schedule struct {
	spec string
	loc  *time.Location

	// every is the interval of an @every schedule, zero otherwise.
	every time.Duration

	// Bit sets of the values each field matches: bit i is value i. Day of
	// week holds Sunday in bit 0 only.
	minute, hour, dom, month, dow uint64
	// domStar and dowStar record a `*` day-of-month or day-of-week field,
	// which turns the other day field's OR rule into AND.
	domStar, dowStar bool
	// followsElapsed is set when the minute or hour field starts with `*`:
	// wall-clock times repeated by a daylight-saving transition tick again.
	followsElapsed bool
}

// String returns the spec the schedule was parsed from, as given.
func (s *Schedule) String() string { return s.spec }

// Location returns the location whose wall clock the schedule follows: UTC
// unless the spec named another.
func (s *Schedule) Location() *time.Location { return s.location() }

func (s *Schedule) location() *time.Location {
	if s.loc == nil {
		return time.UTC
	}
	return s.loc
}

// Next returns the first tick strictly after after, in the schedule's
// location. Ticks fall on second 0 of a matching minute of the wall clock; for
// @every, on the multiples of the interval since the Unix epoch.
//
// Next returns the zero Time when the schedule has no tick within Horizon
// after after, as for `0 0 30 2 *` (February 30th), or when the tick would
// fall in year 10000 or later. It does a bounded amount of work whatever the
// schedule. Around daylight-saving transitions it follows the rules of the
// package documentation: a wall-clock time skipped by the transition does not
// tick.
func (s *Schedule) Next(after time.Time) time.Time {
	if !after.Before(endOfTime) {
		return time.Time{}
	}
	var next time.Time
	if s.every > 0 {
		next = s.nextEvery(after)
	} else {
		next = s.nextCron(after)
	}
	if next.IsZero() || !next.Before(endOfTime) {
		return time.Time{}
	}
	return next.In(s.location())
}

// nextEvery returns the first multiple of s.every since the Unix epoch that
// is strictly after after.
func (s *Schedule) nextEvery(after time.Time) time.Time {
	// after is before year 10000 and s.every at most 292 years, so nothing
	// here comes near overflowing.
	d := int64(s.every / time.Second)
	u := after.Unix() // floored to the second
	k := u / d
	if u%d != 0 && u < 0 {
		k-- // floor, not truncation
	}
	return time.Unix((k+1)*d, 0)
}

// nextCron walks the segments of constant UTC offset of the location from
// after, looking in each for the first matching wall-clock minute.
func (s *Schedule) nextCron(after time.Time) time.Time {
	loc := s.location()
	horizon := after.Add(Horizon)
	if horizon.After(endOfTime) {
		horizon = endOfTime
	}
	from, inclusive := after, false
	for range maxSegments {
		t := from.In(loc)
		_, off := t.Zone()
		start, end := t.ZoneBounds()
		limit := horizon
		if !end.IsZero() && end.Before(limit) {
			limit = end
		}
		lo := wall(from, off)
		if !s.followsElapsed && !start.IsZero() {
			// After clocks go back, the wall-clock times below the one the
			// previous offset reached have ticked already.
			_, prevOff := start.Add(-time.Nanosecond).Zone()
			if prevOff > off {
				if seen := wall(start, prevOff); seen.After(lo) {
					lo, inclusive = seen, true
				}
			}
		}
		if w, ok := s.match(lo, inclusive, wall(limit, off)); ok {
			return w.Add(-time.Duration(off) * time.Second)
		}
		if end.IsZero() || !end.Before(horizon) || !end.After(from) {
			return time.Time{}
		}
		from, inclusive = end, true
	}
	return time.Time{}
}

// wall returns the wall-clock reading of t at the UTC offset off, as a UTC
// time.
func wall(t time.Time, off int) time.Time {
	return t.UTC().Add(time.Duration(off) * time.Second)
}

// match returns the first matching wall-clock minute in [lo, hi), or in
// (lo, hi) unless inclusive. All three are wall-clock readings in UTC.
func (s *Schedule) match(lo time.Time, inclusive bool, hi time.Time) (time.Time, bool) {
	t := lo.Truncate(time.Minute)
	if t.Before(lo) || !inclusive && t.Equal(lo) {
		t = t.Add(time.Minute)
	}
	// Each pass moves t to the next month, day, hour or matching minute, so
	// the loop runs a few times per day of Horizon at most.
	for t.Before(hi) {
		y, mo, d := t.Date()
		h, mi, _ := t.Clock()
		switch {
		case s.month&(1<<uint(mo)) == 0:
			t = time.Date(y, mo+1, 1, 0, 0, 0, 0, time.UTC)
		case !s.dayMatches(d, t.Weekday()):
			t = time.Date(y, mo, d+1, 0, 0, 0, 0, time.UTC)
		case s.hour&(1<<uint(h)) == 0:
			if nh := nextBit(s.hour, h); nh >= 0 {
				t = time.Date(y, mo, d, nh, 0, 0, 0, time.UTC)
			} else {
				t = time.Date(y, mo, d+1, 0, 0, 0, 0, time.UTC)
			}
		case s.minute&(1<<uint(mi)) == 0:
			if nm := nextBit(s.minute, mi); nm >= 0 {
				t = time.Date(y, mo, d, h, nm, 0, 0, time.UTC)
			} else {
				t = time.Date(y, mo, d, h+1, 0, 0, 0, time.UTC)
			}
		default:
			return t, true
		}
	}
	return time.Time{}, false
}

// dayMatches applies the day-of-month and day-of-week fields to a day: both
// must match when either is `*`, one is enough when both are restricted.
func (s *Schedule) dayMatches(dom int, dow time.Weekday) bool {
	domOK := s.dom&(1<<uint(dom)) != 0
	dowOK := s.dow&(1<<uint(dow)) != 0
	if s.domStar || s.dowStar {
		return domOK && dowOK
	}
	return domOK || dowOK
}

// nextBit returns the lowest value in set above i, or -1.
func nextBit(set uint64, i int) int {
	if i >= 63 {
		return -1
	}
	rest := set &^ (1<<uint(i+1) - 1)
	if rest == 0 {
		return -1
	}
	return bits.TrailingZeros64(rest)
}

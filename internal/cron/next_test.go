package cron

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// mustParse parses spec or fails the test.
func mustParse(t testing.TB, spec string) *Schedule {
	t.Helper()
	s, err := Parse(spec)
	if err != nil {
		t.Fatalf("Parse(%q): %v", spec, err)
	}
	return s
}

// mustTime parses an RFC 3339 time or fails the test.
func mustTime(t testing.TB, text string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339Nano, text)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

func TestNext(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		spec string
		from string
		// want are the successive ticks after from, in RFC 3339 in the
		// schedule's location.
		want []string
	}{
		// Every minute; strictly after, at second 0.
		{"* * * * *", "2026-03-14T10:00:00Z", []string{"2026-03-14T10:01:00Z", "2026-03-14T10:02:00Z"}},
		{"* * * * *", "2026-03-14T10:00:59.999999999Z", []string{"2026-03-14T10:01:00Z"}},
		{"* * * * *", "2026-03-14T09:59:59.999999999Z", []string{"2026-03-14T10:00:00Z"}},
		{"* * * * *", "2026-12-31T23:59:30Z", []string{"2027-01-01T00:00:00Z"}},
		// Steps, ranges, lists.
		{"*/15 * * * *", "2026-03-14T10:07:00Z", []string{"2026-03-14T10:15:00Z", "2026-03-14T10:30:00Z", "2026-03-14T10:45:00Z", "2026-03-14T11:00:00Z"}},
		{"5/20 * * * *", "2026-03-14T10:00:00Z", []string{"2026-03-14T10:05:00Z", "2026-03-14T10:25:00Z", "2026-03-14T10:45:00Z", "2026-03-14T11:05:00Z"}},
		{"10-20/5 3 * * *", "2026-03-14T03:12:00Z", []string{"2026-03-14T03:15:00Z", "2026-03-14T03:20:00Z", "2026-03-15T03:10:00Z"}},
		{"0 0,12 1,15 * *", "2026-03-01T06:00:00Z", []string{"2026-03-01T12:00:00Z", "2026-03-15T00:00:00Z", "2026-03-15T12:00:00Z", "2026-04-01T00:00:00Z"}},
		{"0 */6 * * *", "2026-03-14T13:00:00Z", []string{"2026-03-14T18:00:00Z", "2026-03-15T00:00:00Z"}},
		{"30 9-17 * * MON-FRI", "2026-03-13T17:30:00Z", []string{"2026-03-16T09:30:00Z", "2026-03-16T10:30:00Z"}},
		// Names.
		{"0 0 1 JAN,jul *", "2026-02-01T00:00:00Z", []string{"2026-07-01T00:00:00Z", "2027-01-01T00:00:00Z"}},
		{"0 0 * * sun", "2026-03-14T10:00:00Z", []string{"2026-03-15T00:00:00Z", "2026-03-22T00:00:00Z"}},
		{"0 0 * * 7", "2026-03-14T10:00:00Z", []string{"2026-03-15T00:00:00Z", "2026-03-22T00:00:00Z"}},
		// Day of week alone, day of month alone, and both (either matches).
		{"0 0 * * FRI", "2026-03-01T00:00:00Z", []string{"2026-03-06T00:00:00Z", "2026-03-13T00:00:00Z", "2026-03-20T00:00:00Z"}},
		{"0 0 13 * *", "2026-03-01T00:00:00Z", []string{"2026-03-13T00:00:00Z", "2026-04-13T00:00:00Z"}},
		{"0 0 13 * FRI", "2026-03-01T00:00:00Z", []string{
			"2026-03-06T00:00:00Z", "2026-03-13T00:00:00Z", "2026-03-20T00:00:00Z", "2026-03-27T00:00:00Z",
			"2026-04-03T00:00:00Z", "2026-04-10T00:00:00Z", "2026-04-13T00:00:00Z", "2026-04-17T00:00:00Z",
		}},
		{"0 0 */1 * FRI", "2026-03-01T00:00:00Z", []string{"2026-03-06T00:00:00Z", "2026-03-13T00:00:00Z"}},
		// Month boundaries and lengths.
		{"0 0 31 * *", "2026-01-31T00:00:00Z", []string{"2026-03-31T00:00:00Z", "2026-05-31T00:00:00Z", "2026-07-31T00:00:00Z", "2026-08-31T00:00:00Z"}},
		{"59 23 31 12 *", "2026-12-31T23:59:00Z", []string{"2027-12-31T23:59:00Z"}},
		{"0 0 1 * *", "2026-12-15T00:00:00Z", []string{"2027-01-01T00:00:00Z", "2027-02-01T00:00:00Z"}},
		// Leap years, including 2100, which is not one.
		{"0 0 29 2 *", "2026-01-01T00:00:00Z", []string{"2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"}},
		{"0 0 29 2 *", "2096-03-01T00:00:00Z", []string{"2104-02-29T00:00:00Z"}},
		{"0 0 29 2 *", "1999-03-01T00:00:00Z", []string{"2000-02-29T00:00:00Z"}},
		// Descriptors.
		{"@hourly", "2026-03-14T10:00:00Z", []string{"2026-03-14T11:00:00Z", "2026-03-14T12:00:00Z"}},
		{"@daily", "2026-03-14T10:00:00Z", []string{"2026-03-15T00:00:00Z", "2026-03-16T00:00:00Z"}},
		{"@weekly", "2026-03-14T10:00:00Z", []string{"2026-03-15T00:00:00Z", "2026-03-22T00:00:00Z"}},
		{"@monthly", "2026-03-14T10:00:00Z", []string{"2026-04-01T00:00:00Z", "2026-05-01T00:00:00Z"}},
		{"@yearly", "2026-03-14T10:00:00Z", []string{"2027-01-01T00:00:00Z", "2028-01-01T00:00:00Z"}},
		// @every is aligned to the Unix epoch.
		{"@every 5m", "2026-03-14T10:03:07Z", []string{"2026-03-14T10:05:00Z", "2026-03-14T10:10:00Z"}},
		{"@every 5m", "2026-03-14T10:05:00Z", []string{"2026-03-14T10:10:00Z"}},
		{"@every 1s", "2026-03-14T10:05:00.5Z", []string{"2026-03-14T10:05:01Z", "2026-03-14T10:05:02Z"}},
		{"@every 7m", "2026-03-14T10:00:00Z", []string{"2026-03-14T10:06:00Z", "2026-03-14T10:13:00Z"}},
		{"@every 1h30m", "2026-03-14T10:00:00Z", []string{"2026-03-14T10:30:00Z", "2026-03-14T12:00:00Z"}},
		{"@every 1h", "1969-12-31T22:30:00Z", []string{"1969-12-31T23:00:00Z", "1970-01-01T00:00:00Z", "1970-01-01T01:00:00Z"}},
		{"@every 7s", "1969-12-31T23:59:50Z", []string{"1969-12-31T23:59:53Z", "1970-01-01T00:00:00Z", "1970-01-01T00:00:07Z"}},
		// Time zones: ticks follow the wall clock of the location.
		{"CRON_TZ=America/New_York 0 9 * * *", "2026-03-14T00:00:00Z", []string{"2026-03-14T09:00:00-04:00", "2026-03-15T09:00:00-04:00"}},
		{"TZ=Asia/Kolkata 0 9 * * *", "2026-03-14T00:00:00Z", []string{"2026-03-14T09:00:00+05:30", "2026-03-15T09:00:00+05:30"}},
		{"TZ=Asia/Tokyo @every 1h", "2026-03-14T00:10:00Z", []string{"2026-03-14T10:00:00+09:00"}},
		// America/New_York springs forward on 2026-03-08 at 02:00 to 03:00:
		// 02:30 does not exist that day.
		{"TZ=America/New_York 30 2 * * *", "2026-03-07T12:00:00-05:00", []string{"2026-03-09T02:30:00-04:00", "2026-03-10T02:30:00-04:00"}},
		{"TZ=America/New_York */30 * * * *", "2026-03-08T01:00:00-05:00", []string{"2026-03-08T01:30:00-05:00", "2026-03-08T03:00:00-04:00", "2026-03-08T03:30:00-04:00"}},
		{"TZ=America/New_York 0 3 * * *", "2026-03-08T01:00:00-05:00", []string{"2026-03-08T03:00:00-04:00"}},
		// It falls back on 2026-11-01 at 02:00 to 01:00: a fixed time
		// ticks once, at its first occurrence ...
		{"TZ=America/New_York 30 1 * * *", "2026-10-31T12:00:00-04:00", []string{"2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00"}},
		{"TZ=America/New_York 30 1 * * *", "2026-11-01T01:10:00-05:00", []string{"2026-11-02T01:30:00-05:00"}},
		{"TZ=America/New_York 0,30 1 * * *", "2026-11-01T00:45:00-04:00", []string{"2026-11-01T01:00:00-04:00", "2026-11-01T01:30:00-04:00", "2026-11-02T01:00:00-05:00"}},
		{"TZ=America/New_York 0 2 * * *", "2026-11-01T01:30:00-04:00", []string{"2026-11-01T02:00:00-05:00"}},
		// ... and a schedule whose minute or hour starts with * follows
		// elapsed time through the repeated hour.
		{"TZ=America/New_York */30 * * * *", "2026-11-01T00:45:00-04:00", []string{
			"2026-11-01T01:00:00-04:00", "2026-11-01T01:30:00-04:00",
			"2026-11-01T01:00:00-05:00", "2026-11-01T01:30:00-05:00", "2026-11-01T02:00:00-05:00",
		}},
		{"TZ=America/New_York * 1 * * *", "2026-11-01T01:59:00-04:00", []string{"2026-11-01T01:00:00-05:00", "2026-11-01T01:01:00-05:00"}},
		{"TZ=America/New_York @hourly", "2026-11-01T00:30:00-04:00", []string{"2026-11-01T01:00:00-04:00", "2026-11-01T01:00:00-05:00", "2026-11-01T02:00:00-05:00"}},
		// Europe/Berlin falls back on 2026-10-25 at 03:00 to 02:00.
		{"TZ=Europe/Berlin 30 2 * * *", "2026-10-25T00:00:00+02:00", []string{"2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00"}},
		// Australia/Lord_Howe moves by half an hour: back from 02:00 to
		// 01:30 on 2026-04-05.
		{"TZ=Australia/Lord_Howe 45 1 * * *", "2026-04-05T00:00:00+11:00", []string{"2026-04-05T01:45:00+11:00", "2026-04-06T01:45:00+10:30"}},
		{"TZ=Australia/Lord_Howe 45 * * * *", "2026-04-05T01:00:00+11:00", []string{"2026-04-05T01:45:00+11:00", "2026-04-05T01:45:00+10:30", "2026-04-05T02:45:00+10:30"}},
		// America/Santiago springs forward at midnight: 2026-09-06 has no
		// 00:00.
		{"TZ=America/Santiago 0 0 * * *", "2026-09-05T12:00:00-04:00", []string{"2026-09-07T00:00:00-03:00"}},
	} {
		s := mustParse(t, tc.spec)
		from := mustTime(t, tc.from)
		var got []string
		for range tc.want {
			next := s.Next(from)
			got = append(got, next.Format(time.RFC3339Nano))
			if next.IsZero() {
				break
			}
			if next.Location() != s.Location() {
				t.Errorf("%q: Next(%v) is in %v, want %v", tc.spec, from, next.Location(), s.Location())
			}
			from = next
		}
		if strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Errorf("%q from %s:\n got %v\nwant %v", tc.spec, tc.from, got, tc.want)
		}
	}
}

// TestNextOddOffset checks that ticks fall on second 0 of the wall clock
// when the UTC offset is not whole minutes: Amsterdam kept +00:19:32 until
// 1937.
func TestNextOddOffset(t *testing.T) {
	t.Parallel()
	s := mustParse(t, "TZ=Europe/Amsterdam 0 12 * * *")
	got := s.Next(time.Date(1900, 6, 1, 0, 0, 0, 0, time.UTC))
	if want := time.Date(1900, 6, 1, 11, 40, 28, 0, time.UTC); !got.Equal(want) {
		t.Errorf("Next = %v, want %v", got, want)
	}
	if h, m, sec := got.Clock(); h != 12 || m != 0 || sec != 0 {
		t.Errorf("Next = %v, want 12:00:00 on the wall clock", got)
	}
}

func TestNextImpossible(t *testing.T) {
	t.Parallel()
	for _, spec := range []string{
		"0 0 30 2 *",
		"0 0 31 2 *",
		"0 0 30,31 2 *",
		"0 0 31 4,6,9,11 *",
		"* * 31 APR *",
		"TZ=America/New_York 0 0 30 2 *",
	} {
		s := mustParse(t, spec)
		for _, from := range []time.Time{
			time.Date(2026, 3, 14, 10, 0, 0, 0, time.UTC),
			time.Date(2096, 3, 1, 0, 0, 0, 0, time.UTC),
			{},
		} {
			if got := s.Next(from); !got.IsZero() {
				t.Errorf("%q: Next(%v) = %v, want the zero Time", spec, from, got)
			}
		}
	}
}

// TestNextEndOfTime checks that ticks stop before year 10000 and that times
// far from now neither overflow nor hang.
func TestNextEndOfTime(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		spec string
		from time.Time
		want time.Time
	}{
		{"0 0 1 1 *", time.Date(9998, 6, 1, 0, 0, 0, 0, time.UTC), time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"0 0 1 1 *", time.Date(9999, 6, 1, 0, 0, 0, 0, time.UTC), time.Time{}},
		{"* * * * *", time.Date(9999, 12, 31, 23, 59, 0, 0, time.UTC), time.Time{}},
		{"@every 1s", time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC), time.Time{}},
		{"@every 1s", time.Date(9999, 12, 31, 23, 59, 58, 0, time.UTC), time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)},
		{"* * * * *", time.Unix(1<<62, 0), time.Time{}},
		{"@every 2562047h", time.Unix(1<<62, 0), time.Time{}},
		{"* * * * *", time.Time{}, time.Date(1, 1, 1, 0, 1, 0, 0, time.UTC)},
		{"@every 1h", time.Time{}, time.Date(1, 1, 1, 1, 0, 0, 0, time.UTC)},
		{"* * * * *", time.Unix(-1<<62, 0), time.Unix(-1<<62, 0).Truncate(time.Minute).Add(time.Minute)},
	} {
		if got := mustParse(t, tc.spec).Next(tc.from); !got.Equal(tc.want) {
			t.Errorf("%q: Next(%v) = %v, want %v", tc.spec, tc.from, got, tc.want)
		}
	}
}

// randomSpec returns a random valid spec, biased towards schedules that
// tick often enough to be checked against a brute-force search.
func randomSpec(r *rand.Rand) string {
	item := func(min, max int, names []string) string {
		v := func() string {
			n := min + r.IntN(max-min+1)
			if names != nil && r.IntN(3) == 0 {
				return names[n-min]
			}
			return strconv.Itoa(n)
		}
		switch r.IntN(8) {
		case 0, 1:
			return "*"
		case 2:
			return "*/" + strconv.Itoa(1+r.IntN(max-min))
		case 3:
			a, b := min+r.IntN(max-min+1), min+r.IntN(max-min+1)
			if a > b {
				a, b = b, a
			}
			return strconv.Itoa(a) + "-" + strconv.Itoa(b)
		case 4:
			a := min + r.IntN(max-min+1)
			return strconv.Itoa(a) + "/" + strconv.Itoa(1+r.IntN(max-min))
		case 5:
			return v() + "," + v() + "," + v()
		default:
			return v()
		}
	}
	months := []string{"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"}
	days := []string{"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"}
	return strings.Join([]string{
		item(0, 59, nil), item(0, 23, nil), item(1, 31, nil), item(1, 12, months), item(0, 6, days),
	}, " ")
}

// bruteNextUTC is the specification of Next for a UTC cron schedule, written
// as plainly as possible: every minute of every matching day, in order.
func bruteNextUTC(s *Schedule, after time.Time) time.Time {
	day := time.Date(after.Year(), after.Month(), after.Day(), 0, 0, 0, 0, time.UTC)
	for end := after.Add(Horizon); day.Before(end); day = day.AddDate(0, 0, 1) {
		if s.month&(1<<uint(day.Month())) == 0 || !s.dayMatches(day.Day(), day.Weekday()) {
			continue
		}
		for m := range 24 * 60 {
			if s.hour&(1<<uint(m/60)) == 0 || s.minute&(1<<uint(m%60)) == 0 {
				continue
			}
			if t := day.Add(time.Duration(m) * time.Minute); t.After(after) && t.Before(end) {
				return t
			}
		}
	}
	return time.Time{}
}

// TestNextMatchesBruteForceUTC compares Next with bruteNextUTC on random
// schedules, impossible ones included, over the whole horizon.
func TestNextMatchesBruteForceUTC(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for range 2000 {
		spec := randomSpec(r)
		s := mustParse(t, spec)
		after := base.Add(time.Duration(r.Int64N(int64(200 * 366 * 24 * time.Hour))))
		if r.IntN(2) == 0 {
			after = after.Truncate(time.Minute)
		}
		want := bruteNextUTC(s, after)
		if got := s.Next(after); !got.Equal(want) {
			t.Fatalf("%q: Next(%v) = %v, want %v", spec, after, got, want)
		}
	}
}

// bruteNextIn is the specification of Next in a location whose offsets are
// whole minutes, over a short window: every minute of elapsed time, in
// order, skipping a repeated wall-clock time unless the schedule follows
// elapsed time.
func bruteNextIn(s *Schedule, after time.Time, window time.Duration) (time.Time, bool) {
	loc := s.Location()
	type reading struct{ y, mo, d, h, mi int }
	read := func(t time.Time) reading {
		y, mo, d := t.Date()
		h, mi, _ := t.Clock()
		return reading{y, int(mo), d, h, mi}
	}
	for u := after.Truncate(time.Minute).Add(time.Minute); u.Before(after.Add(window)); u = u.Add(time.Minute) {
		w := u.In(loc)
		if s.month&(1<<uint(w.Month())) == 0 || !s.dayMatches(w.Day(), w.Weekday()) ||
			s.hour&(1<<uint(w.Hour())) == 0 || s.minute&(1<<uint(w.Minute())) == 0 {
			continue
		}
		repeated := false
		if !s.followsElapsed {
			for back := time.Minute; back <= 3*time.Hour; back += time.Minute {
				if read(u.Add(-back).In(loc)) == read(w) {
					repeated = true
					break
				}
			}
		}
		if !repeated {
			return u, true
		}
	}
	return time.Time{}, false
}

// TestNextMatchesBruteForceZones compares Next with bruteNextIn on random
// schedules around the daylight-saving transitions of a few locations.
func TestNextMatchesBruteForceZones(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(3, 4))
	zones := []struct {
		name        string
		transitions []string
	}{
		{"America/New_York", []string{"2026-03-08T07:00:00Z", "2026-11-01T06:00:00Z"}},
		{"Europe/Berlin", []string{"2026-03-29T01:00:00Z", "2026-10-25T01:00:00Z"}},
		{"Australia/Lord_Howe", []string{"2026-04-04T15:00:00Z", "2026-10-03T15:30:00Z"}},
		{"America/Santiago", []string{"2026-04-05T03:00:00Z", "2026-09-06T04:00:00Z"}},
		{"Asia/Kolkata", []string{"2026-03-14T00:00:00Z"}},
	}
	const window = 36 * time.Hour
	for range 3000 {
		z := zones[r.IntN(len(zones))]
		tr := mustTime(t, z.transitions[r.IntN(len(z.transitions))])
		fields := strings.Fields(randomSpec(r))
		fields[2], fields[3] = "*", "*" // tick within the window
		if r.IntN(2) == 0 {
			fields[4] = "*"
		}
		spec := "TZ=" + z.name + " " + strings.Join(fields, " ")
		s := mustParse(t, spec)
		after := tr.Add(time.Duration(r.Int64N(int64(window))) - window/2)
		if r.IntN(2) == 0 {
			after = after.Truncate(time.Minute)
		}
		want, ok := bruteNextIn(s, after, window)
		got := s.Next(after)
		if ok && !got.Equal(want) || !ok && !got.IsZero() && got.Before(after.Add(window)) {
			t.Fatalf("%q: Next(%v) = %v, want %v (found %v)", spec, after, got, want, ok)
		}
	}
}

// TestNextProperties checks, for random schedules and times, that Next is
// strictly after its argument, that no tick is skipped between the argument
// and the result, and that Next is monotonic.
func TestNextProperties(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(5, 6))
	zones := []string{"", "TZ=America/New_York ", "TZ=Europe/Berlin ", "TZ=Australia/Lord_Howe ", "TZ=America/Santiago "}
	everies := []string{"@every 1s", "@every 7s", "@every 5m", "@every 1h30m", "@every 25h", "@daily", "@weekly"}
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for range 500 {
		spec := randomSpec(r)
		if r.IntN(4) == 0 {
			spec = everies[r.IntN(len(everies))]
		}
		spec = zones[r.IntN(len(zones))] + spec
		s := mustParse(t, spec)
		times := make([]time.Time, 20)
		for i := range times {
			times[i] = base.Add(time.Duration(r.Int64N(int64(3 * 366 * 24 * time.Hour))))
		}
		var prev, prevNext time.Time
		slices.SortFunc(times, time.Time.Compare)
		for i, after := range times {
			next := s.Next(after)
			if next.IsZero() {
				continue
			}
			if !next.After(after) {
				t.Fatalf("%q: Next(%v) = %v, not after it", spec, after, next)
			}
			if again := s.Next(next.Add(-time.Nanosecond)); !again.Equal(next) {
				t.Fatalf("%q: Next(%v) = %v but Next(%v) = %v", spec, after, next, next.Add(-time.Nanosecond), again)
			}
			if i > 0 && !prevNext.IsZero() && next.Before(prevNext) {
				t.Fatalf("%q: Next(%v) = %v before Next(%v) = %v", spec, after, next, prev, prevNext)
			}
			prev, prevNext = after, next
		}
	}
}

// TestNextConcurrent exercises one Schedule from several goroutines, for the
// race detector.
func TestNextConcurrent(t *testing.T) {
	t.Parallel()
	s := mustParse(t, "TZ=Europe/Berlin */7 * * * *")
	from := time.Date(2026, 3, 29, 0, 0, 0, 0, time.UTC)
	want := s.Next(from)
	done := make(chan time.Time)
	for range 4 {
		go func() { done <- s.Next(from) }()
	}
	for range 4 {
		if got := <-done; !got.Equal(want) {
			t.Errorf("concurrent Next = %v, want %v", got, want)
		}
	}
}

func BenchmarkNext(b *testing.B) {
	from := time.Date(2026, 3, 14, 10, 0, 0, 0, time.UTC)
	for _, spec := range []string{
		"* * * * *",
		"0 9-17 * * MON-FRI",
		"0 0 29 2 *",
		"0 0 30 2 *",
		"0 0 31 4,6,9,11 *",
		"TZ=America/New_York */5 * * * *",
		"@every 5m",
	} {
		s := mustParse(b, spec)
		b.Run(spec, func(b *testing.B) {
			for b.Loop() {
				s.Next(from)
			}
		})
	}
}

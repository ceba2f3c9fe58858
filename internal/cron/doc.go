// Package cron parses the schedules of Gantry's periodic jobs and computes
// their ticks: a periodic job is enqueued once per tick of its schedule.
//
// Schedules come from configuration files, so [Parse] is a trust boundary: it
// never panics, rejects anything it does not understand with an error that
// names the field and the bad value, and every [Schedule] it returns computes
// its next tick in bounded time.
//
// # Syntax
//
// A spec is either five fields separated by spaces,
//
//	minute  hour  day-of-month  month  day-of-week
//	0-59    0-23  1-31          1-12   0-6
//	                            JAN-DEC SUN-SAT (7 is Sunday too)
//
// or one of the descriptors
//
//	@yearly, @annually    0 0 1 1 *
//	@monthly              0 0 1 * *
//	@weekly               0 0 * * 0
//	@daily, @midnight     0 0 * * *
//	@hourly               0 * * * *
//	@every <duration>     every <duration>, aligned to the Unix epoch
//
// Each field is a comma-separated list of items; an item is `*` (every
// value), a value `a`, a range `a-b`, or one of these followed by a step:
// `*/n`, `a-b/n`, and `a/n` (meaning `a-max/n`). Month and weekday names are
// three letters, in any case. A range must not run backwards.
//
// When both day-of-month and day-of-week are restricted (neither is `*`), a
// day matches if either matches, as in Vixie cron: `0 0 1 * MON` runs on the
// first of the month and on every Monday. When one of them is `*`, the other
// alone decides.
//
// The duration of @every is a Go duration ([time.ParseDuration]) of at least
// one second and a whole number of seconds. Its ticks are the multiples of the
// duration since the Unix epoch, so every node computes the same ticks
// without coordination: @every 5m ticks at :00, :05, :10, ...
//
// # Time zones
//
// Ticks are wall-clock times in UTC unless the spec starts with a
// CRON_TZ=Area/City or TZ=Area/City prefix, which names an IANA location
// loaded with [time.LoadLocation]. "Local" is refused, since it would make the
// schedule mean different times on different machines. A program that may run
// where no time zone database is installed should import [time/tzdata].
//
// Around daylight-saving transitions a schedule follows the wall clock:
//
//   - A wall-clock time that does not exist (it falls in the hour skipped when
//     clocks go forward) is skipped: `30 2 * * *` in America/New_York does not
//     tick on the day clocks jump from 02:00 to 03:00.
//   - A wall-clock time that occurs twice (clocks go back) ticks once, at its
//     first occurrence, when the minute and hour fields are both fixed:
//     `30 1 * * *` ticks once a day. When the minute or the hour field starts
//     with `*`, the schedule follows elapsed time and ticks in both passes:
//     `*/15 * * * *` keeps ticking every fifteen minutes while the clock
//     repeats an hour. This is the rule of Vixie cron.
//
// @every schedules count elapsed time and ignore transitions.
package cron

package cron_test

import (
	"fmt"
	"time"

	"github.com/gantry-dev/gantry/internal/cron"
)

func ExampleParse() {
	s, err := cron.Parse("30 9 * * MON-FRI")
	if err != nil {
		panic(err)
	}
	t := time.Date(2026, 3, 13, 12, 0, 0, 0, time.UTC) // a Friday
	for range 3 {
		t = s.Next(t)
		fmt.Println(t.Format(time.RFC1123))
	}
	// Output:
	// Mon, 16 Mar 2026 09:30:00 UTC
	// Tue, 17 Mar 2026 09:30:00 UTC
	// Wed, 18 Mar 2026 09:30:00 UTC
}

func ExampleParse_error() {
	_, err := cron.Parse("61 * * * *")
	fmt.Println(err)
	_, err = cron.Parse("* * * *")
	fmt.Println(err)
	// Output:
	// cron: minute field "61": value 61 out of range 0-59
	// cron: expected 5 fields, got 4 in "* * * *"
}

func ExampleSchedule_Next_every() {
	// @every ticks are aligned to the Unix epoch, so every node agrees on
	// them.
	s, _ := cron.Parse("@every 5m")
	fmt.Println(s.Next(time.Date(2026, 3, 14, 10, 3, 7, 0, time.UTC)).Format(time.TimeOnly))
	// Output: 10:05:00
}

func ExampleSchedule_Next_timeZone() {
	// New York skips from 02:00 to 03:00 on 2026-03-08: 02:30 does not
	// exist that day, so that day has no tick.
	s, _ := cron.Parse("CRON_TZ=America/New_York 30 2 * * *")
	t := time.Date(2026, 3, 7, 12, 0, 0, 0, s.Location())
	fmt.Println(s.Next(t))
	// Output: 2026-03-09 02:30:00 -0400 EDT
}

func ExampleSchedule_Next_impossible() {
	s, _ := cron.Parse("0 0 30 2 *") // February 30th
	fmt.Println(s.Next(time.Now()).IsZero())
	// Output: true
}

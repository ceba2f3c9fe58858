// Package storetest is the conformance suite that every store driver passes.
//
// A driver's own tests call Run with a function that opens a fresh, empty
// store and registers its cleanup:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Driver {
//			s, err := embedded.Open(t.TempDir(), nil)
//			if err != nil {
//				t.Fatal(err)
//			}
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
//
// The suite never sleeps and never lets the store read a clock: every call
// carries an explicit Now that starts at a fixed base time and is advanced by
// hand, so lease expiry, scheduling and retention are tested in an instant.
// All times it uses have at most microsecond precision, which is what
// PostgreSQL keeps, and it compares them with time.Time.Equal, so a driver
// may return them in any location.
//
// The suite is grouped by concern (Enqueue, Transitions, Leases, Order,
// Unique, Idempotency, Pause, List, Counts, Prune, Times, Dependencies, Workflows, Spawn, Limits, Keys, SnoozeCap, Tokens, Notifier,
// Concurrency, Close); run one group or case with -run, e.g.
// -run 'TestConformance/Leases/Fenced'. Under testing.Short the concurrency
// tests use fewer jobs.
package storetest

import (
	"testing"

	"github.com/gantry-dev/gantry/store"
)

// Run runs the conformance suite against the driver that open returns.
//
// Every sub-test calls open once and works on that store alone, so open
// must return a new, empty driver each time and register whatever cleanup
// it needs (closing the driver, removing its files, dropping its database)
// with t.Cleanup. Sub-tests run in parallel, so open may be called from
// several goroutines at once. The Close tests close the driver themselves:
// the cleanup must tolerate a second Close and may ignore its error.
//
// The Notifier tests run only when the driver has a store.Notifier (store.As).
func Run(t *testing.T, open func(t *testing.T) store.Driver) {
	t.Helper()
	groups := []struct {
		name string
		run  func(t *testing.T, open opener)
	}{
		{"Enqueue", testEnqueue},
		{"Transitions", testTransitions},
		{"Leases", testLeases},
		{"Order", testOrder},
		{"Unique", testUnique},
		{"Idempotency", testIdempotency},
		{"Pause", testPause},
		{"List", testList},
		{"Counts", testCounts},
		{"Prune", testPrune},
		{"Times", testTimes},
		{"Dependencies", testDependencies},
		{"Workflows", testWorkflows},
		{"Spawn", testSpawn},
		{"Limits", testLimits},
		{"Keys", testKeys},
		{"SnoozeCap", testSnoozeCap},
		{"Tokens", testTokens},
		{"Notifier", testNotifier},
		{"Concurrency", testConcurrency},
		{"Nodes", testNodes},
		{"Close", testClose},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			g.run(t, open)
		})
	}
}

// opener opens a fresh, empty driver for one sub-test.
type opener = func(t *testing.T) store.Driver

// Package engines compares the embedded key-value engines Gantry could build
// its default store on, with the write patterns a job store has: many small
// synced writes from many goroutines (enqueue), from one goroutine, and a
// queue that inserts at the tail and deletes at the head.
//
// It is a separate module so that the engine that was not chosen never
// enters Gantry's own dependency graph. Run it with
//
//	go test -bench . -count 5 -benchtime 20000x
//
// and see docs/decisions/0001-embedded-engine.md for the figures.
package engines

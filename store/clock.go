package store

import (
	"context"
	"time"
)

// Clock is an optional capability of a Driver, found with As: the store's
// own time, so that every process sharing the store keeps one time
// whatever their system clocks say. PostgreSQL has it (the database
// server's clock). The engine follows a store's Clock (see
// engine.Config.Now); without one, each process uses its system clock.
type Clock interface {
	// StoreNow returns the store's current time.
	StoreNow(ctx context.Context) (time.Time, error)
}

package postgres

import (
	"context"
	"time"

	"github.com/gantry-dev/gantry/store"
)

var _ store.Clock = (*Store)(nil)

// StoreNow returns the database server's time (clock_timestamp()): the one
// clock of every node on the database, so that they agree on when leases
// end and jobs are due even when their own clocks are minutes apart.
func (s *Store) StoreNow(ctx context.Context) (time.Time, error) {
	if err := s.checkOpen(); err != nil {
		return time.Time{}, err
	}
	var t time.Time
	if err := s.pool.QueryRow(ctx, `SELECT clock_timestamp()`).Scan(&t); err != nil {
		return time.Time{}, s.wrap("clock", err)
	}
	return t, nil
}

package metrics

import (
	"context"

	"github.com/gantry-dev/gantry/store"
)

// InstrumentStore returns d with its Enqueue counted in m, so that every
// enqueue path (HTTP, the Go API, periodic jobs) feeds
// gantry_jobs_enqueued_total without a hook of its own. The wrapper gives
// d back with Unwrap, so store.As finds every optional capability of d
// (store.Notifier, store.Elector) through it.
func InstrumentStore(d store.Driver, m *Metrics) store.Driver {
	return &instrumented{Driver: d, m: m}
}

type instrumented struct {
	store.Driver
	m *Metrics
}

func (s *instrumented) Enqueue(ctx context.Context, p *store.EnqueueParams) (*store.EnqueueResult, error) {
	res, err := s.Driver.Enqueue(ctx, p)
	if err == nil && !res.Replayed {
		s.m.JobsEnqueued(res.Jobs)
	}
	return res, err
}

// Unwrap returns the store that was instrumented.
func (s *instrumented) Unwrap() store.Driver { return s.Driver }

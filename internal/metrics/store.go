package metrics

import (
	"context"

	"github.com/gantry-dev/gantry/store"
)

// InstrumentStore returns d with its Enqueue counted in m, so that every
// enqueue path (HTTP, the Go API, periodic jobs) feeds
// gantry_jobs_enqueued_total without a hook of its own. The wrapper keeps
// the optional store.Notifier capability when d has it; other optional
// interfaces are reachable through Unwrap.
func InstrumentStore(d store.Driver, m *Metrics) store.Driver {
	s := &instrumented{Driver: d, m: m}
	if n, ok := d.(store.Notifier); ok {
		return &instrumentedNotifier{instrumented: s, n: n}
	}
	return s
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

type instrumentedNotifier struct {
	*instrumented
	n store.Notifier
}

func (s *instrumentedNotifier) Notify(fn func([]store.Change)) (stop func()) { return s.n.Notify(fn) }

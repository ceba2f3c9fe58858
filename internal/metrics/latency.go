package metrics

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gantry-dev/gantry/store"
)

// ticketBuckets span a few milliseconds to a day: a ticket's latency
// includes its waits, its retries' backoffs and any delay it was enqueued
// with.
var ticketBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 3 * 3600, 6 * 3600, 24 * 3600}

// registerLatency adds gantry_job_end_to_end_seconds to m.
func (m *Metrics) registerLatency() {
	m.endToEnd = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: Namespace, Name: "job_end_to_end_seconds",
		Help:    "Ticket latency: from a job's enqueue to its final state (succeeded, failed, cancelled), by kind and that state.",
		Buckets: ticketBuckets,
	}, []string{"kind", "state"})
	m.reg.MustRegister(m.endToEnd)
}

// JobFinal observes the ticket latency of a job that reached a final
// state: from its creation to its finish. Other states are ignored, so
// callers may pass every job a transition returned.
func (m *Metrics) JobFinal(j *store.Job) {
	if j == nil || !j.State.Final() {
		return
	}
	end := j.FinishedAt
	if end.IsZero() {
		end = m.now()
	}
	m.endToEnd.WithLabelValues(m.kinds.value(j.Kind), string(j.State)).Observe(max(end.Sub(j.CreatedAt), 0).Seconds())
}

// Finish observes the jobs that the attempts' ends made final, whichever
// worker ended them (the client's own, or an external one over HTTP).
func (s *instrumented) Finish(ctx context.Context, p *store.FinishParams) (*store.FinishResult, error) {
	res, err := s.Driver.Finish(ctx, p)
	if err == nil {
		for _, j := range res.Jobs {
			s.m.JobFinal(j)
		}
	}
	return res, err
}

// Cancel observes the job that the cancel made final.
func (s *instrumented) Cancel(ctx context.Context, p *store.CancelParams) (*store.Job, error) {
	j, err := s.Driver.Cancel(ctx, p)
	if err == nil {
		s.m.JobFinal(j)
	}
	return j, err
}

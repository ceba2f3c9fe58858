package metrics_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/metrics"
	"github.com/gantry-dev/gantry/store"
	"github.com/gantry-dev/gantry/store/embedded"
)

// histogram returns the count and sum of the histogram called name with
// the label values given (as name=value pairs).
func histogram(t *testing.T, m *metrics.Metrics, name string, labels map[string]string) (uint64, float64) {
	t.Helper()
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, mt := range mf.GetMetric() {
			for _, lp := range mt.GetLabel() {
				if v, ok := labels[lp.GetName()]; ok && v != lp.GetValue() {
					continue metric
				}
			}
			return mt.GetHistogram().GetSampleCount(), mt.GetHistogram().GetSampleSum()
		}
	}
	return 0, 0
}

// JobFinal observes a final job's time from creation to finish, by kind
// and state, and ignores jobs that are not final.
func TestJobFinal(t *testing.T) {
	t.Parallel()
	m := setup(t, nil)
	m.JobFinal(&store.Job{Kind: "thumbnail", State: store.StateSucceeded, CreatedAt: t0, FinishedAt: t0.Add(90 * time.Second)})
	m.JobFinal(&store.Job{Kind: "thumbnail", State: store.StateSucceeded, CreatedAt: t0, FinishedAt: t0.Add(30 * time.Second)})
	m.JobFinal(&store.Job{Kind: "thumbnail", State: store.StateFailed, CreatedAt: t0, FinishedAt: t0.Add(time.Hour)})
	m.JobFinal(&store.Job{Kind: "thumbnail", State: store.StateRetrying, CreatedAt: t0})
	m.JobFinal(nil)
	if n, sum := histogram(t, m, "gantry_job_end_to_end_seconds", map[string]string{"kind": "thumbnail", "state": "succeeded"}); n != 2 || sum != 120 {
		t.Errorf("succeeded: %d observations summing %v s, want 2 summing 120", n, sum)
	}
	if n, sum := histogram(t, m, "gantry_job_end_to_end_seconds", map[string]string{"kind": "thumbnail", "state": "failed"}); n != 1 || sum != 3600 {
		t.Errorf("failed: %d observations summing %v s, want 1 summing 3600", n, sum)
	}
	if n, _ := histogram(t, m, "gantry_job_end_to_end_seconds", map[string]string{"state": "retrying"}); n != 0 {
		t.Errorf("retrying observed %d times, want never", n)
	}
}

// The instrumented store observes the ticket latency of jobs made final
// by Finish and by Cancel, whoever calls them.
func TestInstrumentedFinalStates(t *testing.T) {
	t.Parallel()
	m := setup(t, nil)
	st, err := embedded.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	d := metrics.InstrumentStore(st, m)
	ctx := context.Background()
	now := time.Now()
	enq, err := d.Enqueue(ctx, &store.EnqueueParams{Now: now, Jobs: []*store.NewJob{
		{Kind: "k", Queue: "default", Args: json.RawMessage(`{}`), Priority: store.DefaultPriority, RunAt: now, MaxAttempts: 3},
		{Kind: "k", Queue: "default", Args: json.RawMessage(`{}`), Priority: store.DefaultPriority, RunAt: now, MaxAttempts: 3},
	}})
	if err != nil {
		t.Fatal(err)
	}
	claimed, err := d.Claim(ctx, &store.ClaimParams{Queue: "default", Max: 1, Now: now, LeaseFor: time.Minute})
	if err != nil || len(claimed.Jobs) != 1 {
		t.Fatalf("claim: %v, %v", claimed, err)
	}
	c := claimed.Jobs[0]
	if _, err := d.Finish(ctx, &store.FinishParams{Now: now.Add(2 * time.Second), Items: []store.FinishItem{
		{ID: c.ID, LeaseToken: c.LeaseToken, Outcome: store.OutcomeSucceeded}}}); err != nil {
		t.Fatal(err)
	}
	other := enq.Jobs[0].Job.ID
	if other == c.ID {
		other = enq.Jobs[1].Job.ID
	}
	if _, err := d.Cancel(ctx, &store.CancelParams{ID: other, Reason: "test", Now: now.Add(3 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	if n, _ := histogram(t, m, "gantry_job_end_to_end_seconds", map[string]string{"kind": "k", "state": "succeeded"}); n != 1 {
		t.Errorf("succeeded: %d observations, want 1", n)
	}
	if n, _ := histogram(t, m, "gantry_job_end_to_end_seconds", map[string]string{"kind": "k", "state": "cancelled"}); n != 1 {
		t.Errorf("cancelled: %d observations, want 1", n)
	}
}

// A node's gauges are read from its capacity at scrape time.
func TestNodeGauges(t *testing.T) {
	t.Parallel()
	m := setup(t, nil)
	running := 3
	m.RegisterNode("web-1@127.0.0.1:8080", func() metrics.Capacity { return metrics.Capacity{Running: running, Slots: 12} })
	want := `
# HELP gantry_node_jobs_running Jobs this node's workers run now (in flight), at scrape time.
# TYPE gantry_node_jobs_running gauge
gantry_node_jobs_running{node="web-1@127.0.0.1:8080"} %d
# HELP gantry_node_worker_slots Jobs this node's workers may run at once, over every queue.
# TYPE gantry_node_worker_slots gauge
gantry_node_worker_slots{node="web-1@127.0.0.1:8080"} 12
# HELP gantry_node_worker_utilization Busy worker slots over all of them (0 when the node has none): an autoscaling signal.
# TYPE gantry_node_worker_utilization gauge
gantry_node_worker_utilization{node="web-1@127.0.0.1:8080"} %s
`
	names := []string{"gantry_node_jobs_running", "gantry_node_worker_slots", "gantry_node_worker_utilization"}
	compare(t, m, fmt.Sprintf(want, 3, "0.25"), names...)
	running = 12
	compare(t, m, fmt.Sprintf(want, 12, "1"), names...)
}

package metrics

import (
	"context"
	"log/slog"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gantry-dev/gantry/store"
)

// queueCollector computes the queue gauges at scrape time from one call to
// QueueLister.Queues.
type queueCollector struct {
	m       *Metrics
	src     QueueLister
	limits  store.LimitStatsStore // nil: no limit series
	timeout time.Duration

	jobs, oldest, paused, up *prometheus.Desc
}

func newQueueCollector(m *Metrics, src QueueLister, limits store.LimitStatsStore, timeout time.Duration) *queueCollector {
	return &queueCollector{
		m: m, src: src, limits: limits, timeout: timeout,
		jobs: prometheus.NewDesc(prometheus.BuildFQName(Namespace, "queue", "jobs"),
			"Jobs per queue and state, read from the store at scrape time.", []string{"queue", "state"}, nil),
		oldest: prometheus.NewDesc(prometheus.BuildFQName(Namespace, "queue", "oldest_available_age_seconds"),
			"How long the job available the longest has been available; 0 when none is.", []string{"queue"}, nil),
		paused: prometheus.NewDesc(prometheus.BuildFQName(Namespace, "queue", "paused"),
			"1 when the queue is paused.", []string{"queue"}, nil),
		up: prometheus.NewDesc(prometheus.BuildFQName(Namespace, "store", "up"),
			"1 when the last scrape could read the queues from the store.", nil, nil),
	}
}

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.jobs
	ch <- c.oldest
	ch <- c.paused
	ch <- c.up
	if c.limits != nil {
		for _, d := range limitDescs {
			ch <- d
		}
	}
}

// queueStats are the gauges of one queue label.
type queueStats struct {
	counts map[store.State]int64
	oldest time.Time
	paused bool
}

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	qs, err := c.src.Queues(ctx)
	if err != nil {
		c.m.log.Warn("metrics: reading the queues", slog.Any("error", err))
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 1)
	now := c.m.now()

	// Queues past the label limit are summed under OtherLabel.
	byLabel := make(map[string]*queueStats, len(qs))
	for _, q := range qs {
		label := c.m.queues.value(q.Name)
		st := byLabel[label]
		if st == nil {
			st = &queueStats{counts: make(map[store.State]int64, len(store.States))}
			byLabel[label] = st
		}
		for s, n := range q.Counts {
			st.counts[s] += n
		}
		if !q.OldestAvailableAt.IsZero() && (st.oldest.IsZero() || q.OldestAvailableAt.Before(st.oldest)) {
			st.oldest = q.OldestAvailableAt
		}
		st.paused = st.paused || q.Paused
	}
	labels := make([]string, 0, len(byLabel))
	for l := range byLabel {
		labels = append(labels, l)
	}
	slices.Sort(labels)
	for _, label := range labels {
		st := byLabel[label]
		for _, s := range store.States {
			ch <- prometheus.MustNewConstMetric(c.jobs, prometheus.GaugeValue, float64(st.counts[s]), label, string(s))
		}
		age := 0.0
		if !st.oldest.IsZero() {
			age = max(now.Sub(st.oldest), 0).Seconds()
		}
		ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, age, label)
		paused := 0.0
		if st.paused {
			paused = 1
		}
		ch <- prometheus.MustNewConstMetric(c.paused, prometheus.GaugeValue, paused, label)
	}
	c.collectLimits(ctx, ch, qs)
}

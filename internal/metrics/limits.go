package metrics

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gantry-dev/gantry/store"
)

// MaxLimitKeys caps the keys of one queue that get series of their own
// (gantry_limit_key_held_jobs, gantry_limit_key_running): the keys with
// the most available jobs. Keys come from jobs' args, so a queue may have
// millions; gantry_limit_keys counts them all.
const MaxLimitKeys = 20

// limitBuckets span the waits a rate imposes: a few milliseconds (a fast
// rate) to an hour ("1/h").
var limitBuckets = []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600}

// topKeys ends the help of the per-key series.
var topKeys = fmt.Sprintf(" (at most %d a queue).", MaxLimitKeys)

// The limit series computed at scrape time from store.LimitStatsStore, for
// the queues that have limits.
var (
	limitHeldDesc = prometheus.NewDesc(Namespace+"_limit_held_jobs",
		"Available jobs of the queue that its limits hold back now (the store may count them approximately).", []string{"queue"}, nil)
	limitTokensDesc = prometheus.NewDesc(Namespace+"_limit_tokens",
		"Tokens in the queue's rate-limit bucket, for queues with a rate.", []string{"queue"}, nil)
	limitKeysDesc = prometheus.NewDesc(Namespace+"_limit_keys",
		"Keys of a keyed queue with available or running jobs.", []string{"queue"}, nil)
	limitKeyHeldDesc = prometheus.NewDesc(Namespace+"_limit_key_held_jobs",
		"Available jobs of one key that a limit holds back now, for the queue's keys with the most available jobs"+topKeys, []string{"queue", "key"}, nil)
	limitKeyRunningDesc = prometheus.NewDesc(Namespace+"_limit_key_running",
		"Running jobs of one key, for the queue's keys with the most available jobs"+topKeys, []string{"queue", "key"}, nil)
)

// limitDescs are the scrape-time limit series.
var limitDescs = []*prometheus.Desc{limitHeldDesc, limitTokensDesc, limitKeysDesc, limitKeyHeldDesc, limitKeyRunningDesc}

func newLimitDelays() (*prometheus.CounterVec, *prometheus.HistogramVec) {
	return prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "limit_delays_total",
			Help: "Claims of the queue that its rate limits held back until a token was there.",
		}, []string{"queue"}), prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "limit_delay_seconds",
			Help:    "How long the queue's rate limits held claims back.",
			Buckets: limitBuckets,
		}, []string{"queue"})
}

// LimitDelayed counts a claim of queue that its rate limits held back for
// wait (store.ClaimResult.RateWait). It has the signature of
// gantry.Hooks.RateWaited.
func (m *Metrics) LimitDelayed(queue string, wait time.Duration) {
	q := m.queues.value(queue)
	m.delays.WithLabelValues(q).Inc()
	m.delay.WithLabelValues(q).Observe(max(wait, 0).Seconds())
}

// collectLimits sends the limit series of the queues qs that have limits,
// asking c.limits for each. Queues past the label limit get none: their
// label is shared, their limits are not.
func (c *queueCollector) collectLimits(ctx context.Context, ch chan<- prometheus.Metric, qs []store.QueueInfo) {
	if c.limits == nil {
		return
	}
	now := c.m.now()
	for _, q := range qs {
		if q.Limits == nil || q.Limits.Zero() {
			continue
		}
		label := c.m.queues.value(q.Name)
		if label == OtherLabel {
			continue
		}
		st, err := c.limits.LimitStats(ctx, &store.LimitStatsParams{Queue: q.Name, MaxKeys: MaxLimitKeys, Now: now})
		if err != nil {
			c.m.log.Warn("metrics: reading the limits of a queue", slog.String("queue", q.Name), slog.Any("error", err))
			continue
		}
		if st == nil {
			continue
		}
		ch <- prometheus.MustNewConstMetric(limitHeldDesc, prometheus.GaugeValue, float64(st.Held), label)
		if st.Limits.Rate != "" {
			ch <- prometheus.MustNewConstMetric(limitTokensDesc, prometheus.GaugeValue, st.Tokens, label)
		}
		if !st.Limits.Keyed() {
			continue
		}
		ch <- prometheus.MustNewConstMetric(limitKeysDesc, prometheus.GaugeValue, float64(st.Keys), label)
		for _, k := range st.TopKeys[:min(len(st.TopKeys), MaxLimitKeys)] {
			held := 0
			if k.Held {
				held = k.Available
			}
			ch <- prometheus.MustNewConstMetric(limitKeyHeldDesc, prometheus.GaugeValue, float64(held), label, k.Key)
			ch <- prometheus.MustNewConstMetric(limitKeyRunningDesc, prometheus.GaugeValue, float64(k.Running), label, k.Key)
		}
	}
}

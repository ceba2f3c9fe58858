package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// PushStat is one push target's state on this node at scrape time.
type PushStat struct {
	Target   string
	Limit    int
	InFlight int
}

// PushMetrics are the series of push delivery:
//
//	gantry_push_concurrency_limit{target}          the adaptive limit of requests in flight, at scrape time
//	gantry_push_in_flight{target}                  requests in flight, at scrape time
//	gantry_push_requests_total{target,outcome}     pushes by outcome (succeeded, accepted, overload,
//	                                               rejected, error, timeout, unreachable, too_large, released)
//	gantry_push_latency_seconds{target}            histogram of their latency
//
// target is the key of the configuration, so its values are bounded by it.
type PushMetrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

// Push registers the push series; stats is called at every scrape for the
// gauges.
func (m *Metrics) Push(stats func() []PushStat) *PushMetrics {
	p := &PushMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "push_requests_total",
			Help: "Pushes to HTTP targets, by target and outcome.",
		}, []string{"target", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "push_latency_seconds",
			Help:    "Latency of pushes to HTTP targets.",
			Buckets: httpBuckets,
		}, []string{"target"}),
	}
	m.reg.MustRegister(p.requests, p.latency, &pushCollector{stats: stats})
	return p
}

// Request counts one push. It has the signature of push.Config.Observe.
func (p *PushMetrics) Request(target, outcome string, took time.Duration) {
	p.requests.WithLabelValues(target, outcome).Inc()
	p.latency.WithLabelValues(target).Observe(took.Seconds())
}

var (
	pushLimitDesc = prometheus.NewDesc(Namespace+"_push_concurrency_limit",
		"The adaptive limit of requests in flight to a push target on this node.", []string{"target"}, nil)
	pushInFlightDesc = prometheus.NewDesc(Namespace+"_push_in_flight",
		"Requests in flight to a push target on this node.", []string{"target"}, nil)
)

type pushCollector struct{ stats func() []PushStat }

func (c *pushCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- pushLimitDesc
	ch <- pushInFlightDesc
}

func (c *pushCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.stats() {
		ch <- prometheus.MustNewConstMetric(pushLimitDesc, prometheus.GaugeValue, float64(s.Limit), s.Target)
		ch <- prometheus.MustNewConstMetric(pushInFlightDesc, prometheus.GaugeValue, float64(s.InFlight), s.Target)
	}
}

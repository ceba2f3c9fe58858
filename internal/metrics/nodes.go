package metrics

import "github.com/prometheus/client_golang/prometheus"

// Capacity is how busy a node's workers are: the jobs they run now and
// how many they may run at once.
type Capacity struct {
	Running, Slots int
}

// nodeCollector computes a node's gauges at scrape time from its
// capacity function.
type nodeCollector struct {
	node     string
	capacity func() Capacity

	running, slots, utilization *prometheus.Desc
}

// RegisterNode adds the gauges of the node called id (in-flight jobs,
// worker slots, their ratio) to m, read from capacity at every scrape.
// Call it once, when the node's name is known.
func (m *Metrics) RegisterNode(id string, capacity func() Capacity) {
	m.reg.MustRegister(&nodeCollector{
		node: id, capacity: capacity,
		running: prometheus.NewDesc(prometheus.BuildFQName(Namespace, "node", "jobs_running"),
			"Jobs this node's workers run now (in flight), at scrape time.", []string{"node"}, nil),
		slots: prometheus.NewDesc(prometheus.BuildFQName(Namespace, "node", "worker_slots"),
			"Jobs this node's workers may run at once, over every queue.", []string{"node"}, nil),
		utilization: prometheus.NewDesc(prometheus.BuildFQName(Namespace, "node", "worker_utilization"),
			"Busy worker slots over all of them (0 when the node has none): an autoscaling signal.", []string{"node"}, nil),
	})
}

func (c *nodeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.running
	ch <- c.slots
	ch <- c.utilization
}

func (c *nodeCollector) Collect(ch chan<- prometheus.Metric) {
	cp := c.capacity()
	ch <- prometheus.MustNewConstMetric(c.running, prometheus.GaugeValue, float64(cp.Running), c.node)
	ch <- prometheus.MustNewConstMetric(c.slots, prometheus.GaugeValue, float64(cp.Slots), c.node)
	u := 0.0
	if cp.Slots > 0 {
		u = float64(cp.Running) / float64(cp.Slots)
	}
	ch <- prometheus.MustNewConstMetric(c.utilization, prometheus.GaugeValue, u, c.node)
}

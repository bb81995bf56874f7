package layer2

import "github.com/prometheus/client_golang/prometheus"

// metrics are owned by one Responders; main registers them (Collectors), so
// tests and several Responders in one process never share global state.
type metrics struct {
	arpAnswered *prometheus.CounterVec
	ndpAnswered *prometheus.CounterVec
	gratuitous  *prometheus.CounterVec
	conflicts   *prometheus.CounterVec
	announced   prometheus.Gauge
}

func newMetrics() *metrics {
	return &metrics{
		arpAnswered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "portico", Subsystem: "layer2",
			Name: "arp_requests_answered_total",
			Help: "ARP requests for an announced IP that this node answered.",
		}, []string{"interface"}),
		ndpAnswered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "portico", Subsystem: "layer2",
			Name: "ndp_solicitations_answered_total",
			Help: "Neighbor Solicitations for an announced IP that this node answered.",
		}, []string{"interface"}),
		gratuitous: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "portico", Subsystem: "layer2",
			Name: "gratuitous_sent_total",
			Help: "Gratuitous ARP rounds and unsolicited Neighbor Advertisements sent on take-over.",
		}, []string{"interface", "protocol"}),
		conflicts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "portico", Subsystem: "layer2",
			Name: "address_conflicts_total",
			Help: "Other stations' claims (gratuitous ARP, ARP packets, Neighbor Advertisements) on an IP this node announces; each is answered by re-announcing it.",
		}, []string{"interface", "protocol"}),
		announced: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "portico", Subsystem: "layer2",
			Name: "announced_ips",
			Help: "IPs this node currently answers for on at least one interface.",
		}),
	}
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.arpAnswered, m.ndpAnswered, m.gratuitous, m.conflicts, m.announced}
}

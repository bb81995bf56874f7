package speaker

import "github.com/prometheus/client_golang/prometheus"

// metrics are the speaker's own counters; layer2 and membership export
// theirs. main registers all of them once.
type metrics struct {
	elections prometheus.Counter
	changes   *prometheus.CounterVec
	announced prometheus.Gauge
}

func newMetrics() *metrics {
	return &metrics{
		elections: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "portico_speaker_elections_total",
			Help: "Elections run by this speaker (one per change of Services, endpoints, nodes, configuration or membership).",
		}),
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portico_speaker_announcer_changes_total",
			Help: "Addresses this node started (gained) or stopped (lost) announcing.",
		}, []string{"change"}),
		announced: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "portico_speaker_announced_addresses",
			Help: "Addresses this node announces now.",
		}),
	}
}

// Collectors returns the speaker's metrics for registration.
func (s *Speaker) Collectors() []prometheus.Collector {
	return []prometheus.Collector{s.m.elections, s.m.changes, s.m.announced, s.bgpm.up, s.bgpm.prefixes, s.bgpm.flaps, s.bgpm.updates, s.bgpm.writes}
}

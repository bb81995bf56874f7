package membership

import "github.com/prometheus/client_golang/prometheus"

// metrics are created per Membership and registered by main through
// Collectors; nothing here touches a global registry.
type metrics struct {
	members  *prometheus.GaugeVec
	changes  *prometheus.CounterVec
	rejected *prometheus.CounterVec
	health   prometheus.GaugeFunc
}

func newMetrics(health func() float64) *metrics {
	return &metrics{
		members: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "portico", Subsystem: "speaker", Name: "members",
			Help: "Alive speakers as this speaker sees them, by state: stable, or holddown (alive but not yet past the hold-down).",
		}, []string{"state"}),
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "portico", Subsystem: "speaker", Name: "membership_changes_total",
			Help: "Speakers that became alive (event=join) or stopped being alive (event=leave), as this speaker saw it; event=start-over counts the times this speaker started over after a partition healed (see membership's package doc).",
		}, []string{"event"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "portico", Subsystem: "speaker", Name: "members_rejected_total",
			Help: "memberlist members this speaker ignored, by reason: no-lease (no speaker Lease of that name), stale-lease, addr-mismatch (the Lease names another memberlist address), not-a-node (no Node of that name). Counted when a member is first ignored, or for a new reason.",
		}, []string{"reason"}),
		health: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "portico", Subsystem: "speaker", Name: "memberlist_health_score",
			Help: "memberlist's local health multiplier: 0 is healthy; higher means this node is slow to answer probes and has slowed its own probing so that it does not declare others dead. -1 when memberlist is not running.",
		}, health),
	}
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.members, m.changes, m.rejected, m.health}
}

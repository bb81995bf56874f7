package externalservice

import (
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/controller/probe"
)

// metrics are the ExternalService reconciler's Prometheus collectors.
type metrics struct {
	latency     *prometheus.HistogramVec
	failures    *prometheus.CounterVec
	roleChanges *prometheus.CounterVec
	ready       *prometheus.GaugeVec
	writes      *prometheus.CounterVec
	// byCheck holds each check type's children of latency and failures,
	// looked up once: observe runs for every probe, 1000 times a second
	// at the scale, and a label lookup hashes the values each time.
	// Filled by newMetrics and only read after.
	byCheck map[v1beta1.HealthCheckType]checkMetrics
}

type checkMetrics struct {
	latency       prometheus.Observer
	failed, authd prometheus.Counter
}

func newMetrics() *metrics {
	m := &metrics{
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "portico_external_probe_duration_seconds",
			Help:    "Duration of ExternalService probes, by check type.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"check"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portico_external_probe_failures_total",
			Help: "Failed ExternalService probes, by check type and reason (failure, auth).",
		}, []string{"check", "reason"}),
		roleChanges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portico_external_role_changes_total",
			Help: "Role changes (primary, replica, unknown) seen on ExternalService targets.",
		}, []string{"namespace", "name"}),
		ready: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "portico_external_ready_targets",
			Help: "Targets published as ready, per ExternalService.",
		}, []string{"namespace", "name"}),
		writes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portico_external_api_writes_total",
			Help: "API writes made by the ExternalService reconciler, by kind of object.",
		}, []string{"kind"}),
	}
	m.byCheck = map[v1beta1.HealthCheckType]checkMetrics{}
	for _, c := range []v1beta1.HealthCheckType{v1beta1.HealthCheckTCP, v1beta1.HealthCheckMySQL, v1beta1.HealthCheckRedis} {
		m.byCheck[c] = m.childrenOf(c)
	}
	return m
}

func (m *metrics) childrenOf(check v1beta1.HealthCheckType) checkMetrics {
	return checkMetrics{
		latency: m.latency.WithLabelValues(string(check)),
		failed:  m.failures.WithLabelValues(string(check), "failure"),
		authd:   m.failures.WithLabelValues(string(check), "auth"),
	}
}

// Collectors returns the collectors for the caller to register.
func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.latency, m.failures, m.roleChanges, m.ready, m.writes}
}

func (m *metrics) observe(key types.NamespacedName, check v1beta1.HealthCheckType, r probe.Result, roleChanged bool) {
	c, ok := m.byCheck[check]
	if !ok {
		c = m.childrenOf(check)
	}
	c.latency.Observe(r.Latency.Seconds())
	switch r.Outcome {
	case probe.Failure:
		c.failed.Inc()
	case probe.AuthFailure:
		c.authd.Inc()
	}
	if roleChanged {
		m.roleChanges.WithLabelValues(key.Namespace, key.Name).Inc()
	}
}

func (m *metrics) setReady(key types.NamespacedName, n int) {
	m.ready.WithLabelValues(key.Namespace, key.Name).Set(float64(n))
}

func (m *metrics) wrote(kind string) { m.writes.WithLabelValues(kind).Inc() }

func (m *metrics) forget(key types.NamespacedName) {
	m.ready.DeleteLabelValues(key.Namespace, key.Name)
	m.roleChanges.DeleteLabelValues(key.Namespace, key.Name)
}

package k8ssecret

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Label values of sia_k8s_secret_operations_total.
const (
	opRead        = "read"
	opWrite       = "write"
	resultSuccess = "success"
	resultFailure = "failure"
	resultNone    = "none" // read: no backup to restore
)

type metrics struct {
	ops       *prometheus.CounterVec
	lastWrite prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		ops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sia_k8s_secret_operations_total",
			Help: "Restores (read) and backups (write) of the identity in the Kubernetes Secret, by result.",
		}, []string{"operation", "result"}),
		lastWrite: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sia_k8s_secret_last_backup_timestamp_seconds",
			Help: "When the identity was last applied to the Secret (Unix time); 0 until then.",
		}),
	}
	for _, c := range []prometheus.Collector{m.ops, m.lastWrite} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering metrics: %w", err)
		}
	}
	return m, nil
}

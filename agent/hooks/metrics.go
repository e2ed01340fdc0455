package hooks

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sia-agent/sia-agent/sdk"
)

// metrics are the hooks' series, one set per configured hook: their
// labels come from the pipeline, never from a client.
type metrics struct {
	runs     *prometheus.CounterVec
	lastRun  *prometheus.GaugeVec
	duration *prometheus.GaugeVec

	mu     sync.Mutex
	status map[string]*sdk.HookStatus
}

func newMetrics() *metrics {
	return &metrics{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sia_hook_runs_total",
			Help: "Runs of each hook after credentials changed, by outcome (SUCCESS, FAILED, TIMEOUT).",
		}, []string{"hook", "outcome"}),
		lastRun: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sia_hook_last_run_timestamp_seconds",
			Help: "When each hook last ran, in Unix seconds.",
		}, []string{"hook"}),
		duration: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sia_hook_last_run_duration_seconds",
			Help: "How long each hook's last run took.",
		}, []string{"hook"}),
		status: make(map[string]*sdk.HookStatus),
	}
}

func (m *metrics) add(name string) {
	for _, o := range []string{OutcomeSuccess, OutcomeFailed, OutcomeTimeout} {
		m.runs.WithLabelValues(name, o)
	}
	m.status[name] = &sdk.HookStatus{Name: name}
}

// ran counts a run of the named hook.
func (m *metrics) ran(name, outcome string, start time.Time, d time.Duration) {
	m.runs.WithLabelValues(name, outcome).Inc()
	m.lastRun.WithLabelValues(name).Set(float64(start.UnixNano()) / 1e9)
	m.duration.WithLabelValues(name).Set(d.Seconds())
	m.mu.Lock()
	st := m.status[name]
	st.Runs++
	if outcome != OutcomeSuccess {
		st.Failures++
	}
	m.mu.Unlock()
}

// snapshot is a copy of the named hook's counts, for the report.
func (m *metrics) snapshot(name string) sdk.HookStatus {
	m.mu.Lock()
	defer m.mu.Unlock()
	return *m.status[name]
}

// Collector is the hooks' metrics, for the agent's registry.
func (r *Runner) Collector() prometheus.Collector {
	return collectors{r.metrics.runs, r.metrics.lastRun, r.metrics.duration}
}

type collectors []prometheus.Collector

func (c collectors) Describe(ch chan<- *prometheus.Desc) {
	for _, x := range c {
		x.Describe(ch)
	}
}

func (c collectors) Collect(ch chan<- prometheus.Metric) {
	for _, x := range c {
		x.Collect(ch)
	}
}

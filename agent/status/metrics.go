package status

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sia-agent/sia-agent/sdk"
)

// Collector exports the store as Prometheus metrics: credential freshness
// (expiry, last and next update, outcome and reason, duration) and
// provider states. It reads the store at scrape
// time, so a removed label set never lingers.
func (s *Store) Collector() prometheus.Collector { return collector{s} }

type collector struct{ s *Store }

var (
	credLabels      = []string{"provider", "credential", "kind"}
	descExpiry      = prometheus.NewDesc("sia_credential_expiry_timestamp_seconds", "When the credential expires, as a Unix timestamp.", credLabels, nil)
	descLastUpdate  = prometheus.NewDesc("sia_credential_last_update_timestamp_seconds", "When the credential was last updated successfully, as a Unix timestamp.", credLabels, nil)
	descNextUpdate  = prometheus.NewDesc("sia_credential_next_update_timestamp_seconds", "When the credential's next update is due, as a Unix timestamp.", credLabels, nil)
	descDuration    = prometheus.NewDesc("sia_credential_update_duration_seconds", "How long the credential's last update took, local I/O included.", credLabels, nil)
	descRPCDuration = prometheus.NewDesc("sia_credential_update_rpc_duration_seconds", "How long the upstream calls of the credential's last update took, retries included.", credLabels, nil)
	descLastOutcome = prometheus.NewDesc("sia_credential_last_update_info", "The reason and outcome of the credential's last update (always 1).", append(credLabels, "reason", "outcome"), nil)
	descUpdates     = prometheus.NewDesc("sia_credential_updates_total", "Credential updates, by outcome.", append(credLabels, "outcome"), nil)
	descState       = prometheus.NewDesc("sia_provider_state", "The provider's lifecycle state (1 for the current one).", []string{"provider", "state"}, nil)
	descReady       = prometheus.NewDesc("sia_agent_ready", "Whether the agent is ready: every provider started and every credential valid.", nil, nil)
	descReloadOK    = prometheus.NewDesc("sia_agent_last_reload_success", "Whether the last reload of the pipeline succeeded (1) or changed nothing because of a problem (0); absent before the first.", nil, nil)
	descReloadTS    = prometheus.NewDesc("sia_agent_last_reload_timestamp_seconds", "When the last reload of the pipeline ended, as a Unix timestamp; absent before the first.", nil, nil)
)

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descExpiry, descLastUpdate, descNextUpdate, descDuration, descRPCDuration, descLastOutcome, descUpdates, descState, descReady, descReloadOK, descReloadTS} {
		ch <- d
	}
	for _, d := range circuitDescList {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	rep := c.s.Report()
	for _, p := range rep.Providers {
		ch <- prometheus.MustNewConstMetric(descState, prometheus.GaugeValue, 1, p.Name, p.State)
	}
	ready := 0.0
	if rep.Ready {
		ready = 1
	}
	ch <- prometheus.MustNewConstMetric(descReady, prometheus.GaugeValue, ready)
	if r := rep.LastReload; r != nil {
		ok := 0.0
		if r.Outcome == sdk.ReloadSuccess {
			ok = 1
		}
		ch <- prometheus.MustNewConstMetric(descReloadOK, prometheus.GaugeValue, ok)
		ch <- prometheus.MustNewConstMetric(descReloadTS, prometheus.GaugeValue, float64(r.TS))
	}
	c.s.collectCircuits(ch)

	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	for _, cr := range c.s.creds {
		labels := []string{cr.Provider, cr.Credential, cr.Kind}
		gauge := func(d *prometheus.Desc, v float64, extra ...string) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, append(labels, extra...)...)
		}
		if cr.ExpiryTS != 0 {
			gauge(descExpiry, float64(cr.ExpiryTS))
		}
		if cr.LastUpdateTS != 0 {
			gauge(descLastUpdate, float64(cr.LastUpdateTS))
		}
		if cr.NextUpdateTS != 0 {
			gauge(descNextUpdate, float64(cr.NextUpdateTS))
		}
		gauge(descDuration, float64(cr.TotalDurationMicros)/1e6)
		gauge(descRPCDuration, float64(cr.RPCDurationMicros)/1e6)
		gauge(descLastOutcome, 1, cr.UpdateReason, cr.UpdateOutcome)
		for outcome, n := range cr.updates {
			ch <- prometheus.MustNewConstMetric(descUpdates, prometheus.CounterValue, float64(n), append(labels, outcome)...)
		}
	}
}

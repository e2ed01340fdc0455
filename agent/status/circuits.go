package status

import (
	"context"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sia-agent/sia-agent/sdk"
	"github.com/sia-agent/sia-agent/sdk/pluginpb"
)

// The agent keeps one circuit per upstream endpoint (ZTS) for all its
// providers: they are separate processes, and reach the circuits through
// their Host service. See sdk.Circuits.

var (
	circuitLabels   = []string{"endpoint"}
	descCircuit     = prometheus.NewDesc("sia_zts_circuit_state", "The state of the endpoint's circuit: closed, open or probing (1 for the current one).", append(circuitLabels, "state"), nil)
	descNextProbe   = prometheus.NewDesc("sia_zts_circuit_next_probe_seconds", "How long until the open circuit lets its next probe go; 0 unless open.", circuitLabels, nil)
	descFailures    = prometheus.NewDesc("sia_zts_circuit_failures", "The endpoint's failures in a row.", circuitLabels, nil)
	descHeld        = prometheus.NewDesc("sia_zts_circuit_held_total", "Calls (retries, mostly) the circuit held or refused while the endpoint failed.", circuitLabels, nil)
	descOpened      = prometheus.NewDesc("sia_zts_circuit_opened_total", "Times the endpoint's circuit opened.", circuitLabels, nil)
	descProbes      = prometheus.NewDesc("sia_zts_circuit_probes_total", "Calls the open circuit let go as probes.", circuitLabels, nil)
	circuitStates   = []sdk.CircuitState{sdk.CircuitClosed, sdk.CircuitOpen, sdk.CircuitProbing}
	circuitDescList = []*prometheus.Desc{descCircuit, descNextProbe, descFailures, descHeld, descOpened, descProbes}
)

func (h *host) WaitCircuit(ctx context.Context, req *pluginpb.WaitCircuitRequest) (*pluginpb.WaitCircuitResponse, error) {
	if req.GetEndpoint() == "" {
		return nil, fmt.Errorf("circuit wait from %s names no endpoint", h.provider)
	}
	err := h.store.circuits.Wait(ctx, req.GetEndpoint(), sdk.CircuitPolicyFromProto(req.GetPolicy()))
	return sdk.WaitCircuitResponse(err)
}

func (h *host) ReportCall(ctx context.Context, req *pluginpb.ReportCallRequest) (*pluginpb.ReportCallResponse, error) {
	if req.GetEndpoint() == "" {
		return nil, fmt.Errorf("call report from %s names no endpoint", h.provider)
	}
	h.store.circuits.Report(ctx, req.GetEndpoint(), sdk.CircuitPolicyFromProto(req.GetPolicy()), sdk.CallResultFromProto(req))
	return &pluginpb.ReportCallResponse{}, nil
}

// collectCircuits sends the circuits' metrics.
func (s *Store) collectCircuits(ch chan<- prometheus.Metric) {
	for _, c := range s.circuits.Snapshots() {
		for _, st := range circuitStates {
			v := 0.0
			if c.State == st {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(descCircuit, prometheus.GaugeValue, v, c.Endpoint, string(st))
		}
		ch <- prometheus.MustNewConstMetric(descNextProbe, prometheus.GaugeValue, c.NextProbe.Seconds(), c.Endpoint)
		ch <- prometheus.MustNewConstMetric(descFailures, prometheus.GaugeValue, float64(c.Failures), c.Endpoint)
		ch <- prometheus.MustNewConstMetric(descHeld, prometheus.CounterValue, float64(c.Held), c.Endpoint)
		ch <- prometheus.MustNewConstMetric(descOpened, prometheus.CounterValue, float64(c.Opened), c.Endpoint)
		ch <- prometheus.MustNewConstMetric(descProbes, prometheus.CounterValue, float64(c.Probes), c.Endpoint)
	}
}

package cert

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestZTSRequestMetrics(t *testing.T) {
	e := newEnv(t)
	_, h, _ := start(t, e.config("role_certs:\n  targets: [sia.demo:role.reader, nosuch.domain:role.x]\n"))
	reg := h.Runtime.Metrics.(*prometheus.Registry)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := make(map[string]float64)
	histograms := 0
	for _, mf := range families {
		if mf.GetName() == "sia_zts_request_duration_seconds" {
			histograms = len(mf.GetMetric())
		}
		if mf.GetName() != "sia_zts_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			got[labels["operation"]+" "+labels["code"]] = m.GetCounter().GetValue()
		}
	}
	if got["register 201"] != 1 || got["rolecert 200"] != 1 || got["rolecert 404"] < 1 {
		t.Errorf("requests by operation and code: %v", got)
	}
	if histograms != 2 {
		t.Errorf("%d duration histograms, want one per operation (register, rolecert)", histograms)
	}
}

package agent

import (
	"context"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/sia-agent/sia-agent/agent/status"
	"github.com/sia-agent/sia-agent/agent/telemetry"
)

// gatherTimeout bounds one scrape of every plugin.
const gatherTimeout = 5 * time.Second

// gatherer returns what the Host service's Gather serves: the agent's own
// metrics (its process, build, status) and every provider's.
func (a *Agent) gatherer(more ...prometheus.Collector) status.Gatherer {
	reg := prometheus.NewRegistry()
	reg.MustRegister(a.store.Collector())
	reg.MustRegister(more...)
	own := prometheus.WrapRegistererWith(prometheus.Labels{telemetry.ProviderLabel: telemetry.AgentName}, reg)
	own.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "sia_build_info",
		Help: "The agent's version and Go version (always 1).",
	}, []string{"version", "goversion"})
	build.WithLabelValues(a.opts.Version, runtime.Version()).Set(1)
	reg.MustRegister(build)

	providers := make([]telemetry.Provider, len(a.providers))
	for i, p := range a.providers {
		providers[i] = p
	}
	return func(ctx context.Context) ([][]byte, error) {
		ctx, cancel := context.WithTimeout(ctx, gatherTimeout)
		defer cancel()
		families, err := telemetry.Gather(ctx, reg, providers)
		if err != nil {
			// A scrape with one process missing beats no scrape.
			a.log.Warn("gathering metrics", "error", err)
		}
		return families, nil
	}
}

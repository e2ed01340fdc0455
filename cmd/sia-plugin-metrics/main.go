// Command sia-plugin-metrics is the metrics provider plugin: one
// Prometheus /metrics for the whole agent. See docs/metrics.md.
package main

import (
	"github.com/sia-agent/sia-agent/plugins/metrics"
	"github.com/sia-agent/sia-agent/sdk"
)

func main() { sdk.Serve(&metrics.Provider{}) }

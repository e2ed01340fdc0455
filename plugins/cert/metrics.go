package cert

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sia-agent/sia-agent/plugins/internal/ztsmetrics"
)

// metrics are the provider's own series: its calls to ZTS. Credential
// freshness (expiry, last and next update, outcome) is exported by the
// agent from the status records, so it is not repeated here.
type metrics = ztsmetrics.Metrics

func newMetrics(reg prometheus.Registerer) (*metrics, error) { return ztsmetrics.New(reg) }

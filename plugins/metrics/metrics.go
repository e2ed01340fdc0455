// Package metrics is the metrics provider: one Prometheus /metrics for the
// whole agent. A scrape asks the agent for its metrics, which are every
// provider's (this one's included), each series labelled with the
// provider's name, and the agent's own: credential freshness, provider
// states, readiness, build info, and the Go and process metrics of every
// process. This provider adds what it measures itself: its scrapes, and
// the validity of the certificates in configured PEM files.
//
// Unlike k8s-athenz-sia's exporter, it binds its address in Start, so that
// a port in use fails Start with an error instead of killing the process,
// and it is ready when Start returns.
package metrics

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"

	"github.com/sia-agent/sia-agent/plugins/internal/httpserver"
	"github.com/sia-agent/sia-agent/sdk"
)

// serverName is what the log calls the server, as the specification's
// logs do.
const serverName = "metrics exporter server"

// Provider is the metrics provider.
type Provider struct {
	cfg     Config
	log     hclog.Logger
	group   *sdk.Group
	handler http.Handler
	srv     *httpserver.Server
}

func (p *Provider) Validate(_ context.Context, cfg sdk.Config) error {
	_, err := loadConfig(cfg)
	return err
}

// Init registers the provider's own metrics, which reach /metrics through
// the agent with the others, labelled with this provider's name.
func (p *Provider) Init(_ context.Context, rt *sdk.Runtime) error {
	cfg, err := loadConfig(rt.Config)
	if err != nil {
		return err
	}
	p.cfg, p.log, p.group = cfg, rt.Logger, sdk.NewGroup(rt)
	if len(cfg.X509Files) > 0 {
		c := newX509Collector(cfg.X509Files, rt.Logger)
		if k := cfg.K8sAthenzSia; k.Enabled {
			c.compat = newCompat(k)
		}
		if err := rt.Metrics.Register(c); err != nil {
			return fmt.Errorf("registering the certificate metrics: %w", err)
		}
	}
	p.handler = newHandler(rt.Host, rt.Metrics, cfg.Timeout.Std(), rt.Logger)
	return nil
}

// Start binds the address, creates the "metrics server" goroutine and
// returns once the server answers.
func (p *Provider) Start(ctx context.Context) error {
	var err error
	p.srv, err = httpserver.Start(ctx, p.group, "metrics server", p.cfg.Endpoint.Options(serverName, p.handler, p.log))
	return err
}

// Shutdown drains the server and waits for its goroutine. It is safe
// without Init or Start.
func (p *Provider) Shutdown(ctx context.Context) error {
	if p.group == nil {
		return nil
	}
	p.srv.Shutdown(ctx)
	p.group.Stop()
	return nil
}

// newHandler serves /metrics, and / with a link to it; any other path is
// 404 and any method but GET or HEAD 405. reg counts the scrapes.
func newHandler(host sdk.Host, reg prometheus.Registerer, timeout time.Duration, log hclog.Logger) http.Handler {
	opts := promhttp.HandlerOpts{
		ErrorLog:          log.StandardLogger(&hclog.StandardLoggerOptions{ForceLevel: hclog.Warn}),
		ErrorHandling:     promhttp.HTTPErrorOnError,
		EnableOpenMetrics: true,
	}
	scrape := func(w http.ResponseWriter, r *http.Request) {
		// A Gatherer takes no context; this one is made for the request,
		// so that a scraper giving up also stops the agent's gathering.
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		promhttp.HandlerFor(agentGatherer{ctx: ctx, host: host}, opts).ServeHTTP(w, r)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.InstrumentMetricHandler(reg, http.HandlerFunc(scrape)))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, indexPage)
	})
	return mux
}

const indexPage = `<!DOCTYPE html>
<html><head><title>sia-agent metrics</title></head>
<body><h1>sia-agent metrics</h1><p><a href="/metrics">/metrics</a></p></body></html>
`

// agentGatherer is the agent's metrics as a prometheus.Gatherer, for one
// scrape.
type agentGatherer struct {
	ctx  context.Context
	host sdk.Host
}

func (g agentGatherer) Gather() ([]*dto.MetricFamily, error) {
	return g.host.Metrics(g.ctx)
}

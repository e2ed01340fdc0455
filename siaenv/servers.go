package siaenv

import (
	"github.com/sia-agent/sia-agent/plugins/health"
	"github.com/sia-agent/sia-agent/plugins/metrics"
)

// metrics maps the metrics server; nil without METRICS_SERVER_ADDR.
func (c *converter) metrics(id identity) *typed[metrics.Config] {
	addr := c.get("METRICS_SERVER_ADDR")
	if addr == "" {
		c.ignore("no METRICS_SERVER_ADDR: no metrics, and no k8s_pod label", "POD_NAME")
		return nil
	}
	t := newTyped[metrics.Config]()
	cfg := &t.cfg
	set(t, &cfg.Address, literal(addr), "METRICS_SERVER_ADDR")
	var files []string
	for _, f := range []string{id.certFile, id.caCertFile} {
		if f != "" {
			files = append(files, literal(f))
		}
	}
	if id.roleCertGlob != "" {
		files = append(files, literal(id.roleCertGlob))
	}
	if len(files) > 0 {
		set(t, &cfg.X509Files, files, "the certificate files")
	}
	// Its users' dashboards and alerts query k8s-athenz-sia's names and
	// labels: export them too.
	compat := &cfg.K8sAthenzSia
	set(t, &compat.Enabled, true, "k8s-athenz-sia's metric names, beside sia-agent's")
	if c.get("NAMESPACE") != "" {
		set(t, &compat.Namespace, c.ref("NAMESPACE"), "NAMESPACE")
	}
	if c.get("POD_NAME") != "" {
		set(t, &compat.Pod, c.ref("POD_NAME"), "POD_NAME")
	}
	return t
}

// health maps the health server; nil without HEALTH_CHECK_ADDR.
func (c *converter) health() *typed[health.Config] {
	addr, endpoint := c.get("HEALTH_CHECK_ADDR"), c.get("HEALTH_CHECK_ENDPOINT")
	if addr == "" {
		c.ignore("no HEALTH_CHECK_ADDR: no health server", "HEALTH_CHECK_ENDPOINT")
		return nil
	}
	switch endpoint {
	case "/healthz":
	case "":
		c.note("HEALTH_CHECK_ADDR", "HEALTH_CHECK_ENDPOINT is unset (k8s-athenz-sia panicked): probes go to /healthz and /readyz")
	default:
		c.unsupported("HEALTH_CHECK_ENDPOINT", "%q: the health provider serves /healthz (liveness) and /readyz (readiness); "+
			"point the probes there", endpoint)
	}
	t := newTyped[health.Config]()
	set(t, &t.cfg.Address, literal(addr), "HEALTH_CHECK_ADDR")
	return t
}

package siaenv

import (
	"path"
	"strings"

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
	t := newTyped[health.Config]()
	set(t, &t.cfg.Address, literal(addr), "HEALTH_CHECK_ADDR")
	if p, ok := c.healthPath(endpoint); ok {
		set(t, &t.cfg.LivenessPath, literal(p), "HEALTH_CHECK_ENDPOINT")
	}
	return t
}

// healthPath maps HEALTH_CHECK_ENDPOINT, a ServeMux pattern, to a further
// liveness path, if it needs one.
func (c *converter) healthPath(endpoint string) (string, bool) {
	clean := path.Clean(endpoint)
	switch {
	case endpoint == "":
		c.note("HEALTH_CHECK_ADDR", "HEALTH_CHECK_ENDPOINT is unset (k8s-athenz-sia panicked): probes go to /healthz and /readyz")
		return "", false
	case !strings.HasPrefix(endpoint, "/") || strings.ContainsAny(endpoint, "?# "):
		c.invalid("HEALTH_CHECK_ENDPOINT", "%q is not a path such as /healthz", endpoint)
		return "", false
	case clean == "/healthz":
		return "", false
	case clean == "/readyz" || clean == "/status":
		c.unsupported("HEALTH_CHECK_ENDPOINT", "%q: the health provider serves readiness (or the status report) there, "+
			"not liveness; point the probe at /healthz", endpoint)
		return "", false
	case clean != endpoint:
		c.note("HEALTH_CHECK_ENDPOINT", "%q: liveness is served at %s alone, not at every path below it", endpoint, clean)
	}
	return clean, true
}

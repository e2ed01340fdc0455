package metrics

import (
	"path/filepath"
	"time"

	"github.com/sia-agent/sia-agent/plugins/internal/httpserver"
	"github.com/sia-agent/sia-agent/sdk"
	"github.com/sia-agent/sia-agent/sdk/conf"
)

// Config is the provider's `config:` block; docs/metrics.md is its
// reference.
type Config struct {
	// Endpoint is where /metrics is served (address, tls), and how long a
	// scrape waits for the agent's metrics (timeout).
	httpserver.Endpoint `yaml:",inline"`
	// X509Files are PEM files, or glob patterns of them, whose
	// certificates' validity is exported; they are read at every scrape.
	// Relative paths are relative to the pipeline file's directory.
	X509Files []string `yaml:"x509_files"`
	// K8sAthenzSia also exports the certificate metrics under
	// k8s-athenz-sia's names and labels.
	K8sAthenzSia K8sAthenzSia `yaml:"k8s_athenz_sia"`
}

// K8sAthenzSia turns on k8s-athenz-sia's metric names and labels
// (docs/migrating.md), so that its users' dashboards and alerts keep
// working.
type K8sAthenzSia struct {
	Enabled bool `yaml:"enabled"`
	// Namespace and Pod are the values of the k8s_namespace and k8s_pod
	// labels, e.g. ${NAMESPACE} and ${POD_NAME} from the downward API.
	Namespace string `yaml:"k8s_namespace"`
	Pod       string `yaml:"k8s_pod"`
}

// DefaultAddress is where /metrics is served unless configured.
const DefaultAddress = "127.0.0.1:9999"

func defaultConfig() Config {
	return Config{Endpoint: httpserver.Endpoint{Address: DefaultAddress, Timeout: sdk.Duration(10 * time.Second)}}
}

// Validate checks the config; Decode calls it, and the TLS block's own.
func (c Config) Validate() error {
	var check conf.Checker
	c.Endpoint.Check(&check)
	for i, pattern := range c.X509Files {
		if pattern == "" {
			check.ErrorfAt(conf.P("x509_files", i), "empty path")
		} else if _, err := filepath.Match(pattern, ""); err != nil {
			check.ErrorfAt(conf.P("x509_files", i), "%q is not a valid glob pattern: %v", pattern, err)
		}
	}
	if k := c.K8sAthenzSia; !k.Enabled && (k.Namespace != "" || k.Pod != "") {
		check.ErrorfAt(conf.P("k8s_athenz_sia", "enabled"), "k8s_namespace and k8s_pod label only the k8s-athenz-sia metrics: set enabled: true")
	}
	return check.Err()
}

// loadConfig decodes cfg over the defaults and validates it, reporting
// every problem at once with its file and line. Paths come back absolute.
func loadConfig(cfg sdk.Config) (Config, error) {
	c := defaultConfig()
	if err := cfg.Decode(&c); err != nil {
		return Config{}, err
	}
	base := ""
	if cfg.File != "" {
		base = filepath.Dir(cfg.File)
	}
	for i, pattern := range c.X509Files {
		c.X509Files[i] = resolve(base, pattern)
	}
	c.Endpoint = c.Endpoint.Resolve(base)
	return c, nil
}

// resolve makes path absolute against base, unless it already is.
func resolve(base, path string) string {
	if path == "" || filepath.IsAbs(path) || base == "" {
		return path
	}
	return filepath.Join(base, path)
}

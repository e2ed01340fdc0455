package metrics

import (
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/sia-agent/sia-agent/plugins/internal/httpserver"
	"github.com/sia-agent/sia-agent/sdk"
)

// Config is the provider's `config:` block; docs/metrics.md is its
// reference.
type Config struct {
	// Address is where /metrics is served; port 0 picks a free port, which
	// the "Starting metrics exporter server[...]" line names.
	Address string `yaml:"address"`
	// TLS, when set, serves HTTPS only.
	TLS httpserver.TLS `yaml:"tls"`
	// Timeout bounds how long a scrape waits for the agent's metrics.
	Timeout sdk.Duration `yaml:"timeout"`
	// X509Files are PEM files, or glob patterns of them, whose
	// certificates' validity is exported; they are read at every scrape.
	// Relative paths are relative to the pipeline file's directory.
	X509Files []string `yaml:"x509_files"`
}

// DefaultAddress is where /metrics is served unless configured.
const DefaultAddress = "127.0.0.1:9999"

func defaultConfig() Config {
	return Config{Address: DefaultAddress, Timeout: sdk.Duration(10 * time.Second)}
}

// loadConfig decodes cfg over the defaults and validates it, reporting
// every problem at once with its file and line. Paths come back absolute.
func loadConfig(cfg sdk.Config) (Config, error) {
	c := defaultConfig()
	if err := cfg.Decode(&c); err != nil {
		return Config{}, err
	}
	var ps sdk.Problems
	bad := func(key, format string, args ...any) {
		var p *sdk.Problem
		if errors.As(cfg.Errorf(key, format, args...), &p) {
			ps = append(ps, p)
		}
	}
	httpserver.Check(c.Address, c.TLS, bad)
	if c.Timeout <= 0 {
		bad("timeout", "must be more than 0")
	}
	base := ""
	if cfg.File != "" {
		base = filepath.Dir(cfg.File)
	}
	for i, pattern := range c.X509Files {
		key := fmt.Sprintf("x509_files[%d]", i)
		if pattern == "" {
			bad(key, "empty path")
			continue
		}
		if _, err := filepath.Match(pattern, ""); err != nil {
			bad(key, "%q is not a valid glob pattern: %v", pattern, err)
			continue
		}
		c.X509Files[i] = resolve(base, pattern)
	}
	c.TLS = c.TLS.Resolve(base)
	if err := ps.Err(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// resolve makes path absolute against base, unless it already is.
func resolve(base, path string) string {
	if path == "" || filepath.IsAbs(path) || base == "" {
		return path
	}
	return filepath.Join(base, path)
}

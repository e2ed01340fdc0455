package k8ssecret

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/sia-agent/sia-agent/sdk"
	"github.com/sia-agent/sia-agent/sdk/conf"
)

// Config is the provider's `config:` block; docs/k8s-secret.md is its
// reference.
type Config struct {
	// Secret names the kubernetes.io/tls Secret that holds the backup
	// (k8s-athenz-sia's CERT_SECRET).
	Secret string `yaml:"secret"`
	// Namespace is the Secret's; empty means the pod's own, from its
	// service account.
	Namespace string `yaml:"namespace"`
	// Mode is read, write or read+write (k8s-athenz-sia's BACKUP): read
	// restores the identity files from the Secret at Init when they are
	// missing or expired; write applies them to the Secret whenever they
	// change.
	Mode string `yaml:"mode"`
	// KeyFile and CertFile are the identity files: those the cert
	// provider writes.
	KeyFile  string `yaml:"key_file"`
	CertFile string `yaml:"cert_file"`
	// Kubeconfig reaches an API server from outside a pod; empty means
	// $KUBECONFIG if it is set, else the pod's in-cluster configuration.
	Kubeconfig string `yaml:"kubeconfig"`
	// Interval is how often the identity files are looked at (a stat of
	// each) for a change to back up.
	Interval sdk.Duration `yaml:"interval"`
	// Timeout bounds one call to the API server.
	Timeout sdk.Duration `yaml:"timeout"`
	// RetryMax caps the backoff of a write that failed: it is retried at
	// Interval, doubling up to this.
	RetryMax sdk.Duration `yaml:"retry_max"`
	// FieldManager names the agent as the owner of the Secret's fields in
	// server-side apply.
	FieldManager string `yaml:"field_manager"`
}

// Defaults of the keys a config leaves out.
const (
	defaultInterval     = 5 * time.Second
	defaultTimeout      = 10 * time.Second
	defaultRetryMax     = 5 * time.Minute
	defaultFieldManager = "sia-agent"
)

func defaultConfig() Config {
	return Config{
		Mode:         "read+write",
		Interval:     sdk.Duration(defaultInterval),
		Timeout:      sdk.Duration(defaultTimeout),
		RetryMax:     sdk.Duration(defaultRetryMax),
		FieldManager: defaultFieldManager,
	}
}

// dnsSubdomain is what Kubernetes accepts as a Secret's or a namespace's
// name (RFC 1123), at most 253 bytes.
var dnsSubdomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)

// Validate checks the config; Decode calls it.
func (c Config) Validate() error {
	var check conf.Checker
	if c.Secret == "" {
		check.Errorf("secret", "is required: the name of the kubernetes.io/tls Secret that holds the backup")
	} else if !isName(c.Secret) {
		check.Errorf("secret", "%q is not a Kubernetes name (lower-case letters, digits, '-' and '.')", c.Secret)
	}
	if c.Namespace != "" && !isName(c.Namespace) {
		check.Errorf("namespace", "%q is not a Kubernetes namespace", c.Namespace)
	}
	if _, _, err := parseMode(c.Mode); err != nil {
		check.Errorf("mode", "%v", err)
	}
	if c.KeyFile == "" || c.CertFile == "" {
		check.Errorf("key_file", "key_file and cert_file are required: the identity files the cert provider writes")
	}
	for key, d := range map[string]sdk.Duration{"interval": c.Interval, "timeout": c.Timeout, "retry_max": c.RetryMax} {
		if d <= 0 {
			check.Errorf(key, "must be positive")
		}
	}
	if c.RetryMax < c.Interval {
		check.Errorf("retry_max", "%v is shorter than interval (%v)", c.RetryMax.Std(), c.Interval.Std())
	}
	if c.FieldManager == "" {
		check.Errorf("field_manager", "must not be empty")
	}
	return check.Err()
}

func isName(s string) bool { return len(s) <= 253 && dnsSubdomain.MatchString(s) }

// parseMode reads read, write, read+write (or write+read).
func parseMode(m string) (read, write bool, err error) {
	for part := range strings.SplitSeq(m, "+") {
		switch part {
		case "read":
			read = true
		case "write":
			write = true
		default:
			return false, false, fmt.Errorf("%q is not a mode: want read, write or read+write", m)
		}
	}
	return read, write, nil
}

// loadConfig decodes cfg over the defaults and validates it.
func loadConfig(cfg sdk.Config) (Config, error) {
	c := defaultConfig()
	if err := cfg.Decode(&c); err != nil {
		return Config{}, err
	}
	return c, nil
}

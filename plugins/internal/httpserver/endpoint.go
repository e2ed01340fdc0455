package httpserver

import (
	"net/http"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/sia-agent/sia-agent/sdk"
	"github.com/sia-agent/sia-agent/sdk/conf"
)

// Endpoint is the block that the config of a provider serving HTTP for the
// agent starts with (health, metrics): where it listens, TLS, and how long
// a request waits for the agent. Embed it with `yaml:",inline"` and call
// Check from the config's Validate.
type Endpoint struct {
	// Address is where the server listens; port 0 picks a free port, which
	// the "Starting <server>[...]" line names.
	Address string `yaml:"address"`
	// TLS, when set, serves HTTPS only.
	TLS TLS `yaml:"tls"`
	// Timeout bounds how long a request waits for the agent.
	Timeout sdk.Duration `yaml:"timeout"`
}

// Check records the block's problems; the TLS block's are its own
// Validate's.
func (l Endpoint) Check(check *conf.Checker) {
	if err := CheckAddress(l.Address); err != nil {
		check.Errorf("address", "%v", err)
	}
	if l.Timeout <= 0 {
		check.Errorf("timeout", "must be more than 0")
	}
}

// Resolve returns l with its TLS files made absolute against dir, the
// directory of the pipeline file.
func (l Endpoint) Resolve(dir string) Endpoint {
	l.TLS = l.TLS.Resolve(dir)
	return l
}

// Options are the server's options for l: its write timeout leaves the
// handler its Timeout to wait for the agent, and time to answer.
func (l Endpoint) Options(name string, h http.Handler, log hclog.Logger) Options {
	return Options{
		Name:         name,
		Address:      l.Address,
		TLS:          l.TLS,
		Handler:      h,
		WriteTimeout: l.Timeout.Std() + 5*time.Second,
		Logger:       log,
	}
}

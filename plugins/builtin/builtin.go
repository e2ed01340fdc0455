// Package builtin holds the first-party providers that the sia-agent
// executable serves itself: the agent launches its own binary as each
// one's plugin process, so that every process of the agent maps one copy
// of the code.
package builtin

import (
	"os"

	"github.com/sia-agent/sia-agent/plugins/cert"
	"github.com/sia-agent/sia-agent/plugins/health"
	"github.com/sia-agent/sia-agent/plugins/metrics"
	"github.com/sia-agent/sia-agent/plugins/spiffe"
	"github.com/sia-agent/sia-agent/plugins/token"
	"github.com/sia-agent/sia-agent/sdk"
)

// New returns a new provider of the named kind, and whether there is one.
func New(name string) (sdk.Provider, bool) {
	switch name {
	case "cert":
		return cert.New(), true
	case "token":
		return &token.Provider{}, true
	case "metrics":
		return &metrics.Provider{}, true
	case "health":
		return &health.Provider{}, true
	case "spiffe":
		return &spiffe.Provider{}, true
	}
	return nil, false
}

// Env is what the named provider's plugin process needs in its
// environment. Only the token provider serves a hot path; the others wait
// for timers and for the agent's calls, and run with GOMAXPROCS=1: on one
// processor a Go process holds less memory (each processor keeps span
// caches of its own; 0.35 MiB less anonymous memory per idle plugin,
// measured by bench's BenchmarkMemory) and takes no threads from the token
// server on a small node. The runtime reads it at start, so it must come
// in the environment; an operator's own GOMAXPROCS, inherited from the
// agent's environment, wins.
func Env(name string) []string {
	if name == "token" || os.Getenv("GOMAXPROCS") != "" {
		return nil
	}
	return []string{"GOMAXPROCS=1"}
}

// Names are the built-in providers, as a pipeline names them (`plugin:
// cert`), in order.
func Names() []string {
	return []string{"cert", "health", "metrics", "spiffe", "token"}
}

// Package builtin holds the first-party providers that the sia-agent
// executable serves itself: the agent launches its own binary as each
// one's plugin process, so that every process of the agent maps one copy
// of the code.
package builtin

import (
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

// Names are the built-in providers, as a pipeline names them (`plugin:
// cert`), in order.
func Names() []string {
	return []string{"cert", "health", "metrics", "spiffe", "token"}
}

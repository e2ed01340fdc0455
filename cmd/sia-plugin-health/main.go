// Command sia-plugin-health is the health provider plugin: liveness,
// readiness and the status report over HTTP. See docs/health.md.
package main

import (
	"github.com/sia-agent/sia-agent/plugins/health"
	"github.com/sia-agent/sia-agent/sdk"
)

func main() { sdk.Serve(&health.Provider{}) }

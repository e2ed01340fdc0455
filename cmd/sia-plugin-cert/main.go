// Command sia-plugin-cert is the cert provider plugin of sia-agent: X.509
// identity and role certificates from ZTS. See docs/cert.md.
package main

import (
	"github.com/sia-agent/sia-agent/plugins/cert"
	"github.com/sia-agent/sia-agent/sdk"
)

func main() { sdk.Serve(cert.New()) }

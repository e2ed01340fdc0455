// Command sia-plugin-token is the token provider plugin of sia-agent: role
// and access tokens from ZTS, cached, refreshed, written to files and served
// on a local token server. See docs/token.md.
package main

import (
	"github.com/sia-agent/sia-agent/plugins/token"
	"github.com/sia-agent/sia-agent/sdk"
)

func main() { sdk.Serve(&token.Provider{}) }

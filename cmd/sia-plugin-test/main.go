// Command sia-plugin-test is a provider plugin whose behaviour its
// configuration dictates; see internal/testprovider. The end-to-end tests
// and the README's first pipeline use it.
package main

import (
	"github.com/sia-agent/sia-agent/internal/testprovider"
	"github.com/sia-agent/sia-agent/sdk"
)

func main() { sdk.Serve(&testprovider.Provider{}) }

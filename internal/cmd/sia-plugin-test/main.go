// Command sia-plugin-test is a provider plugin whose behaviour its
// configuration dictates; see internal/testprovider. It is for tests: the
// end-to-end tests build it, and `make build-test` builds it into bin/test
// for configs/lifecycle.yaml; `make build` leaves it out of bin/, so that
// it is never installed with the real plugins.
package main

import (
	"github.com/sia-agent/sia-agent/internal/testprovider"
	"github.com/sia-agent/sia-agent/sdk"
)

func main() { sdk.Serve(&testprovider.Provider{}) }

// Command sia-plugin-hello is an example sia-agent provider plugin: a
// greeting server whose pretend credential expires and is refreshed. It is
// a module of its own that requires the SDK by version, as a third party's
// provider would; sdk/README.md walks through it. From the repository's
// root (go.work builds it with the SDK of the clone):
//
//	go build -o bin/sia-plugin-hello ./examples/hello-provider
//	bin/sia-agent run --config examples/hello-provider/pipeline.yaml
//
// Its tests run it under the agent that $SIA_AGENT names (make build-test
// builds bin/test/sia-agent), or are skipped.
package main

import (
	"github.com/sia-agent/sia-agent/examples/hello-provider/hello"
	"github.com/sia-agent/sia-agent/sdk"
)

// main prints nothing before Serve: the agent reads the plugin handshake
// from standard output.
func main() { sdk.Serve(&hello.Provider{}) }

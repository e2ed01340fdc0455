// Command sia-plugin-hello is an example sia-agent provider plugin: a
// greeting server whose pretend credential expires and is refreshed. It is
// built from the SDK alone, as a third party's provider would be; sdk/README.md
// walks through it.
//
//	go build -o bin/sia-plugin-hello ./examples/hello-provider
//	bin/sia-agent run --config examples/hello-provider/pipeline.yaml
package main

import (
	"github.com/sia-agent/sia-agent/examples/hello-provider/hello"
	"github.com/sia-agent/sia-agent/sdk"
)

// main prints nothing before Serve: the agent reads the plugin handshake
// from standard output.
func main() { sdk.Serve(&hello.Provider{}) }

// Command sia-agent runs a pipeline of Athenz identity providers.
package main

import (
	"os"
	"os/signal"
	"syscall"

	"github.com/sia-agent/sia-agent/agent/cli"
)

func main() {
	// First of all: a signal that arrives while the agent is still loading
	// must be handled by the lifecycle, not kill the process. SIGHUP's
	// default would end the agent without a word, and its plugins with it.
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr, sigs))
}

// Command sia-agent runs a pipeline of Athenz identity providers. The same
// executable serves the first-party providers (cert, token, metrics,
// health) as the agent's plugin processes.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/sia-agent/sia-agent/agent"
	"github.com/sia-agent/sia-agent/agent/cli"
	"github.com/sia-agent/sia-agent/plugins/builtin"
	"github.com/sia-agent/sia-agent/sdk"
)

func main() {
	if len(os.Args) == 3 && os.Args[1] == cli.PluginCommand {
		serve(os.Args[2])
		return
	}
	// First of all: a signal that arrives while the agent is still loading
	// must be handled by the lifecycle, not kill the process. SIGHUP's
	// default would end the agent without a word, and its plugins with it.
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	builtins := make([]agent.Builtin, 0, len(builtin.Names()))
	for _, name := range builtin.Names() {
		builtins = append(builtins, agent.Builtin{Name: name, Env: builtin.Env(name)})
	}
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr, sigs, builtins, convert))
}

// serve runs the named built-in provider as a plugin process.
func serve(name string) {
	p, ok := builtin.New(name)
	if !ok {
		fmt.Fprintf(os.Stderr, "sia-agent %s: no built-in provider %q\n", cli.PluginCommand, name)
		os.Exit(cli.ExitUsage)
	}
	sdk.Serve(p)
}

// Command floorhost is the start-up floor of the agent's benchmarks: the
// least a go-plugin host can do to launch plugins. It launches the plugin
// binary given n times in parallel, completes each handshake and dispenses
// the provider service, prints "ready", waits for a line on standard input
// and kills them. With -automtls it asks go-plugin for its automatic mTLS,
// to show what that costs.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/sia-agent/sia-agent/sdk/pluginpb"
)

type hostPlugin struct{ plugin.NetRPCUnsupportedPlugin }

func (hostPlugin) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error {
	return errors.New("a host serves nothing")
}

func (hostPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, conn *grpc.ClientConn) (any, error) {
	return conn, nil
}

func main() {
	n := flag.Int("n", 4, "how many copies to launch")
	autoMTLS := flag.Bool("automtls", false, "use go-plugin's automatic mTLS")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: floorhost [-n N] [-automtls] PLUGIN")
		os.Exit(64)
	}
	clients := make([]*plugin.Client, *n)
	errs := make([]error, *n)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			clients[i] = plugin.NewClient(&plugin.ClientConfig{
				HandshakeConfig:  pluginpb.Handshake(),
				VersionedPlugins: map[int]plugin.PluginSet{pluginpb.ProtocolVersion: {pluginpb.PluginName: hostPlugin{}}},
				Cmd:              exec.Command(flag.Arg(0)),
				AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
				AutoMTLS:         *autoMTLS,
				Logger:           hclog.New(&hclog.LoggerOptions{Level: hclog.Off, Output: io.Discard}),
			})
			rpc, err := clients[i].Client()
			if err == nil {
				_, err = rpc.Dispense(pluginpb.PluginName)
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	defer func() {
		for _, c := range clients {
			c.Kill()
		}
	}()
	if err := errors.Join(errs...); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("ready")
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
}

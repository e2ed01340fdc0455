// Command oldprotocol is a provider plugin as an SDK of protocol version 1
// built it: the same magic cookie and plugin name, an older version. The
// agent must refuse it at its handshake, saying why, before any call.
package main

import (
	"context"
	"errors"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/sia-agent/sia-agent/sdk/pluginpb"
)

// v1 serves nothing: the handshake is all the agent gets to see.
type v1 struct{ plugin.NetRPCUnsupportedPlugin }

func (v1) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error { return nil }

func (v1) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, errors.New("a plugin is no host")
}

func main() {
	handshake := pluginpb.Handshake()
	handshake.ProtocolVersion = 1
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  handshake,
		VersionedPlugins: map[int]plugin.PluginSet{1: {pluginpb.PluginName: v1{}}},
		GRPCServer:       plugin.DefaultGRPCServer,
	})
}

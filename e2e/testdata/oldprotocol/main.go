// Command oldprotocol is a provider plugin as an SDK of protocol version 1
// built it: the same magic cookie and service, an older version. The agent
// must refuse it at launch, saying why.
package main

import (
	"context"
	"errors"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/sia-agent/sia-agent/sdk/pluginpb"
)

type provider struct {
	pluginpb.UnimplementedProviderServer
}

type grpcPlugin struct{ plugin.NetRPCUnsupportedPlugin }

func (grpcPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	pluginpb.RegisterProviderServer(s, provider{})
	return nil
}

func (grpcPlugin) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, errors.New("not a host")
}

func main() {
	handshake := pluginpb.Handshake()
	handshake.ProtocolVersion = 1
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  handshake,
		VersionedPlugins: map[int]plugin.PluginSet{1: {pluginpb.PluginName: grpcPlugin{}}},
		GRPCServer:       plugin.DefaultGRPCServer,
		TLSProvider:      pluginpb.ChannelTLS(),
	})
}

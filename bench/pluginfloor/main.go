// Command pluginfloor is the second memory baseline of the lifecycle
// benchmark: go-plugin serving the provider protocol with every call
// unimplemented — no SDK, no metrics registry, no YAML. No plugin built
// on go-plugin's gRPC transport can weigh less.
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

func (grpcPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error { //nolint:unparam // go-plugin's GRPCPlugin interface
	pluginpb.RegisterProviderServer(s, provider{})
	return nil
}

func (grpcPlugin) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, errors.New("not a host")
}

func main() {
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  pluginpb.Handshake(),
		VersionedPlugins: map[int]plugin.PluginSet{pluginpb.ProtocolVersion: {pluginpb.PluginName: grpcPlugin{}}},
		GRPCServer:       plugin.DefaultGRPCServer,
		TLSProvider:      pluginpb.ChannelTLS(), // the agent's channel, when it launches it
	})
}

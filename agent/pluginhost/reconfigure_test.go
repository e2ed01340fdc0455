package pluginhost

import (
	"context"
	"errors"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sia-agent/sia-agent/sdk/pluginpb"
)

// oldPlugin answers Reconfigure as a plugin of an SDK without the call
// does.
type oldPlugin struct{ pluginpb.ProviderClient }

func (oldPlugin) Reconfigure(context.Context, *pluginpb.ReconfigureRequest, ...grpc.CallOption) (*pluginpb.ReconfigureResponse, error) {
	return nil, status.Error(codes.Unimplemented, "unknown method Reconfigure")
}

// A plugin that predates Reconfigure is restarted, not failed.
func TestReconfigureOfAnOldPluginNeedsARestart(t *testing.T) {
	p := &Process{Name: "old", rpc: oldPlugin{}}
	err := p.Reconfigure(context.Background(), "pipeline.yaml", nil)
	var restart *RestartRequiredError
	if !errors.As(err, &restart) {
		t.Fatalf("Reconfigure = %v, want a *RestartRequiredError", err)
	}
}

package status

import (
	"context"
	"fmt"

	"github.com/sia-agent/sia-agent/sdk/pluginpb"
)

// Gatherer returns the metrics of the whole agent, marshalled.
type Gatherer func(ctx context.Context) ([][]byte, error)

// Host returns the Host service the agent serves to the named provider:
// its status records land in the store under its name.
func (s *Store) Host(provider string, gather Gatherer) pluginpb.HostServer {
	return &host{store: s, provider: provider, gather: gather}
}

type host struct {
	pluginpb.UnimplementedHostServer
	store    *Store
	provider string
	gather   Gatherer
}

func (h *host) ReportStatus(_ context.Context, req *pluginpb.ReportStatusRequest) (*pluginpb.ReportStatusResponse, error) {
	if req.GetRecord().GetCredential() == "" {
		return nil, fmt.Errorf("status record from %s names no credential", h.provider)
	}
	h.store.Record(h.provider, req.GetRecord())
	return &pluginpb.ReportStatusResponse{}, nil
}

func (h *host) RemoveStatus(_ context.Context, req *pluginpb.RemoveStatusRequest) (*pluginpb.RemoveStatusResponse, error) {
	if req.GetCredential() == "" {
		return nil, fmt.Errorf("status removal from %s names no credential", h.provider)
	}
	h.store.Remove(h.provider, req.GetCredential())
	return &pluginpb.RemoveStatusResponse{}, nil
}

func (h *host) Gather(ctx context.Context, _ *pluginpb.GatherRequest) (*pluginpb.GatherResponse, error) {
	families, err := h.gather(ctx)
	if err != nil {
		return nil, err
	}
	return &pluginpb.GatherResponse{Families: families}, nil
}

func (h *host) Status(context.Context, *pluginpb.StatusRequest) (*pluginpb.StatusResponse, error) {
	b, err := h.store.JSON()
	if err != nil {
		return nil, err
	}
	return &pluginpb.StatusResponse{ReportJson: b}, nil
}

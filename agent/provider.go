package agent

import (
	"context"
	"sync"
	"time"

	"github.com/sia-agent/sia-agent/agent/lifecycle"
	"github.com/sia-agent/sia-agent/agent/pipeline"
	"github.com/sia-agent/sia-agent/agent/pluginhost"
	"github.com/sia-agent/sia-agent/agent/telemetry"
	"github.com/sia-agent/sia-agent/sdk/pluginpb"
)

// A provider is what the lifecycle drives and what metrics come from.
var (
	_ lifecycle.Provider = (*provider)(nil)
	_ telemetry.Provider = (*provider)(nil)
)

// provider is one enabled provider as the agent runs it: its entry in the
// pipeline, its plugin process, and the Host service the agent serves
// it. It is what the lifecycle drives and what metrics are gathered from.
type provider struct {
	*pluginhost.Process                    // nil until launched
	entry               *pipeline.Provider // its entry in the pipeline
	host                pluginpb.HostServer
	err                 error // what went wrong launching or validating it
}

// Name is the provider's name in the pipeline.
func (p *provider) Name() string { return p.entry.Name }

// ShutdownTimeout is the provider's shutdown_timeout.
func (p *provider) ShutdownTimeout() time.Duration { return p.entry.ShutdownTimeout }

// Init runs the provider's Init, serving it the agent's Host service.
func (p *provider) Init(ctx context.Context) error { return p.Process.Init(ctx, p.host) }

// kill ends every provider's process that runs, all at once.
func kill(providers []*provider) {
	var wg sync.WaitGroup
	for _, p := range providers {
		if p.Process != nil {
			wg.Go(p.Kill)
		}
	}
	wg.Wait()
}

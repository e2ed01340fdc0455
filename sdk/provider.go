// Package sdk is what a sia-agent provider author imports.
//
// A provider is a plugin process that the agent launches, configures and
// drives through the lifecycle that the agent's documentation specifies
// case by case (docs/lifecycle.md in the repository):
//
//	Validate → Init → Start → (run) → Shutdown
//
// Implement Provider and call Serve from main:
//
//	func main() { sdk.Serve(&myProvider{}) }
//
// The agent starts providers in pipeline order and shuts every one of them
// down in reverse order, including those whose Start was skipped. The
// helpers in this package (Group, Retry, RefreshLoop, WaitForServerReady)
// implement the lifecycle's expectations so that a provider gets them
// right by construction.
//
// The module holds the rest of what a provider uses: package conf reads
// its configuration with positions, package fault gives it fault points
// for tests, package sdktest runs it under test, in-process or under the
// real agent. Package pluginpb is the protocol this package speaks to the
// agent; a provider does not use it.
//
// The module is versioned apart from the agent, by tags sdk/vX.Y.Z; its
// guide, sdk/README.md in the repository, says what each release may
// change and how pluginpb.ProtocolVersion relates to it.
package sdk

import (
	"context"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sia-agent/sia-agent/sdk/fault"
)

// Provider is implemented by every provider plugin.
type Provider interface {
	// Validate checks the provider's configuration without side effects.
	// Return what Config.Decode returns, conf.Problems, so that the agent
	// names file, line and key of every problem; any other error is
	// reported as it is, without a position.
	Validate(ctx context.Context, cfg Config) error

	// Init prepares the provider: the lifecycle's New(). It may fetch
	// credentials once; in init mode it is all that runs. ctx is cancelled
	// when the agent receives a signal, so retries stop.
	Init(ctx context.Context, rt *Runtime) error

	// Start creates the provider's goroutines and returns. ctx is the run
	// context: it is cancelled, with the agent's cause, the moment the
	// agent's run context is, but Start is never cut short by the agent.
	// Goroutines must be created only here, but for an attempt upstream
	// that Init began and lets outlive it (in a Group, so that Shutdown
	// stops it), as the cert provider's first attempt at ZTS does.
	Start(ctx context.Context) error

	// Shutdown notifies every goroutine to stop and waits until all have.
	// It is called exactly once, whether or not Start ran, so it must be
	// safe without Start.
	Shutdown(ctx context.Context) error
}

// Mode is how the agent runs the pipeline.
type Mode string

// The agent's modes.
const (
	// ModeRefresh is the long-running daemon: Init, Start, wait, Shutdown.
	ModeRefresh Mode = "refresh"
	// ModeInit runs Init only, as a Kubernetes init container would.
	ModeInit Mode = "init"
)

// Runtime is what the agent gives a provider at Init.
type Runtime struct {
	// Name is the provider's name in the pipeline.
	Name string
	// Mode is the agent's mode.
	Mode Mode
	// Config is the provider's configuration, already validated.
	Config Config
	// Logger forwards to the agent's log under the provider's name.
	Logger hclog.Logger
	// Metrics registers the provider's Prometheus collectors; the agent's
	// metrics endpoint exposes them with a provider label.
	Metrics prometheus.Registerer
	// Host reaches the agent: status records go there.
	Host Host
	// Circuits gate calls to upstream endpoints with the agent's one
	// circuit per endpoint (see Circuits); never nil under Serve.
	Circuits Circuits
	// Faults are the provider's fault points; nil (inert) outside tests.
	Faults *fault.Points
}

// Fault runs the named fault point of the provider. It is a no-op unless a
// test turned the point on.
func (rt *Runtime) Fault(ctx context.Context, point string) error {
	if rt == nil {
		return nil
	}
	return rt.Faults.Hit(ctx, point)
}

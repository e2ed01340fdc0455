package ztsclient

import (
	"context"
	"net/http"
	"time"

	"github.com/sia-agent/sia-agent/sdk"
)

// gate holds a client's calls with the endpoint's circuit: while ZTS
// fails, the agent sends it one probe per interval, whichever provider or
// credential asks, and the calls it holds fail at once with a
// *sdk.CircuitOpenError when their context cannot wait for the probe.
type gate struct {
	circuits sdk.Circuits // nil: calls are not gated
	endpoint string
	policy   sdk.CircuitPolicy
	timeout  time.Duration // the client's bound on one call; 0: none
}

func (g gate) wait(ctx context.Context) error {
	if g.circuits == nil {
		return nil
	}
	if g.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, g.timeout)
		defer cancel()
	}
	return g.circuits.Wait(ctx, g.endpoint, g.policy)
}

func (g gate) report(ctx context.Context, resp *http.Response, err error) {
	if g.circuits != nil {
		g.circuits.Report(ctx, g.endpoint, g.policy, sdk.CallResultOf(ctx, resp, err))
	}
}

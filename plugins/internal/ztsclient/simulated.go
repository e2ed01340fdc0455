package ztsclient

import (
	"context"
	"fmt"
	"time"

	"github.com/sia-agent/sia-agent/sdk"
)

// SimulatedCallResult classifies an answer of a model of ZTS, for the
// providers' fleet simulations, as sdk.CallResultOf classifies a real
// one: abandoned when ctx ended, failed on a 5xx or a 429 (with its
// Retry-After), else succeeded. The model answers without a response to
// read, so the reason is the status alone.
func SimulatedCallResult(ctx context.Context, status int, retryAfter time.Duration) sdk.CallResult {
	r := sdk.CallResult{Outcome: sdk.CallSucceeded, Status: status}
	switch {
	case ctx.Err() != nil:
		r.Outcome = sdk.CallAbandoned
	case status >= 500 || status == 429:
		r.Outcome, r.Reason, r.RetryAfter = sdk.CallFailed, fmt.Sprint(status), retryAfter
	}
	return r
}

package ztsclient

import (
	"context"
	"testing"
	"time"

	"github.com/sia-agent/sia-agent/sdk"
)

func TestSimulatedCallResult(t *testing.T) {
	done, cancel := context.WithCancel(context.Background())
	cancel()
	for _, c := range []struct {
		ctx    context.Context
		status int
		want   sdk.CallResult
	}{
		{context.Background(), 200, sdk.CallResult{Outcome: sdk.CallSucceeded, Status: 200}},
		{context.Background(), 403, sdk.CallResult{Outcome: sdk.CallSucceeded, Status: 403}},
		{context.Background(), 503, sdk.CallResult{Outcome: sdk.CallFailed, Status: 503, Reason: "503", RetryAfter: time.Second}},
		{context.Background(), 429, sdk.CallResult{Outcome: sdk.CallFailed, Status: 429, Reason: "429", RetryAfter: time.Second}},
		{done, 0, sdk.CallResult{Outcome: sdk.CallAbandoned}},
	} {
		if got := SimulatedCallResult(c.ctx, c.status, time.Second); got != c.want {
			t.Errorf("status %d: %+v, want %+v", c.status, got, c.want)
		}
	}
}

package sdk

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	grpcstatus "google.golang.org/grpc/status"

	"github.com/sia-agent/sia-agent/sdk/pluginpb"
)

// oldAgent is the Host of an agent that predates circuits.
type oldAgent struct {
	pluginpb.HostClient
	calls int
}

func (a *oldAgent) WaitCircuit(context.Context, *pluginpb.WaitCircuitRequest, ...grpc.CallOption) (*pluginpb.WaitCircuitResponse, error) {
	a.calls++
	return nil, grpcstatus.Error(codes.Unimplemented, "unknown method WaitCircuit")
}

func (a *oldAgent) ReportCall(context.Context, *pluginpb.ReportCallRequest, ...grpc.CallOption) (*pluginpb.ReportCallResponse, error) {
	a.calls++
	return nil, grpcstatus.Error(codes.Unimplemented, "unknown method ReportCall")
}

// Under an agent without circuits, a provider keeps its own, and asks the
// agent once.
func TestHostCircuitsFallBackUnderAnOlderAgent(t *testing.T) {
	agent := &oldAgent{}
	h := &hostCircuits{client: agent, own: NewCircuitSet()}
	ctx := context.Background()
	for range 2 {
		if err := h.Wait(ctx, "zts", CircuitPolicy{}); err != nil {
			t.Fatal(err)
		}
		h.Report(ctx, "zts", CircuitPolicy{}, CallResult{Outcome: CallFailed, Status: 503})
	}
	short, cancel := context.WithTimeout(ctx, time.Millisecond)
	defer cancel()
	var open *CircuitOpenError
	if err := h.Wait(short, "zts", CircuitPolicy{}); !errors.As(err, &open) || open.Status != 503 {
		t.Errorf("Wait = %v, want the provider's own circuit open", err)
	}
	if agent.calls != 1 {
		t.Errorf("the agent was asked %d times, want once", agent.calls)
	}
}

// The agent's answer that a call is held comes back as a CircuitOpenError.
func TestWaitCircuitResponseRoundTrip(t *testing.T) {
	resp, err := WaitCircuitResponse(&CircuitOpenError{Endpoint: "zts", RetryIn: 42 * time.Second, Status: 503, Reason: "503 Service Unavailable"})
	if err != nil || !resp.GetOpen() || resp.GetRetryInMicros() != 42e6 || resp.GetLastStatus() != 503 {
		t.Fatalf("%+v %v", resp, err)
	}
	if resp, err := WaitCircuitResponse(nil); err != nil || resp.GetOpen() {
		t.Errorf("a call that may go: %+v %v", resp, err)
	}
	p := CircuitPolicy{Failures: 3, Initial: time.Second, Multiplier: 2, Max: time.Minute, Spread: time.Second}
	if got := CircuitPolicyFromProto(policyProto(p)); got != p {
		t.Errorf("policy round trip: %+v", got)
	}
}

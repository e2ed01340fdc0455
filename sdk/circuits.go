package sdk

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	grpcstatus "google.golang.org/grpc/status"

	"github.com/sia-agent/sia-agent/sdk/pluginpb"
)

// Circuits gate a provider's calls to upstream endpoints (ZTS) with one
// circuit per endpoint for the whole agent: every provider's calls to an
// endpoint share its backoff, so an agent sends one probe per interval to
// a failing endpoint however many credentials wait for it. Runtime.Circuits
// is the agent's; a provider run without an agent, or under an agent that
// predates circuits, gets circuits of its own process.
//
// Around each call:
//
//	if err := rt.Circuits.Wait(ctx, endpoint, policy); err != nil {
//		return err // held: a *CircuitOpenError says until when
//	}
//	resp, err := client.Do(req)
//	rt.Circuits.Report(ctx, endpoint, policy, sdk.CallResultOf(ctx, resp, err))
//
// An endpoint's circuit takes its policy from the first call that names
// it: give every provider that calls an endpoint the same policy.
type Circuits interface {
	// Wait returns once a call may go, or a *CircuitOpenError (possibly
	// wrapped with ctx's cause) when it is held beyond what ctx allows.
	Wait(ctx context.Context, endpoint string, p CircuitPolicy) error
	// Report records the outcome of a call Wait let go.
	Report(ctx context.Context, endpoint string, p CircuitPolicy, r CallResult)
}

// CallResultOf classifies an HTTP call for Report: a response (of any
// status but 5xx and 429) succeeded; no response failed, unless ctx ended
// first (abandoned). It reads Retry-After from the response.
func CallResultOf(ctx context.Context, resp *http.Response, err error) CallResult {
	switch {
	case err != nil && ctx.Err() != nil:
		return CallResult{Outcome: CallAbandoned}
	case err != nil:
		return CallResult{Outcome: CallFailed, Reason: "no answer: " + Outcome(err)}
	}
	r := CallResult{Outcome: CallSucceeded, Status: resp.StatusCode}
	if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
		r.Outcome, r.Reason = CallFailed, strconv.Itoa(resp.StatusCode)+" "+http.StatusText(resp.StatusCode)
		r.RetryAfter = ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	}
	return r
}

// ParseRetryAfter reads a Retry-After header, in seconds or an HTTP date;
// 0 when there is none or it cannot be read.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseUint(v, 10, 32); err == nil {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// MaxCircuits bounds the endpoints a CircuitSet keeps a circuit for;
// calls to any more go ungated.
const MaxCircuits = 64

// CircuitSet is the circuits of one process, by endpoint: the agent's, and
// a provider's own when it has no agent to share them with.
type CircuitSet struct {
	mu       sync.Mutex
	circuits map[string]*Circuit
}

// NewCircuitSet returns an empty set.
func NewCircuitSet() *CircuitSet { return &CircuitSet{circuits: make(map[string]*Circuit)} }

// Circuit returns endpoint's circuit, made with p if it is new; nil beyond
// MaxCircuits endpoints.
func (s *CircuitSet) Circuit(endpoint string, p CircuitPolicy) *Circuit {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.circuits[endpoint]
	if c == nil && len(s.circuits) < MaxCircuits {
		c = NewCircuit(endpoint, p)
		s.circuits[endpoint] = c
	}
	return c
}

// Wait implements Circuits.
func (s *CircuitSet) Wait(ctx context.Context, endpoint string, p CircuitPolicy) error {
	if c := s.Circuit(endpoint, p); c != nil {
		return c.Wait(ctx)
	}
	return nil
}

// Report implements Circuits.
func (s *CircuitSet) Report(_ context.Context, endpoint string, p CircuitPolicy, r CallResult) {
	if c := s.Circuit(endpoint, p); c != nil {
		c.Report(r)
	}
}

// Snapshots returns every circuit's state, by endpoint.
func (s *CircuitSet) Snapshots() []CircuitSnapshot {
	s.mu.Lock()
	cs := make([]*Circuit, 0, len(s.circuits))
	for _, c := range s.circuits {
		cs = append(cs, c)
	}
	s.mu.Unlock()
	snaps := make([]CircuitSnapshot, len(cs))
	for i, c := range cs {
		snaps[i] = c.Snapshot()
	}
	sort.Slice(snaps, func(i, j int) bool { return snaps[i].Endpoint < snaps[j].Endpoint })
	return snaps
}

// hostCircuits are the agent's circuits, reached through the Host
// service. Under an agent without them (an older one), the provider's own
// circuits stand in.
type hostCircuits struct {
	client pluginpb.HostClient
	own    *CircuitSet
	// unimplemented: the agent does not serve circuits.
	unimplemented atomic.Bool
}

func (h *hostCircuits) Wait(ctx context.Context, endpoint string, p CircuitPolicy) error {
	if h.unimplemented.Load() {
		return h.own.Wait(ctx, endpoint, p)
	}
	resp, err := h.client.WaitCircuit(ctx, &pluginpb.WaitCircuitRequest{Endpoint: endpoint, Policy: policyProto(p)})
	switch {
	case err == nil && resp.GetOpen():
		return &CircuitOpenError{Endpoint: endpoint, RetryIn: time.Duration(resp.GetRetryInMicros()) * time.Microsecond,
			Status: int(resp.GetLastStatus()), Reason: resp.GetLastReason()}
	case err == nil:
		return nil
	case grpcstatus.Code(err) == codes.Unimplemented:
		h.unimplemented.Store(true)
		return h.own.Wait(ctx, endpoint, p)
	case ctx.Err() != nil: // before the agent could answer: not the circuit's doing
		return fmt.Errorf("asking the agent whether a call to %s may go: %w (%w)", endpoint, context.Cause(ctx), ctx.Err())
	}
	return nil // the agent cannot be asked: the call goes
}

func (h *hostCircuits) Report(ctx context.Context, endpoint string, p CircuitPolicy, r CallResult) {
	if h.unimplemented.Load() {
		h.own.Report(ctx, endpoint, p, r)
		return
	}
	// Reported even when the call's context is over: the circuit needs it.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_, err := h.client.ReportCall(ctx, &pluginpb.ReportCallRequest{
		Endpoint: endpoint, Policy: policyProto(p), Outcome: int32Of(int(r.Outcome)),
		Status: int32Of(r.Status), Reason: r.Reason, RetryAfterMicros: r.RetryAfter.Microseconds(),
	})
	if grpcstatus.Code(err) == codes.Unimplemented {
		h.unimplemented.Store(true)
		h.own.Report(ctx, endpoint, p, r)
	}
}

func policyProto(p CircuitPolicy) *pluginpb.CircuitPolicy {
	return &pluginpb.CircuitPolicy{
		Failures: int32Of(p.Failures), InitialMicros: p.Initial.Microseconds(), Multiplier: p.Multiplier,
		MaxMicros: p.Max.Microseconds(), SpreadMicros: p.Spread.Microseconds(),
	}
}

// int32Of is v as the protocol's int32, clamped: statuses, counts and
// outcomes are small.
func int32Of(v int) int32 {
	return int32(max(min(v, math.MaxInt32), math.MinInt32)) //nolint:gosec // clamped
}

// CircuitPolicyFromProto is the policy a Host request carries, for the
// agent's side of the Host service.
func CircuitPolicyFromProto(p *pluginpb.CircuitPolicy) CircuitPolicy {
	us := func(v int64) time.Duration { return time.Duration(v) * time.Microsecond }
	return CircuitPolicy{
		Failures: int(p.GetFailures()), Initial: us(p.GetInitialMicros()), Multiplier: p.GetMultiplier(),
		Max: us(p.GetMaxMicros()), Spread: us(p.GetSpreadMicros()),
	}
}

// CallResultFromProto is the call result a Host request carries.
func CallResultFromProto(req *pluginpb.ReportCallRequest) CallResult {
	return CallResult{
		Outcome: CallOutcome(req.GetOutcome()), Status: int(req.GetStatus()), Reason: req.GetReason(),
		RetryAfter: time.Duration(req.GetRetryAfterMicros()) * time.Microsecond,
	}
}

// WaitCircuitResponse is the Host's answer to a wait, from Wait's error.
func WaitCircuitResponse(err error) (*pluginpb.WaitCircuitResponse, error) {
	var open *CircuitOpenError
	if !errors.As(err, &open) {
		return &pluginpb.WaitCircuitResponse{}, err
	}
	return &pluginpb.WaitCircuitResponse{Open: true, RetryInMicros: open.RetryIn.Microseconds(),
		LastStatus: int32Of(open.Status), LastReason: open.Reason}, nil
}

package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/sia-agent/sia-agent/sdk/pluginpb"
)

// Reason says why a credential update was attempted; docs/lifecycle.md
// lists them with the outcomes.
type Reason string

// Update reasons.
const (
	ReasonNew          Reason = "NEW"           // no credential yet
	ReasonExpires      Reason = "EXPIRES"       // the refresh point was reached
	ReasonParamsChange Reason = "PARAMS_CHANGE" // key, config or endpoint changed
	ReasonForceRefresh Reason = "FORCE_REFRESH" // asked for explicitly
	ReasonIsGood       Reason = "IS_GOOD"       // still fresh: nothing done
)

// OutcomeSuccess is the outcome of an update that worked. Anything else is
// the class of the error that stopped it (see Outcome).
const OutcomeSuccess = "SUCCESS"

// StatusRecord is the result of one credential update.
type StatusRecord struct {
	// Credential names the credential within the provider, e.g. "identity"
	// or "rolecert/sports:role.readers".
	Credential string
	// Kind is the credential's kind, e.g. "x509", "roletoken", "accesstoken".
	Kind    string
	Reason  Reason // why the update ran
	Outcome string // OutcomeSuccess, or an error class; Outcome(Err) when empty
	Err     error  // why the update failed; nil on success

	Started     time.Time     // when the update began
	Duration    time.Duration // the whole update, local I/O included
	RPCDuration time.Duration // the upstream calls, retries included

	LastUpdate time.Time // last successful update
	NextUpdate time.Time // when the next update is due
	Expiry     time.Time // when the current credential expires

	// Optional marks a credential the provider keeps only while clients
	// use it, such as an on-demand token: it appears in the status report
	// and the metrics, but its failure never makes the agent unready.
	Optional bool

	// Files are the paths the update wrote (a key, a certificate, a token
	// file). The agent names them to the hooks that run when the
	// credential changes (docs/hooks.md), so that a workload can reload
	// just what changed.
	Files []string
}

// Outcome classifies err for a StatusRecord: SUCCESS, CANCELED, TIMEOUT,
// UNREACHABLE, FILE_ERROR, or an upstream class the error names itself by
// implementing interface{ Outcome() string }; anything else is ERROR.
func Outcome(err error) string {
	var classed interface{ Outcome() string }
	var netErr net.Error
	var pathErr *os.PathError
	switch {
	case err == nil:
		return OutcomeSuccess
	case errors.As(err, &classed):
		return classed.Outcome()
	case errors.Is(err, context.Canceled):
		return "CANCELED"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return "TIMEOUT"
	case errors.As(err, &netErr):
		return "UNREACHABLE"
	case errors.As(err, &pathErr):
		return "FILE_ERROR"
	}
	return "ERROR"
}

// Host is the agent as a provider sees it.
type Host interface {
	// ReportStatus hands the agent the record of one credential update; the
	// agent keeps the status report and the freshness metrics from them.
	ReportStatus(ctx context.Context, rec StatusRecord) error
	// RemoveStatus tells the agent that the provider no longer keeps the
	// named credential (an evicted on-demand token, say): its record
	// leaves the status report, readiness and the metrics.
	RemoveStatus(ctx context.Context, credential string) error
	// Metrics returns the metrics of the whole agent: every provider's,
	// labelled with its name, and the agent's own.
	Metrics(ctx context.Context) ([]*dto.MetricFamily, error)
	// Status returns the agent's status report.
	Status(ctx context.Context) (*StatusReport, error)
}

// ErrNoHost is returned by the Host of a provider run without an agent.
var ErrNoHost = errors.New("no agent: the provider runs on its own")

func (r StatusRecord) proto() *pluginpb.StatusRecord {
	p := &pluginpb.StatusRecord{
		Credential:          r.Credential,
		Kind:                r.Kind,
		UpdateReason:        pluginpb.UpdateReasonOf(string(r.Reason)),
		UpdateOutcome:       r.Outcome,
		StartedUnixMicros:   unixMicros(r.Started),
		TotalDurationMicros: r.Duration.Microseconds(),
		RpcDurationMicros:   r.RPCDuration.Microseconds(),
		LastUpdateUnix:      unix(r.LastUpdate),
		NextUpdateUnix:      unix(r.NextUpdate),
		ExpiryUnix:          unix(r.Expiry),
		Optional:            r.Optional,
		Files:               r.Files,
	}
	if p.UpdateOutcome == "" {
		p.UpdateOutcome = Outcome(r.Err)
	}
	if r.Err != nil {
		p.FailureError = r.Err.Error()
	}
	return p
}

func unix(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

func unixMicros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// hostClient reaches the agent's Host service over the plugin broker.
type hostClient struct {
	client pluginpb.HostClient
}

func (h hostClient) ReportStatus(ctx context.Context, rec StatusRecord) error {
	_, err := h.client.ReportStatus(ctx, &pluginpb.ReportStatusRequest{Record: rec.proto()})
	return err
}

func (h hostClient) RemoveStatus(ctx context.Context, credential string) error {
	_, err := h.client.RemoveStatus(ctx, &pluginpb.RemoveStatusRequest{Credential: credential})
	return err
}

func (h hostClient) Metrics(ctx context.Context) ([]*dto.MetricFamily, error) {
	resp, err := h.client.Gather(ctx, &pluginpb.GatherRequest{})
	if err != nil {
		return nil, fmt.Errorf("gathering the agent's metrics: %w", err)
	}
	return pluginpb.UnmarshalFamilies(resp.GetFamilies())
}

func (h hostClient) Status(ctx context.Context) (*StatusReport, error) {
	resp, err := h.client.Status(ctx, &pluginpb.StatusRequest{})
	if err != nil {
		return nil, fmt.Errorf("getting the agent's status: %w", err)
	}
	var rep StatusReport
	if err := json.Unmarshal(resp.GetReportJson(), &rep); err != nil {
		return nil, fmt.Errorf("decoding the agent's status: %w", err)
	}
	return &rep, nil
}

// noHost is the Host of a provider run without an agent: status reports
// go nowhere, and there is no agent to ask for metrics or status.
type noHost struct{}

func (noHost) ReportStatus(context.Context, StatusRecord) error { return nil }

func (noHost) RemoveStatus(context.Context, string) error { return nil }

func (noHost) Metrics(context.Context) ([]*dto.MetricFamily, error) { return nil, ErrNoHost }

func (noHost) Status(context.Context) (*StatusReport, error) { return nil, ErrNoHost }

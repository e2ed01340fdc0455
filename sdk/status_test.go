package sdk

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	"github.com/sia-agent/sia-agent/sdk/pluginpb"
)

type classed struct{ class string }

func (c classed) Error() string   { return "upstream said no" }
func (c classed) Outcome() string { return c.class }

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestOutcome(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	cases := []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, OutcomeSuccess},
		{"classed", classed{"NOT_FOUND"}, "NOT_FOUND"},
		{"wrapped classed", fmt.Errorf("role cert: %w", classed{"FORBIDDEN"}), "FORBIDDEN"},
		{"classed beats cancellation", fmt.Errorf("%w: %w", context.Canceled, classed{"FORBIDDEN"}), "FORBIDDEN"},
		{"canceled", context.Canceled, "CANCELED"},
		{"retries stopped", fmt.Errorf("%w: %w (%w)", ErrRetriesStopped, errors.New("503"), context.Canceled), "CANCELED"},
		{"deadline", context.DeadlineExceeded, "TIMEOUT"},
		{"wrapped deadline", fmt.Errorf("fetch: %w", context.DeadlineExceeded), "TIMEOUT"},
		{"net timeout", &net.OpError{Op: "read", Net: "tcp", Err: timeoutErr{}}, "TIMEOUT"},
		{"os deadline", os.ErrDeadlineExceeded, "TIMEOUT"},
		{"refused", refused, "UNREACHABLE"},
		{"wrapped refused", fmt.Errorf("post: %w", refused), "UNREACHABLE"},
		{"dns", &net.DNSError{Err: "no such host", Name: "zts"}, "UNREACHABLE"},
		{"file", &os.PathError{Op: "open", Path: "/var/run/sia/key.pem", Err: os.ErrPermission}, "FILE_ERROR"},
		{"other", errors.New("bad response"), "ERROR"},
	}
	for _, c := range cases {
		if got := Outcome(c.err); got != c.want {
			t.Errorf("%s: Outcome(%v) = %q, want %q", c.name, c.err, got, c.want)
		}
	}
}

func TestStatusRecordProto(t *testing.T) {
	started := time.Date(2026, 3, 14, 11, 22, 55, 123456000, time.UTC)
	rec := StatusRecord{
		Credential:  "rolecert/sports:role.readers",
		Kind:        "x509",
		Reason:      ReasonExpires,
		Err:         fmt.Errorf("post: %w", &net.OpError{Op: "dial", Err: errors.New("refused")}),
		Started:     started,
		Duration:    1500 * time.Microsecond,
		RPCDuration: 1200*time.Microsecond + 999*time.Nanosecond,
		LastUpdate:  started.Add(-time.Hour),
		NextUpdate:  started.Add(time.Hour),
		Expiry:      started.Add(24 * time.Hour),
	}
	p := rec.proto()
	if p.GetCredential() != rec.Credential || p.GetKind() != "x509" || p.GetUpdateReason() != pluginpb.UpdateReason_UPDATE_REASON_EXPIRES {
		t.Errorf("identity: %v", p)
	}
	if p.GetUpdateOutcome() != "UNREACHABLE" || p.GetFailureError() != "post: dial: refused" {
		t.Errorf("outcome %q, error %q", p.GetUpdateOutcome(), p.GetFailureError())
	}
	if p.GetStartedUnixMicros() != started.UnixMicro() || p.GetTotalDurationMicros() != 1500 || p.GetRpcDurationMicros() != 1200 {
		t.Errorf("times: %v", p)
	}
	if p.GetLastUpdateUnix() != started.Unix()-3600 || p.GetNextUpdateUnix() != started.Unix()+3600 || p.GetExpiryUnix() != started.Unix()+86400 {
		t.Errorf("timestamps: %v", p)
	}

	// An explicit outcome is kept; zero times are 0, not year 1.
	p = StatusRecord{Credential: "identity", Reason: ReasonIsGood, Outcome: OutcomeSuccess}.proto()
	if p.GetUpdateOutcome() != "SUCCESS" || p.GetFailureError() != "" || p.GetStartedUnixMicros() != 0 ||
		p.GetLastUpdateUnix() != 0 || p.GetNextUpdateUnix() != 0 || p.GetExpiryUnix() != 0 {
		t.Errorf("zero record: %v", p)
	}
	p = StatusRecord{Credential: "identity", Reason: ReasonNew, Outcome: "FORBIDDEN", Err: errors.New("403")}.proto()
	if p.GetUpdateOutcome() != "FORBIDDEN" || p.GetFailureError() != "403" {
		t.Errorf("explicit outcome: %v", p)
	}
	// No outcome and no error: success.
	if got := (StatusRecord{Credential: "identity"}).proto().GetUpdateOutcome(); got != OutcomeSuccess {
		t.Errorf("outcome of a record without error = %q", got)
	}
}

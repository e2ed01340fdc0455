package status

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sia-agent/sia-agent/agent/lifecycle"
	"github.com/sia-agent/sia-agent/sdk"
	"github.com/sia-agent/sia-agent/sdk/pluginpb"
)

var now = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

func newStore(providers ...string) *Store {
	s := New("test", "refresh", "", providers)
	s.now = func() time.Time { return now }
	return s
}

func record(cred, outcome string, last, expiry time.Time) *pluginpb.StatusRecord {
	r := &pluginpb.StatusRecord{Credential: cred, Kind: "x509", UpdateReason: pluginpb.UpdateReason_UPDATE_REASON_EXPIRES, UpdateOutcome: outcome}
	if !last.IsZero() {
		r.LastUpdateUnix = last.Unix()
	}
	if !expiry.IsZero() {
		r.ExpiryUnix = expiry.Unix()
	}
	if outcome != sdk.OutcomeSuccess {
		r.FailureError = "404 no such domain"
	}
	return r
}

func TestReadiness(t *testing.T) {
	cases := []struct {
		name    string
		phase   lifecycle.Phase
		states  map[string]lifecycle.State
		records map[string][]*pluginpb.StatusRecord
		ready   bool
		reasons []string // substrings of the not-ready reasons, in order
	}{
		{
			name:   "all started, no credentials",
			phase:  lifecycle.PhaseRunning,
			states: map[string]lifecycle.State{"a": lifecycle.StateStarted, "b": lifecycle.StateStarted},
			ready:  true,
		},
		{
			name:    "still starting",
			phase:   lifecycle.PhaseStart,
			states:  map[string]lifecycle.State{"a": lifecycle.StateStarted, "b": lifecycle.StateInitialized},
			reasons: []string{"agent is in phase start", "state initialized"},
		},
		{
			name:    "a provider failed",
			phase:   lifecycle.PhaseRunning,
			states:  map[string]lifecycle.State{"a": lifecycle.StateStarted, "b": lifecycle.StateFailed},
			reasons: []string{"state failed"},
		},
		{
			name:   "valid credential",
			phase:  lifecycle.PhaseRunning,
			states: map[string]lifecycle.State{"a": lifecycle.StateStarted, "b": lifecycle.StateStarted},
			records: map[string][]*pluginpb.StatusRecord{
				"a": {record("identity", sdk.OutcomeSuccess, now.Add(-time.Minute), now.Add(time.Hour))},
			},
			ready: true,
		},
		{
			name:   "a failed refresh of a still valid credential keeps it ready",
			phase:  lifecycle.PhaseRunning,
			states: map[string]lifecycle.State{"a": lifecycle.StateStarted, "b": lifecycle.StateStarted},
			records: map[string][]*pluginpb.StatusRecord{
				"a": {
					record("identity", sdk.OutcomeSuccess, now.Add(-time.Minute), now.Add(time.Hour)),
					record("identity", "ZTS_ERROR_404", time.Time{}, now.Add(time.Hour)),
				},
			},
			ready: true,
		},
		{
			name:   "expired credential",
			phase:  lifecycle.PhaseRunning,
			states: map[string]lifecycle.State{"a": lifecycle.StateStarted, "b": lifecycle.StateStarted},
			records: map[string][]*pluginpb.StatusRecord{
				"a": {record("identity", "UNREACHABLE", now.Add(-2*time.Hour), now.Add(-time.Second))},
			},
			reasons: []string{"expired at 2026-11-24T11:59:59Z; last update UNREACHABLE: 404 no such domain"},
		},
		{
			name:   "never obtained",
			phase:  lifecycle.PhaseRunning,
			states: map[string]lifecycle.State{"a": lifecycle.StateStarted, "b": lifecycle.StateStarted},
			records: map[string][]*pluginpb.StatusRecord{
				"b": {record("rolecert/x:role.y", "ZTS_ERROR_403", time.Time{}, time.Time{})},
			},
			reasons: []string{"no credential yet: last update ZTS_ERROR_403"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newStore("a", "b")
			s.SetPhase(c.phase)
			for name, state := range c.states {
				s.SetState(name, state, nil)
			}
			for provider, recs := range c.records {
				for _, r := range recs {
					s.Record(provider, r)
				}
			}
			rep := s.Report()
			if rep.Ready != c.ready {
				t.Errorf("Ready = %v, want %v; not ready: %+v", rep.Ready, c.ready, rep.NotReady)
			}
			if len(rep.NotReady) != len(c.reasons) {
				t.Fatalf("not ready = %+v, want %d reasons %q", rep.NotReady, len(c.reasons), c.reasons)
			}
			for i, want := range c.reasons {
				if !strings.Contains(rep.NotReady[i].Reason, want) {
					t.Errorf("reason %d = %q, want it to contain %q", i, rep.NotReady[i].Reason, want)
				}
			}
		})
	}
}

func TestFailedUpdateKeepsLastSuccess(t *testing.T) {
	s := newStore("a")
	last := now.Add(-time.Minute)
	s.Record("a", record("identity", sdk.OutcomeSuccess, last, now.Add(time.Hour)))
	s.Record("a", record("identity", "TIMEOUT", time.Time{}, now.Add(time.Hour)))
	c := s.Report().Credentials[0]
	if c.LastUpdateTS != last.Unix() {
		t.Errorf("last update %d, want %d (the last success)", c.LastUpdateTS, last.Unix())
	}
	if c.UpdateOutcome != "TIMEOUT" || c.FailureError == "" {
		t.Errorf("latest outcome %q (%q), want TIMEOUT with its error", c.UpdateOutcome, c.FailureError)
	}
}

func TestLogDumpKeepsTheLastLines(t *testing.T) {
	s := newStore("a", "b")
	for i := range LogLines + 5 {
		s.Log("a", fmt.Sprintf("line %d", i))
	}
	s.Log("b", "only")
	s.Log("unknown", "dropped")
	rep := s.Report()
	a := rep.Providers[0].LogDump
	if len(a) != LogLines || a[0] != "line 5" || a[LogLines-1] != fmt.Sprintf("line %d", LogLines+4) {
		t.Errorf("log dump of a = %q", a)
	}
	if b := rep.Providers[1].LogDump; len(b) != 1 || b[0] != "only" {
		t.Errorf("log dump of b = %q", b)
	}
}

func TestHostKeepsRecordsUnderTheProvidersName(t *testing.T) {
	s := newStore("cert")
	h := s.Host("cert", func(context.Context) ([][]byte, error) { return [][]byte{[]byte("x")}, nil })
	ctx := context.Background()
	if _, err := h.ReportStatus(ctx, &pluginpb.ReportStatusRequest{Record: record("identity", sdk.OutcomeSuccess, now, now.Add(time.Hour))}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.ReportStatus(ctx, &pluginpb.ReportStatusRequest{Record: &pluginpb.StatusRecord{}}); err == nil {
		t.Error("a record naming no credential was accepted")
	}
	resp, err := h.Status(ctx, &pluginpb.StatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var rep sdk.StatusReport
	if err := json.Unmarshal(resp.GetReportJson(), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Credentials) != 1 || rep.Credentials[0].Provider != "cert" {
		t.Errorf("credentials = %+v", rep.Credentials)
	}
	g, err := h.Gather(ctx, &pluginpb.GatherRequest{})
	if err != nil || len(g.GetFamilies()) != 1 {
		t.Errorf("Gather = %v, %v", g, err)
	}
}

func TestStatusFileRewrittenOnChange(t *testing.T) {
	s := newStore("a")
	path := filepath.Join(t.TempDir(), "status.json")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.WriteFile(ctx, path, hclog.NewNullLogger())
	}()
	s.SetPhase(lifecycle.PhaseRunning)
	s.SetState("a", lifecycle.StateStarted, nil)
	cancel()
	<-done // the final write happens before WriteFile returns
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rep sdk.StatusReport
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatalf("status file is not JSON: %v\n%s", err, data)
	}
	if !rep.Ready || rep.Providers[0].State != "started" {
		t.Errorf("status file = %+v", rep)
	}
	if info, _ := os.Stat(path); info.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", info.Mode().Perm())
	}
}

func TestCollector(t *testing.T) {
	s := newStore("a")
	s.SetPhase(lifecycle.PhaseRunning)
	s.SetState("a", lifecycle.StateStarted, nil)
	s.Record("a", record("identity", sdk.OutcomeSuccess, now.Add(-time.Minute), now.Add(time.Hour)))
	s.Record("a", record("identity", "TIMEOUT", time.Time{}, now.Add(time.Hour)))
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(s.Collector())
	want := fmt.Sprintf(`# HELP sia_credential_expiry_timestamp_seconds When the credential expires, as a Unix timestamp.
# TYPE sia_credential_expiry_timestamp_seconds gauge
sia_credential_expiry_timestamp_seconds{credential="identity",kind="x509",provider="a"} %d
# HELP sia_credential_updates_total Credential updates, by outcome.
# TYPE sia_credential_updates_total counter
sia_credential_updates_total{credential="identity",kind="x509",outcome="SUCCESS",provider="a"} 1
sia_credential_updates_total{credential="identity",kind="x509",outcome="TIMEOUT",provider="a"} 1
# HELP sia_agent_ready Whether the agent is ready: every provider started and every credential valid.
# TYPE sia_agent_ready gauge
sia_agent_ready 1
`, now.Add(time.Hour).Unix())
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"sia_credential_expiry_timestamp_seconds", "sia_credential_updates_total", "sia_agent_ready"); err != nil {
		t.Error(err)
	}
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

func TestSetStateKeepsTheError(t *testing.T) {
	s := newStore("a")
	s.SetState("a", lifecycle.StateFailed, errors.New("bind: address already in use"))
	p := s.Report().Providers[0]
	if p.State != "failed" || p.Error != "bind: address already in use" {
		t.Errorf("provider = %+v", p)
	}
	s.SetState("a", lifecycle.StateStopped, nil)
	if p := s.Report().Providers[0]; p.Error != "" {
		t.Errorf("error kept after a later state: %+v", p)
	}
}

func TestRemovedCredentialLeavesReportReadinessAndMetrics(t *testing.T) {
	s := newStore("token")
	s.SetPhase(lifecycle.PhaseRunning)
	s.SetState("token", lifecycle.StateStarted, nil)
	h := s.Host("token", nil)
	ctx := context.Background()
	expired := record("accesstoken/sia.demo:writer", sdk.OutcomeSuccess, now.Add(-time.Hour), now.Add(-time.Second))
	if _, err := h.ReportStatus(ctx, &pluginpb.ReportStatusRequest{Record: expired}); err != nil {
		t.Fatal(err)
	}
	if s.Report().Ready {
		t.Fatal("ready with an expired credential")
	}
	if _, err := h.RemoveStatus(ctx, &pluginpb.RemoveStatusRequest{}); err == nil {
		t.Error("a removal naming no credential was accepted")
	}
	if _, err := h.RemoveStatus(ctx, &pluginpb.RemoveStatusRequest{Credential: expired.Credential}); err != nil {
		t.Fatal(err)
	}
	rep := s.Report()
	if !rep.Ready || len(rep.Credentials) != 0 {
		t.Errorf("after removal: ready %v, credentials %+v, not ready %+v", rep.Ready, rep.Credentials, rep.NotReady)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(s.Collector())
	if n, err := testutil.GatherAndCount(reg, "sia_credential_expiry_timestamp_seconds", "sia_credential_updates_total"); err != nil || n != 0 {
		t.Errorf("series of the removed credential: %d (%v), want 0", n, err)
	}
}

func TestOptionalCredentialNeverMakesTheAgentUnready(t *testing.T) {
	s := newStore("token")
	s.SetPhase(lifecycle.PhaseRunning)
	s.SetState("token", lifecycle.StateStarted, nil)
	failed := record("accesstoken/sia.demo:writer", "ZTS_503", time.Time{}, now.Add(-time.Second))
	failed.Optional = true
	s.Record("token", failed)
	rep := s.Report()
	if !rep.Ready || len(rep.NotReady) != 0 {
		t.Errorf("an optional credential made the agent unready: %+v", rep.NotReady)
	}
	if len(rep.Credentials) != 1 || !rep.Credentials[0].Optional {
		t.Errorf("credentials = %+v, want the optional one, marked", rep.Credentials)
	}
}

func TestSilentProviderMakesTheAgentUnreadyUntilItAnswers(t *testing.T) {
	s := newStore("token")
	s.SetPhase(lifecycle.PhaseRunning)
	s.SetState("token", lifecycle.StateStarted, nil)
	s.SetResponsive("token", errors.New("ping call to provider token: context deadline exceeded"))
	rep := s.Report()
	if rep.Ready || len(rep.NotReady) != 1 || rep.NotReady[0].Provider != "token" ||
		!strings.Contains(rep.NotReady[0].Reason, "not answering since 2026-11-24T12:00:00Z: ping call") {
		t.Errorf("ready %v, not ready %+v; want the silent token named", rep.Ready, rep.NotReady)
	}
	s.SetResponsive("token", nil)
	if rep := s.Report(); !rep.Ready {
		t.Errorf("still not ready once the provider answers: %+v", rep.NotReady)
	}
}

package status

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sia-agent/sia-agent/agent/lifecycle"
	"github.com/sia-agent/sia-agent/sdk"
	"github.com/sia-agent/sia-agent/sdk/pluginpb"
)

func TestSetProvidersFollowsAReload(t *testing.T) {
	s := New("v", sdk.ModeRefresh, "", []string{"cert", "token", "old"})
	s.SetState("token", lifecycle.StateStarted, nil)
	s.Record("old", &pluginpb.StatusRecord{Credential: "c", UpdateOutcome: sdk.OutcomeSuccess})
	s.SetProviders([]string{"new", "token", "cert"})
	rep := s.Report()
	var got []string
	for _, p := range rep.Providers {
		got = append(got, p.Name+"="+p.State)
	}
	if want := []string{"new=loaded", "token=started", "cert=loaded"}; !slices.Equal(got, want) {
		t.Errorf("providers %q, want %q", got, want)
	}
	if len(rep.Credentials) != 0 {
		t.Errorf("the removed provider's credentials stayed: %+v", rep.Credentials)
	}
}

func TestLastReloadIsReportedAndExported(t *testing.T) {
	s := New("v", sdk.ModeRefresh, "", []string{"cert"})
	if s.Report().LastReload != nil || gauge(t, s, "sia_agent_last_reload_success") != nil {
		t.Fatal("a reload is reported before any ran")
	}
	when := time.Unix(1700000000, 0)
	s.SetReload(when, errors.New("pipeline.yaml:3: agent.log_level: unknown"))
	r := s.Report().LastReload
	if r == nil || r.Outcome != sdk.ReloadFailure || r.TS != when.Unix() || r.Error == "" {
		t.Fatalf("last reload %+v", r)
	}
	if v := gauge(t, s, "sia_agent_last_reload_success"); v == nil || *v != 0 {
		t.Errorf("sia_agent_last_reload_success = %v, want 0", v)
	}
	s.SetReload(when.Add(time.Minute), nil)
	if v := gauge(t, s, "sia_agent_last_reload_success"); v == nil || *v != 1 {
		t.Errorf("sia_agent_last_reload_success = %v, want 1", v)
	}
	if v := gauge(t, s, "sia_agent_last_reload_timestamp_seconds"); v == nil || *v != float64(when.Unix()+60) {
		t.Errorf("sia_agent_last_reload_timestamp_seconds = %v", v)
	}
}

// gauge returns the value of the store's metric name, or nil.
func gauge(t *testing.T, s *Store, name string) *float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(s.Collector())
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name {
			v := f.GetMetric()[0].GetGauge().GetValue()
			return &v
		}
	}
	return nil
}

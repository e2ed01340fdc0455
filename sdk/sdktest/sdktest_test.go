package sdktest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sia-agent/sia-agent/internal/testprovider"
	"github.com/sia-agent/sia-agent/sdk"
	"github.com/sia-agent/sia-agent/sdk/sdktest"
)

func TestHarnessRunsTheLifecycle(t *testing.T) {
	h := sdktest.New(t, &testprovider.Provider{}, "test", "goroutines: [server]\n")
	if err := h.Init(); err != nil {
		t.Fatal(err)
	}
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	h.CancelRun(errors.New("received signal: interrupt"))
	if err := h.Shutdown(); err != nil {
		t.Fatal(err)
	}
}

func TestHostRecordsStatus(t *testing.T) {
	host := sdktest.NewHost()
	go func() {
		_ = host.ReportStatus(context.Background(), sdk.StatusRecord{Credential: "identity", Outcome: sdk.OutcomeSuccess})
	}()
	rec := host.WaitRecord(t, 10*time.Second, func(r sdk.StatusRecord) bool { return r.Credential == "identity" })
	if rec.Outcome != sdk.OutcomeSuccess {
		t.Errorf("outcome %q, want %q", rec.Outcome, sdk.OutcomeSuccess)
	}
}

func TestRunPluginUnderTheRealAgent(t *testing.T) {
	if testing.Short() {
		t.Skip("builds two binaries")
	}
	p := sdktest.RunPlugin(t, "github.com/sia-agent/sia-agent/internal/cmd/sia-plugin-test", "goroutines: [server]\n")
	if _, err := p.Log.Wait("sia-agent.under-test: Started server goroutine", 0); err != nil {
		t.Error(err)
	}
	if code := p.Stop(); code != 0 {
		t.Errorf("exit code %d, want 0\n%s", code, p.Log.String())
	}
	if _, err := p.Log.Wait("sia-agent.under-test: Stopped server goroutine", 0); err != nil {
		t.Error(err)
	}
}

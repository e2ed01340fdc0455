package sdktest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sia-agent/sia-agent/sdk"
	"github.com/sia-agent/sia-agent/sdk/sdktest"
)

// waiter is a provider with one goroutine, which waits for Shutdown.
type waiter struct {
	group   *sdk.Group
	stopped chan struct{}
}

func (p *waiter) Validate(context.Context, sdk.Config) error { return nil }

func (p *waiter) Init(_ context.Context, rt *sdk.Runtime) error {
	p.group, p.stopped = sdk.NewGroup(rt), make(chan struct{})
	return nil
}

func (p *waiter) Start(ctx context.Context) error {
	return p.group.GoContext(ctx, "waiter", func(ctx context.Context) {
		<-ctx.Done()
		close(p.stopped)
	})
}

func (p *waiter) Shutdown(context.Context) error {
	if p.group != nil {
		p.group.Stop()
	}
	return nil
}

func TestHarnessRunsTheLifecycle(t *testing.T) {
	p := &waiter{}
	h := sdktest.New(t, p, "test", "")
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
	select {
	case <-p.stopped:
	default:
		t.Error("Shutdown returned before the goroutine stopped")
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

func TestCircuitsDouble(t *testing.T) {
	c := sdktest.NewCircuits()
	ctx := context.Background()
	if err := c.Wait(ctx, "zts", sdk.CircuitPolicy{}); err != nil {
		t.Fatal(err)
	}
	c.Report(ctx, "zts", sdk.CircuitPolicy{}, sdk.CallResult{Outcome: sdk.CallFailed, Status: 503})
	c.Hold(503, time.Minute)
	var open *sdk.CircuitOpenError
	if err := c.Wait(ctx, "zts", sdk.CircuitPolicy{}); !errors.As(err, &open) || open.Endpoint != "zts" || open.Status != 503 {
		t.Errorf("held: %v", err)
	}
	c.Release()
	if err := c.Wait(ctx, "zts", sdk.CircuitPolicy{}); err != nil {
		t.Error(err)
	}
	if c.Waits("zts") != 3 || len(c.Results("zts")) != 1 || c.Results("zts")[0].Status != 503 {
		t.Errorf("waits %d, results %+v", c.Waits("zts"), c.Results("zts"))
	}
}

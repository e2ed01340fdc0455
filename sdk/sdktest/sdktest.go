// Package sdktest runs a provider under test: in-process, through the same
// lifecycle steps the agent takes (New, Harness), or as a real plugin
// process under the real agent (RunPlugin).
//
// RunPlugin needs a sia-agent binary, which it finds through WithAgent,
// $SIA_AGENT or the PATH; without one it skips the test. Any agent of the
// SDK's protocol version will do; the test build of a clone of the agent
// has fault points of its own too:
//
//	(cd sia-agent && make build-test)    # bin/test/sia-agent
//	SIA_AGENT=$PWD/sia-agent/bin/test/sia-agent go test ./...
package sdktest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"

	"github.com/sia-agent/sia-agent/sdk"
)

// Host records the status reports a provider makes.
type Host struct {
	mu      sync.Mutex
	records []sdk.StatusRecord
	removed []string
	changed chan struct{}
}

// NewHost returns an empty recording host.
func NewHost() *Host { return &Host{changed: make(chan struct{})} }

// ReportStatus records rec.
func (h *Host) ReportStatus(_ context.Context, rec sdk.StatusRecord) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.records = append(h.records, rec)
	close(h.changed)
	h.changed = make(chan struct{})
	return nil
}

// RemoveStatus records that the provider dropped credential.
func (h *Host) RemoveStatus(_ context.Context, credential string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.removed = append(h.removed, credential)
	close(h.changed)
	h.changed = make(chan struct{})
	return nil
}

// Removed returns the credentials the provider dropped so far, in order.
func (h *Host) Removed() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.removed...)
}

// Metrics has no agent to ask.
func (h *Host) Metrics(context.Context) ([]*dto.MetricFamily, error) { return nil, sdk.ErrNoHost }

// Status has no agent to ask.
func (h *Host) Status(context.Context) (*sdk.StatusReport, error) { return nil, sdk.ErrNoHost }

// Records returns every record so far.
func (h *Host) Records() []sdk.StatusRecord {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]sdk.StatusRecord(nil), h.records...)
}

// WaitRecord waits until a record satisfying match arrives and returns it.
func (h *Host) WaitRecord(t testing.TB, timeout time.Duration, match func(sdk.StatusRecord) bool) sdk.StatusRecord {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	seen := 0
	for {
		h.mu.Lock()
		recs, changed := h.records[seen:], h.changed
		seen = len(h.records)
		h.mu.Unlock()
		for _, r := range recs {
			if match(r) {
				return r
			}
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("no matching status record within %v; records: %+v", timeout, h.Records())
			return sdk.StatusRecord{}
		}
	}
}

// NewRuntime returns the Runtime the agent would give a provider named
// name with configuration configYAML: logs go to t.Log, metrics to a fresh
// registry, status records to the returned Host; its Circuits are a
// *Circuits that lets every call go.
func NewRuntime(t testing.TB, name, configYAML string) (*sdk.Runtime, *Host) {
	t.Helper()
	cfg, err := sdk.ParseConfig("test.yaml", configYAML)
	if err != nil {
		t.Fatal(err)
	}
	host := NewHost()
	return &sdk.Runtime{
		Name:     name,
		Mode:     sdk.ModeRefresh,
		Config:   cfg,
		Logger:   hclog.New(&hclog.LoggerOptions{Name: name, Level: hclog.Trace, Output: testWriter{t}}),
		Metrics:  prometheus.NewRegistry(),
		Host:     host,
		Circuits: NewCircuits(),
	}, host
}

// Harness drives one provider through the lifecycle in-process.
type Harness struct {
	t testing.TB
	// Provider is the provider under test.
	Provider sdk.Provider
	// Runtime is what its Init gets; a test may change it before.
	Runtime *sdk.Runtime
	// Host records its status reports.
	Host *Host

	initCtx, runCtx       context.Context
	cancelInit, cancelRun context.CancelCauseFunc
	shutdownOnce          sync.Once
	shutdownErr           error
}

// New validates configYAML with p and returns a harness ready for Init.
// At cleanup it shuts p down (if the test did not) and fails the test if
// any goroutine p started is still running.
func New(t testing.TB, p sdk.Provider, name, configYAML string) *Harness {
	t.Helper()
	ignore := goleak.IgnoreCurrent()
	rt, host := NewRuntime(t, name, configYAML)
	if err := p.Validate(context.Background(), rt.Config); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	h := &Harness{t: t, Provider: p, Runtime: rt, Host: host}
	h.initCtx, h.cancelInit = context.WithCancelCause(context.Background())
	h.runCtx, h.cancelRun = context.WithCancelCause(context.Background())
	t.Cleanup(func() {
		if err := h.Shutdown(); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		// Idle keep-alive connections of HTTP clients linger by design.
		if err := goleak.Find(ignore,
			goleak.IgnoreAnyFunction("net/http.(*persistConn).readLoop"),
			goleak.IgnoreAnyFunction("net/http.(*persistConn).writeLoop")); err != nil {
			t.Errorf("goroutines left after Shutdown: %v", err)
		}
	})
	return h
}

// Init runs the provider's Init under the harness's init context.
func (h *Harness) Init() error { return h.Provider.Init(h.initCtx, h.Runtime) }

// Start runs the provider's Start under the harness's run context.
func (h *Harness) Start() error { return h.Provider.Start(h.runCtx) }

// RunContext is the context Start received.
func (h *Harness) RunContext() context.Context { return h.runCtx }

// CancelInit cancels the init context, as a signal during init would.
func (h *Harness) CancelInit(cause error) { h.cancelInit(cause) }

// CancelRun cancels the run context, as the agent does on a signal or a
// failed start.
func (h *Harness) CancelRun(cause error) { h.cancelRun(cause) }

// Shutdown cancels the run context and runs the provider's Shutdown, once.
func (h *Harness) Shutdown() error {
	h.shutdownOnce.Do(func() {
		h.cancelInit(errors.New("shutdown"))
		h.cancelRun(errors.New("shutdown"))
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		h.shutdownErr = h.Provider.Shutdown(ctx)
	})
	return h.shutdownErr
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

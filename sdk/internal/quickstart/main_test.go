package main

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/sia-agent/sia-agent/sdk"
	"github.com/sia-agent/sia-agent/sdk/sdktest"
)

// In-process: the harness drives the provider as the agent would, records
// its status reports, and fails the test if a goroutine outlives Shutdown.
func TestStamp(t *testing.T) {
	file := filepath.Join(t.TempDir(), "stamp")
	h := sdktest.New(t, &stamp{}, "stamp", "file: "+file+"\ninterval: 10ms\n")
	if err := h.Init(); err != nil {
		t.Fatal(err)
	}
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	h.Host.WaitRecord(t, 10*time.Second, func(r sdk.StatusRecord) bool {
		return r.Reason == sdk.ReasonExpires && r.Outcome == sdk.OutcomeSuccess
	})
	if err := h.Shutdown(); err != nil {
		t.Fatal(err)
	}
}

// As a real plugin under the real agent.
func TestStampPlugin(t *testing.T) {
	file := filepath.Join(t.TempDir(), "stamp")
	p := sdktest.RunPlugin(t, ".", "file: "+file+"\n")
	if _, err := p.Log.Wait("Stamped", time.Minute); err != nil {
		t.Fatal(err)
	}
	if code := p.Stop(); code != 0 {
		t.Fatalf("exit code %d\n%s", code, p.Log.String())
	}
}

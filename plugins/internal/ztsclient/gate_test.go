package ztsclient

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sia-agent/sia-agent/sdk"
)

// While ZTS fails, the circuit holds the calls: ZTS sees the two that
// opened it, the held one fails at once with what ZTS last answered, and
// the Retry-After it sent holds the next probe back.
func TestCircuitHoldsCallsToAFailingZTS(t *testing.T) {
	var calls atomic.Int32
	f := newFakeZTS(t, func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Retry-After", "120")
		http.Error(w, `{"code":503,"message":"down"}`, http.StatusServiceUnavailable)
	})
	circuits := sdk.NewCircuitSet()
	c, err := New(Config{Endpoint: f.URL + "/zts/v1", CAFile: f.caFile, Provider: "test", Circuits: circuits})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdle)
	ctx := context.Background()
	for range 2 {
		if _, err := c.RoleToken(ctx, TokenRequest{Domain: "sia.demo", Roles: "reader"}); Status(err) != 503 {
			t.Fatalf("RoleToken = %v, want a 503", err)
		}
	}
	held, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err = c.RoleToken(held, TokenRequest{Domain: "sia.demo", Roles: "reader"})
	var open *sdk.CircuitOpenError
	if !errors.As(err, &open) || open.Status != 503 || open.RetryIn < 100*time.Second {
		t.Fatalf("held call: %v, want a CircuitOpenError honouring Retry-After", err)
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("ZTS saw %d calls, want 2", n)
	}
	if o := sdk.Outcome(err); o != "ZTS_503" {
		t.Errorf("outcome %s", o)
	}
	code, msg, ok := ClientStatus(err)
	if !ok || code != 503 || !strings.Contains(msg, "ZTS failed (503)") || !strings.Contains(msg, "retries in") {
		t.Errorf("ClientStatus = %d %q %v", code, msg, ok)
	}
	snaps := circuits.Snapshots()
	if len(snaps) != 1 || snaps[0].Endpoint != f.URL+"/zts/v1" || snaps[0].State != sdk.CircuitOpen || snaps[0].Held != 1 {
		t.Errorf("circuits: %+v", snaps)
	}
}

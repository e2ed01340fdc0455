package cert

import (
	"strings"
	"testing"

	"github.com/sia-agent/sia-agent/sdk"
	"github.com/sia-agent/sia-agent/ztsdev"
)

// downConfig is zts-dev's demo data set answering 503 to everything.
func downConfig() string {
	return strings.Replace(string(ztsdev.DemoConfig()), "faults: []",
		"faults:\n  - {operation: \"*\", status: 503, message: down for maintenance}\n", 1)
}

// With ZTS down, Init in refresh mode makes one attempt and returns: the
// providers after it are not held back for refresh.init_max_elapsed, and
// the refresh loop retries from Start on. The status record says what is
// missing.
func TestInitMakesOneAttemptInRefreshMode(t *testing.T) {
	e := newEnv(t)
	e.zts.Reconfigure(t, downConfig())
	_, h, log := start(t, e.config(`role_certs:
  targets: [sia.demo:role.reader]
refresh:
  min_interval: 1h
  retry_initial: 10ms
  retry_max: 10ms
  init_max_elapsed: 500ms
`))
	log.wait(0, "Failed to fetch certificates at init; the refresh loop will keep trying")
	if n := e.zts.Server.Requests(ztsdev.OpRegister); n != 1 {
		t.Errorf("%d register calls during Init, want 1", n)
	}
	rec := h.Host.WaitRecord(t, waitRecord, isRecord(identityName, sdk.ReasonNew, "ZTS_ERROR_503"))
	if rec.Err == nil || !strings.Contains(rec.Err.Error(), "503") {
		t.Errorf("identity record: %+v", rec)
	}
}

// In init mode nothing runs after Init: it still retries, and fails
// without its certificates.
func TestInitModeStillRetriesAndFails(t *testing.T) {
	e := newEnv(t)
	e.zts.Reconfigure(t, downConfig())
	_, h, _ := setup(t, e.config(`refresh:
  min_interval: 1h
  retry_initial: 10ms
  retry_max: 10ms
  init_max_elapsed: 200ms
`))
	h.Runtime.Mode = sdk.ModeInit
	err := h.Init()
	if err == nil || !strings.Contains(err.Error(), "fetching certificates") {
		t.Fatalf("Init = %v, want a failure", err)
	}
	if n := e.zts.Server.Requests(ztsdev.OpRegister); n < 2 {
		t.Errorf("%d register calls in init mode, want retries", n)
	}
}

package cert

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sia-agent/sia-agent/sdk"
	"github.com/sia-agent/sia-agent/sdk/fault"
	"github.com/sia-agent/sia-agent/sdk/sdktest"
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

// heldZTS stands in for a ZTS that accepts connections and never answers:
// it completes every TLS handshake and holds each request until the test
// answers it, or its client gives up on it.
type heldZTS struct {
	url, caFile string
	calls       chan *heldCall
	closing     chan struct{}
}

// heldCall is one request heldZTS holds.
type heldCall struct {
	r      *http.Request
	answer chan http.Handler // what answers it, sent by the test
	gone   chan struct{}     // closed when its client gave up first
}

func newHeldZTS(t *testing.T) *heldZTS {
	t.Helper()
	z := &heldZTS{calls: make(chan *heldCall, 16), closing: make(chan struct{})}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(z.hold))
	srv.StartTLS()
	t.Cleanup(func() {
		close(z.closing)
		srv.Close()
	})
	z.url = srv.URL + "/zts/v1"
	z.caFile = filepath.Join(t.TempDir(), "ca.pem")
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(z.caFile, ca, 0o600); err != nil {
		t.Fatal(err)
	}
	return z
}

func (z *heldZTS) hold(w http.ResponseWriter, r *http.Request) {
	// The server notices a client that went away only once the body was
	// read.
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	c := &heldCall{r: r, answer: make(chan http.Handler, 1), gone: make(chan struct{})}
	select {
	case z.calls <- c:
	default:
		http.Error(w, "too many calls held", http.StatusInternalServerError)
		return
	}
	select {
	case h := <-c.answer:
		h.ServeHTTP(w, r)
	case <-r.Context().Done():
		close(c.gone)
	case <-z.closing:
	}
}

// next waits for the next call to arrive.
func (z *heldZTS) next(t *testing.T) *heldCall {
	t.Helper()
	select {
	case c := <-z.calls:
		return c
	case <-time.After(waitRecord):
		t.Fatalf("no call at the held ZTS within %v", waitRecord)
		return nil
	}
}

// forward answers c from the ZTS at rawURL, trusting pool.
func (c *heldCall) forward(t *testing.T, rawURL string, pool *x509.CertPool) {
	t.Helper()
	target, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	target.Path = ""
	c.answer <- &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(target) },
		Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
			DisableKeepAlives: true, // nothing left behind for the leak check
		},
	}
}

// fail answers c with status.
func (c *heldCall) fail(status int) {
	c.answer <- http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "held ZTS", status)
	})
}

// waitGone waits until c's client gives up on it.
func (c *heldCall) waitGone(t *testing.T) {
	t.Helper()
	select {
	case <-c.gone:
	case <-time.After(waitRecord):
		t.Fatalf("the held call to %s was not cancelled within %v", c.r.URL.Path, waitRecord)
	}
}

// isGone reports whether c's client gave up on it.
func (c *heldCall) isGone() bool {
	select {
	case <-c.gone:
		return true
	default:
		return false
	}
}

// initHeld runs Init against a ZTS that holds its calls, calls during once
// the first call is held, and returns that call once Init returned. It
// fails the test unless Init returned while its first attempt was still
// under way: the attempt's call not cancelled and no status record of the
// identity yet (a round reports every credential it tried before it
// ends).
func initHeld(t *testing.T, h *sdktest.Harness, z *heldZTS, during func()) *heldCall {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- h.Init() }()
	call := z.next(t)
	if during != nil {
		during()
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Init: %v", err)
		}
	case <-time.After(waitRecord):
		t.Fatalf("Init did not return within %v with ZTS not answering", waitRecord)
	}
	for _, r := range h.Host.Records() {
		if r.Credential == identityName {
			t.Fatalf("the first attempt ended before Init returned, with ZTS not answering: %+v", r)
		}
	}
	if call.isGone() {
		t.Fatal("Init abandoned its call to ZTS")
	}
	return call
}

// startHeld runs a provider whose ZTS holds every call through Init
// (initHeld) and Start, its first attempt under way.
func startHeld(t *testing.T) (*env, *heldZTS, *sdktest.Harness, *logLines, *heldCall) {
	t.Helper()
	e := newEnv(t)
	z := newHeldZTS(t)
	_, h, log := setup(t, e.heldConfig(z, ""))
	call := initHeld(t, h, z, nil)
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	return e, z, h, log, call
}

// heldConfig is the config of a provider whose ZTS is z: the identity
// alone, retried only after an hour, so that whatever arrives comes from
// the first attempt.
func (e *env) heldConfig(z *heldZTS, extra string) string {
	return e.configFor(z.url, z.caFile, "refresh:\n  min_interval: 1h\n"+extra)
}

// With a ZTS that never answers, Init waits for its first attempt
// first_attempt_timeout (the default here) and returns with the attempt
// still under way; the attempt ends when ZTS answers, and reports then.
func TestFirstAttemptGoesOnAfterInit(t *testing.T) {
	e := newEnv(t)
	z := newHeldZTS(t)
	_, h, log := setup(t, e.heldConfig(z, ""))
	call := initHeld(t, h, z, nil)
	log.wait(0, "The first attempt at the certificates goes on in the background")

	call.fail(http.StatusServiceUnavailable)
	h.Host.WaitRecord(t, waitRecord, isRecord(identityName, sdk.ReasonNew, "ZTS_ERROR_503"))
	log.wait(0, "Failed to fetch certificates at init; the refresh loop will keep trying")
}

// A first attempt that succeeds after Init returned writes the identity
// as any round does, and is the only register call: Start's refresh loop
// waits for it instead of making one of its own.
func TestFirstAttemptSucceedsAfterInit(t *testing.T) {
	e, z, h, log, call := startHeld(t)
	if n := log.count("Will refresh key["); n != 0 {
		t.Fatalf("the refresh loop scheduled a refresh while the first attempt was under way")
	}

	call.forward(t, e.zts.URL, e.zts.CAPool())
	h.Host.WaitRecord(t, waitRecord, isRecord(identityName, sdk.ReasonNew, sdk.OutcomeSuccess))
	loadPair(t, e.path("service.cert.pem"), e.path("service.key.pem"))
	updated := log.wait(0, "Updated identity certificate")
	log.wait(updated, "Will refresh key[")
	if n := e.zts.Server.Requests(ztsdev.OpRegister); n != 1 {
		t.Errorf("%d register calls, want 1", n)
	}
	select {
	case c := <-z.calls:
		t.Errorf("a second call at ZTS: %s", c.r.URL.Path)
	default:
	}
}

// Shutdown cuts short a first attempt still under way, and returns; the
// harness checks that no goroutine is left.
func TestShutdownStopsTheFirstAttempt(t *testing.T) {
	_, _, h, _, call := startHeld(t)
	shutdown := make(chan error, 1)
	go func() { shutdown <- h.Shutdown() }()
	select {
	case err := <-shutdown:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(waitRecord):
		t.Fatalf("Shutdown did not return within %v with the first attempt under way", waitRecord)
	}
	call.waitGone(t)
	rec := h.Host.WaitRecord(t, waitRecord, isRecord(identityName, sdk.ReasonNew, ""))
	if rec.Err == nil {
		t.Errorf("identity record after Shutdown: %+v, want the attempt's failure", rec)
	}
}

// Cancelling the run stops the first attempt as it stops the refresh
// loop's retries, without waiting for Shutdown.
func TestRunCancelStopsTheFirstAttempt(t *testing.T) {
	_, _, h, log, call := startHeld(t)
	h.CancelRun(errors.New("received signal: terminated"))
	call.waitGone(t)
	rec := h.Host.WaitRecord(t, waitRecord, isRecord(identityName, sdk.ReasonNew, ""))
	if rec.Err == nil || !strings.Contains(rec.Err.Error(), "received signal: terminated") {
		t.Errorf("identity record: %+v, want the run's cause", rec)
	}
	log.wait(0, "Will refresh key[")
}

// A signal during Init (its context cancelled) ends Init's wait, not the
// attempt: Shutdown, which follows, stops it.
func TestInitCancelLeavesTheFirstAttemptToShutdown(t *testing.T) {
	e := newEnv(t)
	z := newHeldZTS(t)
	_, h, _ := setup(t, e.heldConfig(z, "  first_attempt_timeout: 1h\n"))
	call := initHeld(t, h, z, func() { h.CancelInit(errors.New("received signal: interrupt")) })
	if err := h.Shutdown(); err != nil {
		t.Fatal(err)
	}
	call.waitGone(t)
	h.Host.WaitRecord(t, waitRecord, isRecord(identityName, sdk.ReasonNew, ""))
}

// A first attempt that cannot be started fails Init with the reason; no
// call goes to ZTS, and Shutdown still returns.
func TestFirstAttemptGoroutineFaultFailsInit(t *testing.T) {
	e := newEnv(t)
	_, h, _ := setup(t, e.config(""))
	rules, err := fault.Parse("certificate:before cert first attempt goroutine=fail:test error")
	if err != nil {
		t.Fatal(err)
	}
	h.Runtime.Faults = fault.NewPoints("certificate", rules, nil)
	if err := h.Init(); err == nil || err.Error() != "starting the first attempt at the certificates: test error" {
		t.Fatalf("Init = %v, want the fault's error", err)
	}
	if err := h.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if n := e.zts.Server.Requests(ztsdev.OpRegister); n != 0 {
		t.Errorf("%d register calls, want none", n)
	}
}

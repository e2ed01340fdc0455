package health

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/sia-agent/sia-agent/sdk"
	"github.com/sia-agent/sia-agent/sdk/fault"
	"github.com/sia-agent/sia-agent/sdk/sdktest"
)

func TestValidate(t *testing.T) {
	cases := []struct {
		config string
		want   string // part of the error; "" for none
	}{
		{"", ""},
		{"address: '[::1]:0'\ntimeout: 500ms\ntls: {cert_file: c.pem, key_file: k.pem}", ""},
		{"address: 127.0.0.1", `test.yaml:1: address: "127.0.0.1" is not host:port`},
		{"address: 127.0.0.1:0\ntimeout: 0s", "test.yaml:2: timeout: must be more than 0"},
		{"tls: {key_file: k.pem}", "tls.cert_file: required with tls.key_file"},
		{"endpoint: /healthz", "endpoint"},
		{"liveness_path: /sia/health", ""},
		{"liveness_path: sia/health", `test.yaml:1: liveness_path: "sia/health" is not a clean absolute path`},
		{"liveness_path: /a/../b", `liveness_path: "/a/../b" is not a clean absolute path`},
		{"liveness_path: /health?x=1", `liveness_path: "/health?x=1" is not a clean absolute path`},
		{"liveness_path: /readyz", `liveness_path: "/readyz" is served already`},
	}
	for _, c := range cases {
		cfg, err := sdk.ParseConfig("test.yaml", c.config)
		if err != nil {
			t.Fatal(err)
		}
		err = (&Provider{}).Validate(context.Background(), cfg)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("Validate(%q): %v", c.config, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("Validate(%q) = %v, want an error containing %q", c.config, err, c.want)
		}
	}
}

// agent stands in for the agent's Host: it answers Status with the
// report the test sets, fails with err, or blocks until the request's
// context ends.
type agent struct {
	mu     sync.Mutex
	report sdk.StatusReport
	err    error
	block  bool
}

func (a *agent) set(f func(*agent)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	f(a)
}

func (a *agent) ReportStatus(context.Context, sdk.StatusRecord) error { return nil }

func (a *agent) RemoveStatus(context.Context, string) error { return nil }

func (a *agent) Metrics(context.Context) ([]*dto.MetricFamily, error) { return nil, sdk.ErrNoHost }

func (a *agent) Status(ctx context.Context) (*sdk.StatusReport, error) {
	a.mu.Lock()
	rep, err, block := a.report, a.err, a.block
	a.mu.Unlock()
	if block {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return &rep, err
}

func started(t *testing.T, config string) (*agent, string) {
	t.Helper()
	p := &Provider{}
	h := sdktest.New(t, p, "healthcheck", "address: 127.0.0.1:0\n"+config)
	a := &agent{}
	h.Runtime.Host = a
	if err := h.Init(); err != nil {
		t.Fatalf("Init: %v", err)
	}
	if err := h.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	return a, "http://" + p.srv.Addr().String()
}

var client = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}

// call makes a request and decodes its JSON body into a map; it checks
// the headers every response has.
func call(t *testing.T, method, url string) (int, map[string]any, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s %s: Content-Type %q", method, url, ct)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("%s %s: Cache-Control %q", method, url, cc)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if method == "HEAD" {
		if len(b) != 0 {
			t.Errorf("HEAD %s has a body: %q", url, b)
		}
		return resp.StatusCode, nil, resp.Header
	}
	var body map[string]any
	if err := json.Unmarshal(b, &body); err != nil {
		t.Fatalf("%s %s: body is not JSON: %v\n%s", method, url, err, b)
	}
	return resp.StatusCode, body, resp.Header
}

func readyReport() sdk.StatusReport {
	return sdk.StatusReport{
		AgentVersion: "test", Phase: "running", Ready: true,
		Providers: []sdk.ProviderStatus{{Name: "certificate", State: "started"}, {Name: "healthcheck", State: "started"}},
	}
}

func TestHealthz(t *testing.T) {
	a, base := started(t, "")
	a.set(func(a *agent) { a.report = readyReport() })
	code, body, _ := call(t, "GET", base+"/healthz")
	if code != http.StatusOK || body["status"] != "ok" {
		t.Errorf("/healthz: %d %v", code, body)
	}
	// Liveness does not follow readiness: an agent that is not ready (say
	// ZTS is down) is still alive.
	a.set(func(a *agent) {
		a.report = sdk.StatusReport{Phase: "running", NotReady: []sdk.NotReady{{Provider: "certificate", Reason: "no credential yet"}}}
	})
	if code, body, _ := call(t, "GET", base+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz with the agent not ready: %d %v", code, body)
	}
	if code, _, _ := call(t, "HEAD", base+"/healthz"); code != http.StatusOK {
		t.Errorf("HEAD /healthz: %d", code)
	}
}

// liveness_path answers as /healthz does, at that path alone.
func TestLivenessPath(t *testing.T) {
	a, base := started(t, "liveness_path: /sia/health\n")
	a.set(func(a *agent) { a.report = sdk.StatusReport{Phase: "running"} })
	if code, body, _ := call(t, "GET", base+"/sia/health"); code != http.StatusOK || body["status"] != "ok" {
		t.Errorf("/sia/health: %d %v", code, body)
	}
	for _, p := range []string{"/sia/health/", "/sia/healthz", "/sia"} {
		if code, body, _ := call(t, "GET", base+p); code != http.StatusNotFound {
			t.Errorf("%s: %d %v, want 404", p, code, body)
		}
	}
	a.set(func(a *agent) { a.err = errors.New("agent gone") })
	if code, _, _ := call(t, "GET", base+"/sia/health"); code != http.StatusServiceUnavailable {
		t.Errorf("/sia/health with the agent gone: %d, want 503", code)
	}
}

func TestReadyz(t *testing.T) {
	a, base := started(t, "")
	a.set(func(a *agent) { a.report = readyReport() })
	code, body, _ := call(t, "GET", base+"/readyz")
	if code != http.StatusOK || body["status"] != "ready" || body["phase"] != "running" {
		t.Errorf("/readyz when ready: %d %v", code, body)
	}
	if _, ok := body["not_ready"]; ok {
		t.Errorf("/readyz when ready lists not_ready: %v", body)
	}

	a.set(func(a *agent) {
		a.report = sdk.StatusReport{Phase: "running", NotReady: []sdk.NotReady{
			{Provider: "token", Reason: "state failed: boom"},
			{Provider: "certificate", Credential: "identity", Reason: "expired at 2026-01-01T00:00:00Z; last update UNREACHABLE: dial tcp: refused"},
		}}
	})
	code, body, _ = call(t, "GET", base+"/readyz")
	if code != http.StatusServiceUnavailable || body["status"] != "not_ready" {
		t.Fatalf("/readyz when not ready: %d %v", code, body)
	}
	notReady, _ := body["not_ready"].([]any)
	if len(notReady) != 2 {
		t.Fatalf("not_ready = %v, want two entries", body["not_ready"])
	}
	second, _ := notReady[1].(map[string]any)
	if second["provider"] != "certificate" || second["credential"] != "identity" || !strings.Contains(second["reason"].(string), "UNREACHABLE") {
		t.Errorf("not_ready[1] = %v", second)
	}
	if code, _, _ := call(t, "HEAD", base+"/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("HEAD /readyz when not ready: %d", code)
	}
}

func TestStatus(t *testing.T) {
	a, base := started(t, "")
	rep := readyReport()
	rep.Credentials = []sdk.CredentialStatus{{Provider: "certificate", Credential: "identity", UpdateReason: "NEW", UpdateOutcome: "SUCCESS", ExpiryTS: 1893456000}}
	a.set(func(a *agent) { a.report = rep })
	code, body, _ := call(t, "GET", base+"/status")
	if code != http.StatusOK {
		t.Fatalf("/status: %d %v", code, body)
	}
	b, _ := json.Marshal(body)
	var got sdk.StatusReport
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.AgentVersion != "test" || len(got.Providers) != 2 || got.Providers[1].Name != "healthcheck" ||
		len(got.Credentials) != 1 || got.Credentials[0].ExpiryTS != 1893456000 {
		t.Errorf("/status = %+v", got)
	}
}

// With status: false, as on an address other pods reach, /status (the
// whole report, recent log lines included) is not served; the probes
// are.
func TestStatusOff(t *testing.T) {
	a, base := started(t, "status: false")
	a.set(func(a *agent) { a.report = readyReport() })
	code, body, _ := call(t, "GET", base+"/status")
	if code != http.StatusNotFound || !strings.Contains(body["error"].(string), "agent.status_file") {
		t.Errorf("/status with status: false: %d %v", code, body)
	}
	if code, body, _ := call(t, "GET", base+"/readyz"); code != http.StatusOK {
		t.Errorf("/readyz with status: false: %d %v", code, body)
	}
}

func TestAgentNotAnswering(t *testing.T) {
	a, base := started(t, "timeout: 50ms")
	a.set(func(a *agent) { a.err = errors.New("getting the agent's status: connection refused") })
	for _, path := range []string{"/healthz", "/readyz", "/status"} {
		code, body, _ := call(t, "GET", base+path)
		if code != http.StatusServiceUnavailable || body["status"] != "unavailable" || !strings.Contains(body["error"].(string), "connection refused") {
			t.Errorf("%s with the agent failing: %d %v", path, code, body)
		}
	}
	// A stuck agent is answered for once the timeout expires: the agent
	// never answers, so a response at all, saying the deadline passed,
	// is the timeout at work.
	a.set(func(a *agent) { a.err, a.block = nil, true })
	code, body, _ := call(t, "GET", base+"/healthz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body["error"].(string), "deadline exceeded") {
		t.Errorf("/healthz with the agent stuck: %d %v", code, body)
	}
}

func TestMethodsAndPaths(t *testing.T) {
	a, base := started(t, "")
	a.set(func(a *agent) { a.report = readyReport() })
	for _, c := range []struct {
		method, path string
		code         int
	}{
		{"POST", "/healthz", http.StatusMethodNotAllowed},
		{"PUT", "/readyz", http.StatusMethodNotAllowed},
		{"DELETE", "/status", http.StatusMethodNotAllowed},
		{"GET", "/", http.StatusNotFound},
		{"GET", "/healthz/", http.StatusNotFound},
		{"GET", "/metrics", http.StatusNotFound},
		{"POST", "/nope", http.StatusNotFound},
	} {
		code, body, header := call(t, c.method, base+c.path)
		if code != c.code {
			t.Errorf("%s %s: %d, want %d", c.method, c.path, code, c.code)
		}
		if _, ok := body["error"]; !ok {
			t.Errorf("%s %s: body %v has no error", c.method, c.path, body)
		}
		if c.code == http.StatusMethodNotAllowed && header.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s %s: Allow %q", c.method, c.path, header.Get("Allow"))
		}
	}
}

func TestPortInUseFailsStart(t *testing.T) {
	_, base := started(t, "")
	addr := strings.TrimPrefix(base, "http://")
	h := sdktest.New(t, &Provider{}, "healthcheck", "address: "+addr)
	if err := h.Init(); err != nil {
		t.Fatal(err)
	}
	err := h.Start()
	if err == nil || !strings.Contains(err.Error(), "starting the health check server: listen tcp "+addr) {
		t.Fatalf("Start on a port in use: %v", err)
	}
}

func TestShutdownWithoutStart(t *testing.T) {
	h := sdktest.New(t, &Provider{}, "healthcheck", "")
	if err := h.Shutdown(); err != nil {
		t.Errorf("Shutdown before Init: %v", err)
	}
	h = sdktest.New(t, &Provider{}, "healthcheck", "")
	if err := h.Init(); err != nil {
		t.Fatal(err)
	}
	if err := h.Shutdown(); err != nil {
		t.Errorf("Shutdown after Init: %v", err)
	}
}

func TestGoroutineFaultFailsStart(t *testing.T) {
	h := sdktest.New(t, &Provider{}, "healthcheck", "address: 127.0.0.1:0")
	rules, err := fault.Parse("healthcheck:before health check server goroutine=fail:test error")
	if err != nil {
		t.Fatal(err)
	}
	h.Runtime.Faults = fault.NewPoints("healthcheck", rules, nil)
	if err := h.Init(); err != nil {
		t.Fatal(err)
	}
	if err := h.Start(); err == nil || err.Error() != "test error" {
		t.Fatalf("Start = %v, want the fault's error", err)
	}
}

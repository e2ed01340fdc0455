package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/sia-agent/sia-agent/agent/status"
	"github.com/sia-agent/sia-agent/internal/e2e"
	"github.com/sia-agent/sia-agent/sdk"
	"github.com/sia-agent/sia-agent/sdk/pluginpb"
)

// observedPipeline is the specification's pipeline with the real metrics
// and health providers on free ports; certificate and token are stand-ins
// with the specification's goroutines. configs replaces the config of the
// providers it names.
func observedPipeline(t *testing.T, configs map[string]string) string {
	t.Helper()
	providers := []struct{ name, plugin, config string }{
		{"certificate", "sia-plugin-test", "goroutines: [cert refresh timer]"},
		{"token", "sia-plugin-test", "goroutines: [token server, token refresh timer, memory reporter]"},
		{"metrics", "metrics", "address: 127.0.0.1:0"},
		{"healthcheck", "health", "address: 127.0.0.1:0"},
	}
	var b strings.Builder
	b.WriteString("providers:\n")
	for _, p := range providers {
		fmt.Fprintf(&b, "  - name: %s\n    plugin: %s\n    config:\n", p.name, p.plugin)
		config := p.config
		if c, ok := configs[p.name]; ok {
			config = c
		}
		for _, line := range strings.Split(config, "\n") {
			fmt.Fprintf(&b, "      %s\n", line)
		}
	}
	return pipeline(t, b.String())
}

var boundAddr = regexp.MustCompile(`server\[([^\]]+)\]`)

// serverURL waits for the provider's "Starting <server>[address]" line and
// returns the server's base URL. The address is bound before the line is
// logged, so a request made now is served.
func serverURL(t *testing.T, p *e2e.Process, provider, server string) string {
	t.Helper()
	i := p.WaitLog(t, "sia-agent."+provider+": Starting "+server+"[", waitLine)
	m := boundAddr.FindStringSubmatch(p.Log.Lines()[i])
	if m == nil {
		t.Fatalf("no address in %q", p.Log.Lines()[i])
	}
	return "http://" + m[1]
}

var httpClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}

func fetch(t *testing.T, url string, header http.Header) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header = header
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, body
}

// waitReady asks /readyz until it answers 200. Readiness is a state, not
// an event with a log line, so this polls, briefly, under a deadline.
func waitReady(t *testing.T, health string) {
	t.Helper()
	deadline := time.Now().Add(waitLine)
	for {
		code, body := fetch(t, health+"/readyz", nil)
		if code == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz not 200 within %v; last %d %s", waitLine, code, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Case 109: SIGINT before the metrics server goroutine. Metrics' Start
// runs its whole block (its server starts and is ready), health is
// skipped, every provider is shut down in reverse order, exit 0.
func TestCase109SignalBeforeMetricsServerGoroutine(t *testing.T) {
	t.Parallel()
	p := runAgent(t, observedPipeline(t, nil), faults("metrics:before metrics server goroutine=signal"))
	code := p.Exit(t, waitExit)
	assertRow(t, p, seedOrder, row{succeeded: seedOrder[:3], skipped: seedOrder[3:], exit: 0}, code)
	sig := p.WaitLog(t, "Received signal: interrupt", 0)
	if _, err := p.Log.WaitFrom(sig, "sia-agent.metrics: Starting metrics exporter server[", 0); err != nil {
		t.Errorf("the metrics server did not start after the signal: %v", err)
	}
	stopping := p.WaitLog(t, "Initiating shutdown of metrics ...", 0)
	if _, err := p.Log.WaitFrom(stopping, "sia-agent.metrics: Stopped metrics exporter server", 0); err != nil {
		t.Errorf("the metrics server was not stopped by its Shutdown: %v", err)
	}
	if i := p.Log.Index("Starting health check server"); i >= 0 {
		t.Errorf("the skipped health provider started its server: %s", p.Log.Lines()[i])
	}
	p.WaitLog(t, "Shutdown completed!", 0)
}

// Case 110: SIGINT before the health check server goroutine. Every
// provider started; exit 0.
func TestCase110SignalBeforeHealthCheckServerGoroutine(t *testing.T) {
	t.Parallel()
	p := runAgent(t, observedPipeline(t, nil), faults("healthcheck:before health check server goroutine=signal"))
	code := p.Exit(t, waitExit)
	assertRow(t, p, seedOrder, row{succeeded: seedOrder, exit: 0}, code)
	sig := p.WaitLog(t, "Received signal: interrupt", 0)
	if _, err := p.Log.WaitFrom(sig, "sia-agent.healthcheck: Starting health check server[", 0); err != nil {
		t.Errorf("the health check server did not start after the signal: %v", err)
	}
	for _, name := range []string{"healthcheck: Stopped health check server", "metrics: Stopped metrics exporter server"} {
		p.WaitLog(t, "sia-agent."+name, 0)
	}
	p.WaitLog(t, "Shutdown completed!", 0)
}

// TestObservabilityOfARunningAgent scrapes a running agent: one /metrics
// with every process's series, readiness, status, liveness; and it lints
// the whole scrape.
func TestObservabilityOfARunningAgent(t *testing.T) {
	t.Parallel()
	p := runAgent(t, observedPipeline(t, nil), nil)
	metrics := serverURL(t, p, "metrics", "metrics exporter server")
	health := serverURL(t, p, "healthcheck", "health check server")
	waitReady(t, health)

	code, body := fetch(t, health+"/healthz", nil)
	if code != http.StatusOK || strings.TrimSpace(string(body)) != "{\n  \"status\": \"ok\"\n}" {
		t.Errorf("/healthz: %d %s", code, body)
	}
	code, body = fetch(t, health+"/status", nil)
	var rep sdk.StatusReport
	if err := json.Unmarshal(body, &rep); code != http.StatusOK || err != nil {
		t.Fatalf("/status: %d %v\n%s", code, err, body)
	}
	var names []string
	for _, pr := range rep.Providers {
		names = append(names, pr.Name)
		if pr.State != "started" {
			t.Errorf("/status: provider %s is %s, want started", pr.Name, pr.State)
		}
	}
	if !slices.Equal(names, seedOrder) || !rep.Ready || rep.Phase != "running" {
		t.Errorf("/status: providers %v, ready %v, phase %s", names, rep.Ready, rep.Phase)
	}

	fetch(t, metrics+"/metrics", nil) // so that the next scrape counts one
	code, body = fetch(t, metrics+"/metrics", nil)
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d\n%s", code, body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	for _, process := range append([]string{"sia-agent"}, seedOrder...) {
		if !hasSeries(mfs["go_goroutines"], map[string]string{"provider": process}) {
			t.Errorf("no go_goroutines of %s", process)
		}
		if !hasSeries(mfs["process_resident_memory_bytes"], map[string]string{"provider": process}) {
			t.Errorf("no process_resident_memory_bytes of %s", process)
		}
	}
	for name, labels := range map[string]map[string]string{
		"sia_build_info":                         nil,
		"sia_agent_ready":                        nil,
		"sia_provider_state":                     {"provider": "healthcheck", "state": "started"},
		"promhttp_metric_handler_requests_total": {"provider": "metrics", "code": "200"},
	} {
		if !hasSeries(mfs[name], labels) {
			t.Errorf("no %s%v in the scrape", name, labels)
		}
	}
	if v := mfs["sia_agent_ready"].GetMetric()[0].GetGauge().GetValue(); v != 1 {
		t.Errorf("sia_agent_ready = %v, want 1", v)
	}

	problems, err := promlint.New(strings.NewReader(string(body))).Lint()
	if err != nil {
		t.Fatalf("promlint: %v", err)
	}
	for _, pr := range problems {
		t.Errorf("promlint: %s: %s", pr.Metric, pr.Text)
	}

	code = stop(t, p)
	assertRow(t, p, seedOrder, row{succeeded: seedOrder, exit: 0}, code)
}

// TestCredentialMetricsLint: the stand-ins above report no credential
// updates, so the scrape has no sia_credential_* series to lint; this
// lints the agent's status collector holding one, in process.
func TestCredentialMetricsLint(t *testing.T) {
	t.Parallel()
	store := status.New("test", "refresh", "", []string{"certificate"})
	store.Record("certificate", &pluginpb.StatusRecord{
		Credential: "identity", Kind: "x509", UpdateReason: pluginpb.UpdateReason_UPDATE_REASON_NEW, UpdateOutcome: "SUCCESS",
		TotalDurationMicros: 1500, RpcDurationMicros: 1000, LastUpdateUnix: 1, NextUpdateUnix: 2, ExpiryUnix: 3,
	})
	reg := prometheus.NewRegistry()
	reg.MustRegister(store.Collector())
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(mfs) < 9 {
		t.Errorf("the status collector exports %d metrics, want 9", len(mfs))
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, pr := range problems {
		t.Errorf("promlint: %s: %s", pr.Metric, pr.Text)
	}
}

func hasSeries(mf *dto.MetricFamily, labels map[string]string) bool {
next:
	for _, m := range mf.GetMetric() {
		for k, v := range labels {
			if !slices.ContainsFunc(m.GetLabel(), func(lp *dto.LabelPair) bool { return lp.GetName() == k && lp.GetValue() == v }) {
				continue next
			}
		}
		return true
	}
	return false
}

// TestReadyzNamesAProviderNotStarted puts health before a provider whose
// Start blocks: while it blocks, /readyz is 503 and names it.
func TestReadyzNamesAProviderNotStarted(t *testing.T) {
	t.Parallel()
	body := `providers:
  - name: healthcheck
    plugin: health
    config: {address: "127.0.0.1:0"}
  - name: slow
    plugin: sia-plugin-test
    config: {start_block: true}
`
	p := runAgent(t, pipeline(t, body), nil)
	health := serverURL(t, p, "healthcheck", "health check server")
	code, b := fetch(t, health+"/readyz", nil)
	var ready struct {
		Status   string
		Phase    string
		NotReady []sdk.NotReady `json:"not_ready"`
	}
	if err := json.Unmarshal(b, &ready); err != nil {
		t.Fatalf("/readyz body: %v\n%s", err, b)
	}
	if code != http.StatusServiceUnavailable || ready.Status != "not_ready" || ready.Phase != "start" {
		t.Errorf("/readyz while slow starts: %d %s", code, b)
	}
	if !slices.Contains(ready.NotReady, sdk.NotReady{Provider: "slow", Reason: "state initialized"}) {
		t.Errorf("/readyz does not name slow as not started: %s", b)
	}
	if code, b := fetch(t, health+"/healthz", nil); code != http.StatusOK {
		t.Errorf("/healthz while not ready: %d %s", code, b)
	}
	code = stop(t, p)
	assertRow(t, p, []string{"healthcheck", "slow"}, row{succeeded: []string{"healthcheck", "slow"}, exit: 0}, code)
}

// TestMetricsPortInUse: the metrics provider binds in Start, so a port in
// use fails its Start cleanly (k8s-athenz-sia exits from a goroutine
// instead): later providers are skipped, all are shut down, exit 1.
func TestMetricsPortInUse(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	p := runAgent(t, observedPipeline(t, map[string]string{"metrics": "address: " + addr}), nil)
	code := p.Exit(t, waitExit)
	assertRow(t, p, seedOrder, row{succeeded: seedOrder[:2], failed: []string{"metrics"}, skipped: seedOrder[3:], exit: 1}, code)
	p.WaitLog(t, "Error starting metrics: starting the metrics exporter server: listen tcp "+addr+": bind: address already in use", 0)
	p.WaitLog(t, "Start failed by cause: start failed:", 0)
}

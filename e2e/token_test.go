package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sia-agent/sia-agent/internal/e2e"
	"github.com/sia-agent/sia-agent/ztsdev"
)

// tokenEnv is a zts-dev binary serving the demo data set, whose
// ready-made identity of sia.demo.agent the token provider authenticates
// with (the cert provider's files, in a full pipeline).
type tokenEnv struct {
	zts               *e2e.ZTS
	certFile, keyFile string
	tokenDir          string
}

func newTokenEnv(t *testing.T, ztsConfig string) *tokenEnv {
	t.Helper()
	z := e2e.StartZTS(t, bins, ztsConfig)
	certs := filepath.Join(filepath.Dir(z.Config), "state", "service-certs")
	return &tokenEnv{
		zts:      z,
		certFile: filepath.Join(certs, "sia.demo.agent.cert.pem"),
		keyFile:  filepath.Join(certs, "sia.demo.agent.key.pem"),
		tokenDir: t.TempDir(),
	}
}

// tokenConfig is the token provider's config: targets (a YAML flow list)
// and the refresh block's lines.
func (env *tokenEnv) tokenConfig(targets, refresh string) string {
	return fmt.Sprintf(`endpoint: %s
ca_file: %s
cert_file: %s
key_file: %s
address: 127.0.0.1:0
targets: %s
files: {dir: %s}
refresh:
%s`, env.zts.URL, env.zts.CAFile, env.certFile, env.keyFile, targets, env.tokenDir, indent(refresh, "  "))
}

// tokenPipeline is the specification's pipeline with the real token
// provider second and test providers standing in for the others; extra
// adds config lines to a stand-in.
func tokenPipeline(t *testing.T, agentExtra, tokenConfig string, extra map[string]string) string {
	t.Helper()
	stand := map[string]string{
		"certificate": "[cert refresh timer]",
		"metrics":     "[metrics server]",
		"healthcheck": "[health check server]",
	}
	var b strings.Builder
	b.WriteString("providers:\n")
	for _, name := range seedOrder {
		if name == "token" {
			b.WriteString("  - name: token\n    plugin: token\n    config:\n")
			b.WriteString(indent(tokenConfig, "      "))
			continue
		}
		fmt.Fprintf(&b, "  - name: %s\n    plugin: sia-plugin-test\n    config:\n      goroutines: %s\n", name, stand[name])
		if e := extra[name]; e != "" {
			b.WriteString(indent(e, "      "))
		}
	}
	return pipelineWith(t, agentExtra, b.String())
}

// tokenLine is how a line the token provider logs appears in the agent's
// log.
func tokenLine(msg string) string { return "sia-agent.token: " + msg }

// Targets whose refresh keeps failing as in the specification's logs: ZTS
// knows no domain "invalid".
const failingTargets = "[{domain: sia.demo, roles: [reader]}, {domain: invalid, roles: [invalid]}]"

// Refresh settings: retries that fail fast and come round again (119), or
// a retry wait the signal lands in, followed by a short interval (120, 121).
const (
	tokenFastRetries = "retry: {initial: 100ms, max: 200ms, max_elapsed: 500ms}\nfailure_interval: 300ms\n"
	tokenSlowRetries = "retry: {initial: 30s, max: 30s, max_elapsed: 5m}\nfailure_interval: 300ms\n"
)

// Cases 106-108: SIGINT before one of the token provider's goroutines. Its
// Start completes its block (every goroutine is created), the later
// providers are skipped, every Shutdown runs in reverse order, exit 0.
func TestCases106To108SignalBeforeTokenGoroutine(t *testing.T) {
	t.Parallel()
	for i, goroutine := range []string{"token server", "token refresh timer", "memory reporter"} {
		t.Run(fmt.Sprintf("case%d_before_%s", 106+i, strings.ReplaceAll(goroutine, " ", "_")), func(t *testing.T) {
			t.Parallel()
			env := newTokenEnv(t, string(ztsdev.DemoConfig()))
			file := tokenPipeline(t, "", env.tokenConfig("[{domain: sia.demo, roles: [reader]}]", tokenFastRetries), nil)
			p := runAgent(t, file, faults("token:before "+goroutine+" goroutine=signal"))
			code := p.Exit(t, waitExit)
			assertRow(t, p, seedOrder, row{succeeded: seedOrder[:2], skipped: seedOrder[2:], exit: 0}, code)
			sig := p.WaitLog(t, "Received signal: interrupt", 0)
			p.WaitLog(t, "Shutdown completed!", 0)
			// The whole block ran: the server started and answered the
			// readiness probe; every goroutine was stopped by Shutdown.
			p.WaitLog(t, tokenLine("Starting token provider server[127.0.0.1:"), 0)
			begin := p.WaitLog(t, "Initiating shutdown of token ...", 0)
			for _, stopped := range []string{"Stopped token provider server", "Stopped token provider daemon", "Stopped memory reporter daemon"} {
				if _, err := p.Log.WaitFrom(begin, tokenLine(stopped), 0); err != nil {
					t.Errorf("%v", err)
				}
			}
			if i := p.Log.Index(tokenLine("Fetched token: credential=roletoken/sia.demo:reader")); i < 0 || i > sig {
				t.Errorf("the target was not fetched at Init, before the signal")
			}
		})
	}
}

// Case 119: the token refresh's retries keep failing; the provider logs
// it and tries again later. The agent does not exit.
func TestCase119TokenRefreshRetryError(t *testing.T) {
	t.Parallel()
	env := newTokenEnv(t, string(ztsdev.DemoConfig()))
	p := runAgent(t, tokenPipeline(t, "", env.tokenConfig(failingTargets, tokenFastRetries), nil), nil)
	waitAllStarted(t, p)
	from := len(p.Log.Lines())
	for range 2 { // and again: the loop goes on
		i, err := p.Log.WaitFrom(from, tokenLine("Failed to refresh token after retries: credential=roletoken/invalid:invalid"), waitLine)
		if err != nil {
			t.Fatalf("%v\n%s", err, p.Log)
		}
		from = i + 1
	}
	select {
	case <-p.Done():
		t.Fatalf("the agent exited:\n%s", p.Log)
	default: // NO exit
	}
	// The good target is served all along.
	url := serverURL(t, p, "token", "token provider server")
	if code, body := fetch(t, url, http.Header{"X-Athenz-Domain": {"sia.demo"}, "X-Athenz-Role": {"reader"}}); code != 200 {
		t.Errorf("header mode during the failures: %d %s", code, body)
	}
	code := stop(t, p)
	assertRow(t, p, seedOrder, row{succeeded: seedOrder, exit: 0}, code)
}

// waitRetrying waits until both failing tokens wait for their first retry.
func waitRetrying(t *testing.T, p *e2e.Process) {
	t.Helper()
	for _, kind := range []string{"accesstoken", "roletoken"} {
		p.WaitLog(t, tokenLine("Retrying token refresh: credential="+kind+"/invalid:invalid"), waitLine)
	}
}

// Case 120: SIGINT while a token refresh waits to retry stops the retries
// at once; the agent shuts down and exits 0.
func TestCase120SignalDuringTokenRefreshRetry(t *testing.T) {
	t.Parallel()
	env := newTokenEnv(t, string(ztsdev.DemoConfig()))
	p := runAgent(t, tokenPipeline(t, "", env.tokenConfig(failingTargets, tokenSlowRetries), nil), nil)
	waitAllStarted(t, p)
	waitRetrying(t, p)
	code := stop(t, p) // the next retry is 15-45s away; the deadline covers it, the checks below do not
	assertRow(t, p, seedOrder, row{succeeded: seedOrder, exit: 0}, code)
	sig := p.Log.Index("Received signal: interrupt")
	stopped, err := p.Log.WaitFrom(sig, tokenLine("Failed to refresh token after retries: credential=roletoken/invalid:invalid"), 0)
	if err != nil {
		t.Fatal(err)
	}
	// The run context's cancellation stopped them, not the Shutdown.
	if line := p.Log.Lines()[stopped]; !strings.Contains(line, "retries stopped") || !strings.Contains(line, "(received signal: interrupt)") {
		t.Errorf("the retries were not stopped by the signal's cancellation: %s", line)
	}
	if n := countFrom(p.Log, sig, tokenLine("Failed to fetch token")); n != 0 {
		t.Errorf("%d ZTS calls failed after the signal, want none", n)
	}
}

// Case 121: as 120, and the refresh interval that elapses while the other
// providers shut down is skipped: the metrics stand-in holds its Shutdown
// until the token provider logs the skip.
func TestCase121TokenRefreshSkippedAfterSignal(t *testing.T) {
	t.Parallel()
	env := newTokenEnv(t, string(ztsdev.DemoConfig()))
	fifo := filepath.Join(t.TempDir(), "release")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	file := tokenPipeline(t, "", env.tokenConfig(failingTargets, tokenSlowRetries), map[string]string{"metrics": "shutdown_wait_fifo: " + fifo})
	p := runAgent(t, file, nil)
	waitAllStarted(t, p)
	waitRetrying(t, p)
	p.Signal(t, syscall.SIGINT)
	sig := p.WaitLog(t, "Received signal: interrupt", waitLine)
	held := p.WaitLog(t, "sia-agent.metrics: Shutdown called", waitLine)
	skipped, err := p.Log.WaitFrom(sig, tokenLine("Skipped to refresh cached tokens"), waitLine)
	if err != nil {
		t.Fatalf("%v\n%s", err, p.Log)
	}
	releaseFIFO(t, fifo)
	code := p.Exit(t, waitExit)
	assertRow(t, p, seedOrder, row{succeeded: seedOrder, exit: 0}, code)
	if i := p.Log.Index("Initiating shutdown of token ..."); skipped > i || held > i {
		t.Errorf("the skip (line %d) came after the token provider's Shutdown began (line %d)", skipped, i)
	}
	// Nothing was fetched after the signal.
	for _, s := range []string{"Failed to fetch token", "Fetched token", "Refreshing tokens"} {
		if n := countFrom(p.Log, sig, tokenLine(s)); n != 0 {
			t.Errorf("%d lines %q after the signal", n, s)
		}
	}
}

// The token provider under the real agent: both APIs answer from the
// cache, the targets' files are written, and their status reaches the
// agent's status report.
func TestTokenServesThroughTheAgent(t *testing.T) {
	t.Parallel()
	env := newTokenEnv(t, string(ztsdev.DemoConfig()))
	status := filepath.Join(t.TempDir(), "status.json")
	p := runAgent(t, tokenPipeline(t, "  status_file: "+status+"\n", env.tokenConfig("[{domain: sia.demo, roles: [reader]}]", tokenFastRetries), nil), nil)
	waitAllStarted(t, p)
	url := serverURL(t, p, "token", "token provider server")

	code, body := fetch(t, url+"/", http.Header{"X-Athenz-Domain": {"sia.demo"}, "X-Athenz-Role": {"reader"}})
	var tokens struct{ AccessToken, RoleToken string }
	if code != 200 || json.Unmarshal(body, &tokens) != nil || tokens.AccessToken == "" || tokens.RoleToken == "" {
		t.Fatalf("header mode: %d %s", code, body)
	}
	resp, err := httpClient.Post(url+"/roletoken", "application/json", strings.NewReader(`{"domain":"sia.demo","role":"reader"}`))
	if err != nil {
		t.Fatal(err)
	}
	rest, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := regexp.MustCompile(`^\{"expiryTime":\d+,"token":"` + regexp.QuoteMeta(tokens.RoleToken) + `"\}\n$`); resp.StatusCode != 200 || !want.Match(rest) {
		t.Errorf("REST: %d %s", resp.StatusCode, rest)
	}
	for name, want := range map[string]string{"sia.demo:role.reader.accesstoken": tokens.AccessToken, "sia.demo:role.reader.roletoken": tokens.RoleToken} {
		if got := readFile(t, filepath.Join(env.tokenDir, name)); string(got) != want {
			t.Errorf("%s does not hold the served token", name)
		}
	}

	code = stop(t, p)
	if code != 0 {
		t.Errorf("exit code %d", code)
	}
	var report struct {
		Credentials []struct {
			Provider, Credential, Kind string
			UpdateOutcome              string `json:"update_outcome"`
			ExpiryTS                   int64  `json:"expiry_ts"`
		}
	}
	if err := json.Unmarshal(readFile(t, status), &report); err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, c := range report.Credentials {
		if c.Provider == "token" && (c.Credential == "roletoken/sia.demo:reader" || c.Credential == "accesstoken/sia.demo:reader") {
			found++
			if c.UpdateOutcome != "SUCCESS" || c.ExpiryTS < time.Now().Unix() {
				t.Errorf("status of %s: %+v", c.Credential, c)
			}
		}
	}
	if found != 2 {
		t.Errorf("%d of the target's 2 credentials in the status report:\n%s", found, readFile(t, status))
	}
}

// ZTS fails when the agent starts: the token server answers at once with
// 503, and with 200 once ZTS is back (a SIGHUP reload of zts-dev), without
// a restart.
func TestTokenZTSDownAtStart(t *testing.T) {
	t.Parallel()
	demo := string(ztsdev.DemoConfig())
	down := strings.Replace(demo, "faults: []", "faults:\n  - {operation: \"*\", status: 503}\n", 1)
	env := newTokenEnv(t, down)
	// A fast circuit: by default its probes come up to a minute apart.
	p := runAgent(t, tokenPipeline(t, "", env.tokenConfig("[{domain: sia.demo, roles: [reader]}]",
		"retry: {initial: 100ms, max: 300ms, max_elapsed: 1h}\n")+fastCircuit, nil), nil)
	waitAllStarted(t, p)
	url := serverURL(t, p, "token", "token provider server")
	h := http.Header{"X-Athenz-Domain": {"sia.demo"}, "X-Athenz-Role": {"reader"}}
	if code, body := fetch(t, url, h); code != 503 {
		t.Fatalf("with ZTS down: %d %s", code, body)
	}
	if err := os.WriteFile(env.zts.Config, []byte(demo), 0o600); err != nil {
		t.Fatal(err)
	}
	env.zts.Signal(t, syscall.SIGHUP)
	p.WaitLog(t, tokenLine("Fetched token: credential=roletoken/sia.demo:reader"), waitLine)
	p.WaitLog(t, tokenLine("Fetched token: credential=accesstoken/sia.demo:reader"), waitLine)
	if code, body := fetch(t, url, h); code != 200 {
		t.Errorf("once ZTS is back: %d %s", code, body)
	}
	if code := stop(t, p); code != 0 {
		t.Errorf("exit code %d", code)
	}
}

package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/sia-agent/sia-agent/internal/e2e"
)

// The specification's table (docs/lifecycle.md), every row, with the four
// real providers (cert, token, metrics, health) against zts-dev. Cases that need
// a signal, an error or a pause at an exact place get it from a fault
// point; nothing is timed.

// realPipeline is the table's pipeline with the real providers: the token
// provider authenticates with the identity the cert provider writes.
func realPipeline(t *testing.T, env *certEnv, certTargets, certRefresh, tokenTargets, tokenRefresh string) string {
	t.Helper()
	token := fmt.Sprintf(`endpoint: %s
ca_file: %s
key_file: %s
cert_file: %s
token_types: [accesstoken, roletoken]
targets: %s
files: {dir: %s}
address: 127.0.0.1:0
server: {enabled: true, header_mode: true, rest_api: true}
refresh:
%s`, env.zts.URL, env.zts.CAFile, env.path("service.key.pem"), env.path("service.cert.pem"),
		tokenTargets, t.TempDir(), indent(tokenRefresh, "  "))
	var b strings.Builder
	b.WriteString("providers:\n")
	b.WriteString("  - name: certificate\n    plugin: cert\n    config:\n")
	b.WriteString(indent(env.certConfig(certTargets, certRefresh), "      "))
	b.WriteString("  - name: token\n    plugin: token\n    config:\n")
	b.WriteString(indent(token, "      "))
	b.WriteString("  - name: metrics\n    plugin: metrics\n    config: {address: \"127.0.0.1:0\"}\n")
	b.WriteString("  - name: healthcheck\n    plugin: health\n    config: {address: \"127.0.0.1:0\"}\n")
	return pipeline(t, b.String())
}

const (
	goodCertTargets  = "[sia.demo:role.reader]"
	badCertTargets   = "[sia.demo:role.reader, invalid:role.invalid]"
	goodTokenTargets = "[{domain: sia.demo, roles: [reader]}]"
	certDefault      = "jitter: 0.1\n"
	tokenDefault     = "failure_interval: 10s\n"
)

// specCase runs one row of the table.
type specCase struct {
	id  string
	run func(t *testing.T, env *certEnv) (*e2e.Process, row, int)
}

func TestSpecificationWithRealProviders(t *testing.T) {
	t.Parallel()
	var cases []specCase
	all := seedOrder

	cases = append(cases, specCase{"100", func(t *testing.T, env *certEnv) (*e2e.Process, row, int) {
		p := runAgent(t, realPipeline(t, env, goodCertTargets, certDefault, goodTokenTargets, tokenDefault), nil)
		p.WaitLog(t, "All 4 providers started", waitLine)
		return p, row{succeeded: all}, stop(t, p)
	}})
	for i, name := range all { // 101–104: SIGINT before a provider's Start
		cases = append(cases, specCase{fmt.Sprint(101 + i), func(t *testing.T, env *certEnv) (*e2e.Process, row, int) {
			p := runAgent(t, realPipeline(t, env, goodCertTargets, certDefault, goodTokenTargets, tokenDefault),
				faults("agent:before "+name+" start=signal"))
			return p, row{succeeded: all[:i], skipped: all[i:]}, p.Exit(t, waitExit)
		}})
	}
	goroutines := []struct { // 105–110: SIGINT before a provider's goroutine
		id, provider, goroutine string
		started                 int
	}{
		{"105", "certificate", "cert refresh timer", 1},
		{"106", "token", "token server", 2},
		{"107", "token", "token refresh timer", 2},
		{"108", "token", "memory reporter", 2},
		{"109", "metrics", "metrics server", 3},
		{"110", "healthcheck", "health check server", 4},
	}
	for _, g := range goroutines {
		cases = append(cases, specCase{g.id, func(t *testing.T, env *certEnv) (*e2e.Process, row, int) {
			p := runAgent(t, realPipeline(t, env, goodCertTargets, certDefault, goodTokenTargets, tokenDefault),
				faults(g.provider+":before "+g.goroutine+" goroutine=signal"))
			return p, row{succeeded: all[:g.started], skipped: all[g.started:]}, p.Exit(t, waitExit)
		}})
	}
	for i, name := range all { // 111–114: an error in a provider's Start
		cases = append(cases, specCase{fmt.Sprint(111 + i), func(t *testing.T, env *certEnv) (*e2e.Process, row, int) {
			p := runAgent(t, realPipeline(t, env, goodCertTargets, certDefault, goodTokenTargets, tokenDefault),
				faults(name+":start=fail:test error"))
			code := p.Exit(t, waitExit)
			p.WaitLog(t, "Start failed by cause: start failed: test error", 0)
			return p, row{succeeded: all[:i], failed: []string{name}, skipped: all[i+1:], exit: 1}, code
		}})
	}
	cases = append(cases, specCase{"115", func(t *testing.T, env *certEnv) (*e2e.Process, row, int) {
		// The token provider signals the agent as its Shutdown begins and
		// waits until the agent has handled the signal.
		p := runAgent(t, realPipeline(t, env, goodCertTargets, certDefault, goodTokenTargets, tokenDefault),
			faults("metrics:start=fail:test error", "token:shutdown=signal"))
		code := p.Exit(t, waitExit)
		begin := p.WaitLog(t, "Initiating shutdown of token ...", 0)
		if _, err := p.Log.WaitFrom(begin, "Received signal: interrupt", 0); err != nil {
			t.Errorf("no signal during the token's shutdown: %v", err)
		}
		p.WaitLog(t, "Shutdown is in progress; it runs to the end", 0)
		return p, row{succeeded: all[:2], failed: []string{"metrics"}, skipped: all[3:], exit: 1}, code
	}})
	cases = append(cases, specCase{"116", func(t *testing.T, env *certEnv) (*e2e.Process, row, int) {
		p := runAgent(t, realPipeline(t, env, badCertTargets, refreshFastRetries, goodTokenTargets, tokenDefault), nil)
		p.WaitLog(t, "All 4 providers started", waitLine)
		from := len(p.Log.Lines())
		for range 2 {
			i := waitFrom(t, p, from, certLine("Failed to refresh certificates after multiple retries"))
			from = waitFrom(t, p, i, certLine("Will refresh key["))
		}
		select {
		case <-p.Done():
			t.Fatalf("the agent exited (NO exit expected):\n%s", p.Log)
		default:
		}
		return p, row{succeeded: all}, stop(t, p)
	}})
	cases = append(cases, specCase{"117", func(t *testing.T, env *certEnv) (*e2e.Process, row, int) {
		p := runAgent(t, realPipeline(t, env, badCertTargets, refreshSlowRetries, goodTokenTargets, tokenDefault), nil)
		p.WaitLog(t, "All 4 providers started", waitLine)
		waitFrom(t, p, 0, certLine("Failed to refresh certificates: requesting role certificate invalid:role.invalid"))
		code := stop(t, p)
		sig := p.Log.Index("Received signal: interrupt")
		waitFrom(t, p, sig, certLine("Failed to refresh certificates after multiple retries: retries stopped"))
		return p, row{succeeded: all}, code
	}})
	cases = append(cases, specCase{"118", func(t *testing.T, env *certEnv) (*e2e.Process, row, int) {
		fifo := mkfifo(t)
		p := runAgent(t, realPipeline(t, env, badCertTargets, refreshSlowRetries, goodTokenTargets, tokenDefault),
			faults("token:shutdown=wait:"+fifo))
		p.WaitLog(t, "All 4 providers started", waitLine)
		waitFrom(t, p, 0, certLine("Failed to refresh certificates: requesting role certificate invalid:role.invalid"))
		p.Signal(t, syscall.SIGINT)
		sig := p.WaitLog(t, "Received signal: interrupt", waitLine)
		waitFrom(t, p, sig, "Initiating shutdown of token ...") // held there
		waitFrom(t, p, sig, certLine("Skipped to refresh key["))
		releaseFIFO(t, fifo)
		return p, row{succeeded: all}, p.Exit(t, waitExit)
	}})
	cases = append(cases, specCase{"119", func(t *testing.T, env *certEnv) (*e2e.Process, row, int) {
		p := runAgent(t, realPipeline(t, env, goodCertTargets, certDefault, failingTargets, tokenFastRetries), nil)
		p.WaitLog(t, "All 4 providers started", waitLine)
		from := len(p.Log.Lines())
		for range 2 {
			from = waitFrom(t, p, from, tokenLine("Failed to refresh token after retries: credential=roletoken/invalid:invalid")) + 1
		}
		select {
		case <-p.Done():
			t.Fatalf("the agent exited (NO exit expected):\n%s", p.Log)
		default:
		}
		return p, row{succeeded: all}, stop(t, p)
	}})
	cases = append(cases, specCase{"120", func(t *testing.T, env *certEnv) (*e2e.Process, row, int) {
		p := runAgent(t, realPipeline(t, env, goodCertTargets, certDefault, failingTargets, tokenSlowRetries), nil)
		p.WaitLog(t, "All 4 providers started", waitLine)
		waitFrom(t, p, 0, tokenLine("Retrying token refresh: credential=roletoken/invalid:invalid"))
		code := stop(t, p)
		sig := p.Log.Index("Received signal: interrupt")
		waitFrom(t, p, sig, tokenLine("Failed to refresh token after retries: credential=roletoken/invalid:invalid"))
		return p, row{succeeded: all}, code
	}})
	cases = append(cases, specCase{"121", func(t *testing.T, env *certEnv) (*e2e.Process, row, int) {
		fifo := mkfifo(t)
		p := runAgent(t, realPipeline(t, env, goodCertTargets, certDefault, failingTargets, tokenSlowRetries),
			faults("metrics:shutdown=wait:"+fifo))
		p.WaitLog(t, "All 4 providers started", waitLine)
		waitFrom(t, p, 0, tokenLine("Retrying token refresh: credential=roletoken/invalid:invalid"))
		p.Signal(t, syscall.SIGINT)
		sig := p.WaitLog(t, "Received signal: interrupt", waitLine)
		waitFrom(t, p, sig, "Initiating shutdown of metrics ...") // held there
		waitFrom(t, p, sig, tokenLine("Skipped to refresh cached tokens"))
		releaseFIFO(t, fifo)
		return p, row{succeeded: all}, p.Exit(t, waitExit)
	}})

	for _, c := range cases {
		t.Run("case"+c.id, func(t *testing.T) {
			t.Parallel()
			p, want, code := c.run(t, newCertEnv(t))
			assertRow(t, p, seedOrder, want, code)
		})
	}
}

// waitFrom waits for a line containing substr from line from on, or fails.
func waitFrom(t *testing.T, p *e2e.Process, from int, substr string) int {
	t.Helper()
	i, err := p.Log.WaitFrom(from, substr, waitLine)
	if err != nil {
		t.Fatalf("%v\n%s", err, p.Log)
	}
	return i
}

func mkfifo(t *testing.T) string {
	t.Helper()
	fifo := filepath.Join(t.TempDir(), "release")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	return fifo
}

package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/sia-agent/sia-agent/internal/e2e"
)

// seedOrder is the specification's pipeline.
var seedOrder = []string{"certificate", "token", "metrics", "healthcheck"}

// seedPipeline stands test providers in for the specification's four
// providers, with its goroutines; extra adds config lines per provider.
func seedPipeline(t *testing.T, extra map[string]string) string {
	t.Helper()
	goroutines := map[string]string{
		"certificate": "[cert refresh timer]",
		"token":       "[token server, token refresh timer, memory reporter]",
		"metrics":     "[metrics server]",
		"healthcheck": "[health check server]",
	}
	var b strings.Builder
	b.WriteString("providers:\n")
	for _, name := range seedOrder {
		fmt.Fprintf(&b, "  - name: %s\n    plugin: sia-plugin-test\n    config:\n      goroutines: %s\n", name, goroutines[name])
		if e := extra[name]; e != "" {
			for _, line := range strings.Split(strings.TrimSpace(e), "\n") {
				fmt.Fprintf(&b, "      %s\n", line)
			}
		}
	}
	return pipeline(t, b.String())
}

// waitAllStarted waits until the last provider's last goroutine started.
func waitAllStarted(t *testing.T, p *e2e.Process) {
	t.Helper()
	p.WaitLog(t, "Started health check server goroutine", waitLine)
}

func TestCase100NormalSignal(t *testing.T) {
	t.Parallel()
	p := runAgent(t, seedPipeline(t, nil), nil)
	waitAllStarted(t, p)
	code := stop(t, p)
	assertRow(t, p, seedOrder, row{succeeded: seedOrder, exit: 0}, code)
	p.WaitLog(t, "Initiating shutdown by cause: received signal: interrupt ...", 0)
	p.WaitLog(t, "Shutdown completed!", 0)
}

// Cases 101–104: SIGINT before a provider's Start skips it and every
// provider after it.
func TestCases101To104SignalBeforeStart(t *testing.T) {
	t.Parallel()
	for i, name := range seedOrder {
		t.Run(fmt.Sprintf("case%d_before_%s", 101+i, name), func(t *testing.T) {
			t.Parallel()
			p := runAgent(t, seedPipeline(t, nil), faults("agent:before "+name+" start=signal"))
			code := p.Exit(t, waitExit)
			assertRow(t, p, seedOrder, row{succeeded: seedOrder[:i], skipped: seedOrder[i:], exit: 0}, code)
			p.WaitLog(t, "Received signal: interrupt", 0)
			p.WaitLog(t, "Shutdown completed!", 0)
			// A skipped provider's Shutdown still runs in its plugin.
			p.WaitLog(t, fmt.Sprintf("sia-agent.%s: Shutdown called: started=false", name), 0)
		})
	}
}

// Cases 111–114: an error in a provider's Start cancels the run: later
// providers are skipped, every provider is shut down, exit 1.
func TestCases111To114StartError(t *testing.T) {
	t.Parallel()
	for i, name := range seedOrder {
		t.Run(fmt.Sprintf("case%d_error_in_%s", 111+i, name), func(t *testing.T) {
			t.Parallel()
			p := runAgent(t, seedPipeline(t, map[string]string{name: "start_error: test error"}), nil)
			code := p.Exit(t, waitExit)
			assertRow(t, p, seedOrder, row{succeeded: seedOrder[:i], failed: []string{name}, skipped: seedOrder[i+1:], exit: 1}, code)
			p.WaitLog(t, "Error starting "+name+": test error", 0)
			p.WaitLog(t, "Initiating shutdown by cause: start failed: test error ...", 0)
			p.WaitLog(t, "Start failed by cause: start failed: test error", 0)
			// The failed provider's goroutines, created before the error,
			// are stopped by its Shutdown.
			p.WaitLog(t, fmt.Sprintf("sia-agent.%s: Shutdown called: started=true", name), 0)
		})
	}
}

// Case 115: an error in metrics' Start, and a SIGINT during Shutdown that
// is logged and changes nothing.
func TestCase115SignalDuringShutdown(t *testing.T) {
	t.Parallel()
	fifo := mkfifo(t)
	p := runAgent(t, seedPipeline(t, map[string]string{
		"metrics": "start_error: test error",
		"token":   "shutdown_wait_fifo: " + fifo,
	}), nil)
	p.WaitLog(t, "sia-agent.token: Shutdown called", waitLine)
	p.Signal(t, syscall.SIGINT)
	p.WaitLog(t, "Received signal: interrupt", waitLine)
	p.WaitLog(t, "Shutdown is in progress; it runs to the end", waitLine)
	releaseFIFO(t, fifo)
	code := p.Exit(t, waitExit)
	assertRow(t, p, seedOrder, row{succeeded: seedOrder[:2], failed: []string{"metrics"}, skipped: []string{"healthcheck"}, exit: 1}, code)
	p.WaitLog(t, "Start failed by cause: start failed: test error", 0)
	if i, j := p.Log.Index("Received signal: interrupt"), p.Log.Index("Initiating shutdown of token ..."); i < j {
		t.Errorf("the signal (line %d) came before the token's shutdown began (line %d)", i, j)
	}
}

func TestSIGTERMShutsDownLikeSIGINT(t *testing.T) {
	t.Parallel()
	p := runAgent(t, seedPipeline(t, nil), nil)
	waitAllStarted(t, p)
	p.Signal(t, syscall.SIGTERM)
	code := p.Exit(t, waitExit)
	assertRow(t, p, seedOrder, row{succeeded: seedOrder, exit: 0}, code)
	p.WaitLog(t, "Initiating shutdown by cause: received signal: terminated ...", 0)
}

func TestPluginCrashDuringRunShutsDownTheRest(t *testing.T) {
	t.Parallel()
	p := runAgent(t, seedPipeline(t, map[string]string{"token": "crash_after: 200ms\ncrash_code: 7"}), nil)
	code := p.Exit(t, waitExit)
	assertRow(t, p, seedOrder, row{succeeded: seedOrder, crashed: []string{"token"}, exit: 1}, code)
	p.WaitLog(t, "provider token exited unexpectedly: exit status 7", 0)
	p.WaitLog(t, "Initiating shutdown by cause: provider token exited unexpectedly: exit status 7 ...", 0)
	p.WaitLog(t, "Run failed by cause: provider token exited unexpectedly: exit status 7", 0)
}

func TestShutdownHangingPastItsTimeoutIsKilled(t *testing.T) {
	t.Parallel()
	body := `providers:
  - name: first
    plugin: sia-plugin-test
  - name: stuck
    plugin: sia-plugin-test
    shutdown_timeout: 500ms
    config: {shutdown_hang: true}
  - name: last
    plugin: sia-plugin-test
`
	p := runAgent(t, pipeline(t, body), nil)
	p.WaitLog(t, "sia-agent.last: Initialized test provider", waitLine)
	code := stop(t, p)
	if code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
	p.WaitLog(t, "Shutdown of stuck did not finish within 500ms; killing its process", 0)
	// The providers before it in the pipeline are still shut down after it.
	i := p.WaitLog(t, "Shutdown of stuck did not finish", 0)
	if _, err := p.Log.WaitFrom(i, "sia-agent: Stopped first", 0); err != nil {
		t.Errorf("first was not shut down after stuck was killed: %v", err)
	}
}

func TestSIGKILLedAgentLeavesNoPlugin(t *testing.T) {
	t.Parallel()
	p := runAgent(t, seedPipeline(t, nil), nil)
	waitAllStarted(t, p)
	pids := childPids(t, p.Cmd.Process.Pid)
	if len(pids) != len(seedOrder) {
		t.Fatalf("found %d plugin processes, want %d", len(pids), len(seedOrder))
	}
	p.Signal(t, syscall.SIGKILL)
	p.Exit(t, waitExit)
	for _, pid := range pids {
		if err := e2e.WaitExit(pid, waitExit); err != nil {
			t.Fatalf("plugin process of the killed agent: %v", err)
		}
	}
}

// childPids lists the processes whose parent is pid.
func childPids(t *testing.T, pid int) []int {
	t.Helper()
	pids, err := e2e.Children(pid)
	if err != nil {
		t.Skip("no /proc:", err)
	}
	return pids
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	return len(fields) > 0 && fields[0] != "Z"
}

func TestBadPlugins(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	notExec := e2e.WriteFile(t, dir, "not-executable", "#!/bin/sh\n")
	digest := sha256.Sum256([]byte("something else"))
	cases := []struct {
		name, provider, want string
		code                 int
	}{
		{"missing", "plugin: sia-plugin-nope", `plugin "sia-plugin-nope" not found at`, exitConfig},
		{"not executable", "plugin: " + notExec, "is not executable", exitConfig},
		{"sha256 mismatch", "plugin: sia-plugin-test\n    sha256: " + hex.EncodeToString(digest[:]), "refusing to launch it", exitConfig},
		{"not a plugin", "plugin: /bin/true", "launching plugin /bin/true", 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			file := pipeline(t, "providers:\n  - name: bad\n    "+c.provider+"\n")
			p := runAgent(t, file, nil)
			code := p.Exit(t, waitExit)
			if code != c.code {
				t.Errorf("exit code %d, want %d", code, c.code)
			}
			p.WaitLog(t, c.want, 0)
			if c.code == exitConfig {
				p.WaitLog(t, file+":", 0) // names the file (and line)
			}
		})
	}
}

func TestSHA256PinAccepted(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(filepath.Join(bins, "sia-plugin-test"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	file := pipeline(t, "providers:\n  - name: pinned\n    plugin: sia-plugin-test\n    sha256: "+hex.EncodeToString(sum[:])+"\n")
	p := runAgent(t, file, nil)
	p.WaitLog(t, "sia-agent.pinned: Initialized test provider", waitLine)
	if code := stop(t, p); code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
}

func TestInitMode(t *testing.T) {
	t.Parallel()
	p := runAgent(t, seedPipeline(t, nil), nil, "--mode", "init")
	code := p.Exit(t, waitExit)
	if code != 0 {
		t.Errorf("exit code %d, want 0\n%s", code, p.Log.String())
	}
	p.WaitLog(t, "Init completed!", 0)
	if i := p.Log.Index("Started "); i >= 0 {
		t.Errorf("init mode started a provider: %s", p.Log.Lines()[i])
	}
}

func TestInitFailureExits1(t *testing.T) {
	t.Parallel()
	p := runAgent(t, seedPipeline(t, map[string]string{"token": "init_error: no credentials"}), nil)
	code := p.Exit(t, waitExit)
	assertRow(t, p, seedOrder, row{skipped: seedOrder, exit: 1}, code)
	p.WaitLog(t, "Error initializing token: no credentials", 0)
	p.WaitLog(t, "Init failed by cause: init failed: token: no credentials", 0)
}

func TestProfileDisablesProvider(t *testing.T) {
	t.Parallel()
	body := `providers:
  - name: a
    plugin: sia-plugin-test
  - name: b
    plugin: sia-plugin-test
    enabled: ${B_ENABLED:-true}
profiles:
  dev:
    providers:
      a: {enabled: false}
`
	file := pipeline(t, body)
	p := runAgent(t, file, []string{"B_ENABLED=false"}, "--profile", "dev")
	code := p.Exit(t, waitExit)
	if code != exitConfig {
		t.Fatalf("exit code %d, want %d (no provider enabled)\n%s", code, exitConfig, p.Log.String())
	}
	p2 := runAgent(t, file, nil, "--profile", "dev")
	p2.WaitLog(t, "sia-agent.b: Initialized test provider", waitLine)
	if code := stop(t, p2); code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
	if i := p2.Log.Index("sia-agent.a:"); i >= 0 {
		t.Errorf("disabled provider a ran: %s", p2.Log.Lines()[i])
	}
}

// The agent logs each provider's Start as it begins and once it
// succeeded, around what the provider logs in it, in pipeline order.
func TestStartsAreLogged(t *testing.T) {
	t.Parallel()
	p := runAgent(t, seedPipeline(t, nil), nil)
	p.WaitLog(t, "All 4 providers started", waitLine)
	if code := stop(t, p); code != 0 {
		t.Fatalf("exit code %d\n%s", code, p.Log)
	}
	from := 0
	for _, name := range seedOrder {
		for _, line := range []string{
			"sia-agent: Starting " + name,
			"sia-agent." + name + ": Started ", // its first goroutine
			"sia-agent: Started " + name,
		} {
			i, err := p.Log.WaitFrom(from, line, 0)
			if err != nil {
				t.Fatalf("%v, in order:\n%s", err, p.Log)
			}
			from = i + 1
		}
	}
}

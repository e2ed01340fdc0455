package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sia-agent/sia-agent/internal/e2e"
	"github.com/sia-agent/sia-agent/sdk"
)

// providerPid is the pid the named test provider logged at Init.
func providerPid(t *testing.T, p *e2e.Process, name string) int {
	t.Helper()
	i := p.WaitLog(t, "sia-agent."+name+": Initialized test provider", waitLine)
	m := regexp.MustCompile(`pid=(\d+)`).FindStringSubmatch(p.Log.Lines()[i])
	if m == nil {
		t.Fatalf("no pid in %q", p.Log.Lines()[i])
	}
	pid, _ := strconv.Atoi(m[1])
	return pid
}

// freeze stops a process as SIGSTOP does, and lets it go (SIGCONT, then
// SIGKILL) when the test ends, whatever happened.
func freeze(t *testing.T, pid int) {
	t.Helper()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(pid, syscall.SIGCONT)
		_ = syscall.Kill(pid, syscall.SIGKILL)
	})
}

// A frozen plugin (SIGSTOP) used to make shutdown hang forever: the signal
// relay stalled on it, and so did go-plugin's graceful close. SIGTERM must
// end the agent within the shutdown timeouts added up and a second, the
// frozen provider killed at its timeout and the ones before it still shut
// down.
func TestFrozenPluginDoesNotHoldShutdown(t *testing.T) {
	t.Parallel()
	file := seedPipelineWith(t, "  shutdown_timeout: 3s\n", nil)
	p := runAgent(t, file, nil)
	token := providerPid(t, p, "token")
	waitAllStarted(t, p)
	freeze(t, token)
	p.Signal(t, syscall.SIGTERM)
	// The bound of the issue, 4 × 3 s + 1 s, with room for a race-detector
	// build on a busy machine: before the fix this never returned.
	code := p.Exit(t, 13*time.Second+waitLine)
	if code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
	i := p.WaitLog(t, "Shutdown of token did not finish within 3s; killing its process", 0)
	if _, err := p.Log.WaitFrom(i, "sia-agent: Stopped certificate", 0); err != nil {
		t.Errorf("certificate was not shut down after the frozen token: %v\n%s", err, p.Log)
	}
	p.WaitLog(t, "Shutdown completed!", 0)
}

// A plugin that stops answering while the agent runs is named by
// /readyz, and after agent.unresponsive_timeout it is treated like a
// crashed one: killed, the run cancelled with a cause naming it, exit 1.
func TestUnresponsivePluginIsTreatedAsCrashed(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("providers:\n")
	for _, name := range seedOrder[:3] {
		fmt.Fprintf(&b, "  - name: %s\n    plugin: sia-plugin-test\n", name)
	}
	b.WriteString("  - name: healthcheck\n    plugin: health\n    config:\n      address: 127.0.0.1:0\n")
	file := pipelineWith(t, "  ping_interval: 200ms\n  unresponsive_timeout: 3s\n", b.String())
	p := runAgent(t, file, nil)
	token := providerPid(t, p, "token")
	health := serverURL(t, p, "healthcheck", "health check server")
	p.WaitLog(t, "All 4 providers started", waitLine)
	if code, _ := get(t, health+"/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz answered %d before the freeze", code)
	}
	freeze(t, token)
	p.WaitLog(t, "Provider does not answer: provider=token", waitLine)
	code, body := get(t, health+"/readyz")
	var ready struct {
		NotReady []sdk.NotReady `json:"not_ready"`
	}
	_ = json.Unmarshal([]byte(body), &ready)
	if code != http.StatusServiceUnavailable || len(ready.NotReady) != 1 || ready.NotReady[0].Provider != "token" ||
		!strings.HasPrefix(ready.NotReady[0].Reason, "not answering since") {
		t.Errorf("/readyz with the token frozen: %d %s; want 503 naming the token", code, body)
	}
	p.WaitLog(t, "provider token stopped answering at", waitLine)
	if code := p.Exit(t, waitExit); code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	p.WaitLog(t, "Run failed by cause: provider token stopped answering", 0)
	p.WaitLog(t, "sia-agent: Stopped certificate", 0)
}

// SIGHUP used to kill the agent without a word (exit 129, no shutdown):
// until reload exists, it is logged and ignored.
func TestSIGHUPIsLoggedAndIgnored(t *testing.T) {
	t.Parallel()
	p := runAgent(t, seedPipeline(t, nil), nil)
	waitAllStarted(t, p)
	p.Signal(t, syscall.SIGHUP)
	p.WaitLog(t, "Ignoring SIGHUP", waitLine)
	select {
	case <-p.Done():
		t.Fatalf("the agent exited on SIGHUP:\n%s", p.Log)
	default:
	}
	code := stop(t, p)
	assertRow(t, p, seedOrder, row{succeeded: seedOrder, exit: 0}, code)
}

// A signal while the plugins launch used to be ignored until the launch
// timed out (30 s), then exit 1. It stops the launch at once, ends the
// plugins already running and exits 0.
func TestSignalDuringLaunchStopsIt(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fifo := filepath.Join(dir, "launched")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	// A plugin that never completes its handshake.
	slow := e2e.WriteFile(t, dir, "slow-plugin", "#!/bin/sh\necho launched > "+fifo+"\nexec sleep 600\n")
	if err := os.Chmod(slow, 0o755); err != nil {
		t.Fatal(err)
	}
	file := pipeline(t, fmt.Sprintf("providers:\n  - name: first\n    plugin: sia-plugin-test\n  - name: slow\n    plugin: %s\n", slow))
	p := runAgent(t, file, nil)
	f, err := os.Open(fifo) // returns once the slow plugin runs
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, f) // until the plugin closes its end
	f.Close()
	pids := childPids(t, p.Cmd.Process.Pid)
	p.Signal(t, syscall.SIGINT)
	if code := p.Exit(t, waitLine); code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
	p.WaitLog(t, "Received signal: interrupt", 0)
	p.WaitLog(t, "Shutdown completed!", 0)
	if i := p.Log.Index("Loaded pipeline"); i >= 0 {
		t.Errorf("the pipeline loaded after all: %s", p.Log.Lines()[i])
	}
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("plugin process %d outlived the agent", pid)
		}
	}
}

// go-plugin's socket folders used to pile up in $TMPDIR after agents
// killed with SIGKILL. They live in the agent's runtime directory, where
// the next start removes what a dead run left, and a normal exit leaves
// nothing; so do the status file's temporary files.
func TestRuntimeDirectoryHoldsTheSocketsAndIsCleaned(t *testing.T) {
	t.Parallel()
	// Short, as Unix socket paths must be.
	tmp, err := os.MkdirTemp("/tmp", "rt")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(tmp) })
	env := []string{"TMPDIR=" + tmp, "XDG_RUNTIME_DIR="}
	status := filepath.Join(t.TempDir(), "status.json")
	file := seedPipelineWith(t, "  status_file: "+status+"\n", nil)

	first := runAgent(t, file, env)
	waitAllStarted(t, first)
	first.Signal(t, syscall.SIGKILL)
	first.Exit(t, waitExit)
	rt := filepath.Join(tmp, "sia-agent-"+strconv.Itoa(os.Getuid()))
	if entries := names(t, tmp); !slices.Equal(entries, []string{filepath.Base(rt)}) {
		t.Errorf("TMPDIR holds %q, want only the runtime directory", entries)
	}
	leftover := filepath.Join(filepath.Dir(status), ".status.json.sia-tmp-12345")
	e2e.WriteFile(t, filepath.Dir(status), filepath.Base(leftover), "{")

	second := runAgent(t, file, env)
	second.WaitLog(t, "Removed what earlier runs of the agent left in the runtime directory", waitLine)
	waitAllStarted(t, second)
	self := "run-" + strconv.Itoa(second.Cmd.Process.Pid)
	if entries := names(t, rt); !slices.Equal(entries, []string{self, self + ".lock"}) {
		t.Errorf("runtime directory holds %q, want only the running agent's", entries)
	}
	if _, err := os.Stat(leftover); err == nil {
		t.Error("the status file's leftover temporary file was not removed")
	}
	code := stop(t, second)
	assertRow(t, second, seedOrder, row{succeeded: seedOrder, exit: 0}, code)
	if entries := names(t, rt); len(entries) != 0 {
		t.Errorf("after a normal exit the runtime directory holds %q", entries)
	}
}

// The status file used to record a failed Start as "stopped" with no
// error, and skipped providers as "stopped": they keep their state.
func TestStatusFileKeepsFailedAndSkippedStates(t *testing.T) {
	t.Parallel()
	status := filepath.Join(t.TempDir(), "status.json")
	file := seedPipelineWith(t, "  status_file: "+status+"\n", map[string]string{"metrics": "start_error: test error"})
	p := runAgent(t, file, nil)
	code := p.Exit(t, waitExit)
	assertRow(t, p, seedOrder, row{succeeded: seedOrder[:2], failed: []string{"metrics"}, skipped: []string{"healthcheck"}, exit: 1}, code)
	rep := readStatus(t, status)
	want := map[string]string{"certificate": "stopped", "token": "stopped", "metrics": "failed", "healthcheck": "skipped"}
	for _, pr := range rep.Providers {
		if pr.State != want[pr.Name] {
			t.Errorf("%s: state %q, want %q", pr.Name, pr.State, want[pr.Name])
		}
		if pr.Name == "metrics" && pr.Error != "test error" {
			t.Errorf("metrics: error %q, want the Start error", pr.Error)
		}
	}
}

// A plugin printing one enormous line used to take the agent's memory and
// the status file with it; a line is cut on its way in, saying how much
// was cut, and the status file's lines are redacted of tokens and keys.
func TestLongAndSecretLogLinesAreCutAndRedacted(t *testing.T) {
	t.Parallel()
	status := filepath.Join(t.TempDir(), "status.json")
	jwt := "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJkZW1vIn0.c2lnbmF0dXJl"
	file := seedPipelineWith(t, "  status_file: "+status+"\n", map[string]string{
		"token": fmt.Sprintf("log_line_bytes: %d\nlog_lines: [\"served %s\"]", 32<<20, jwt),
	})
	p := runAgent(t, file, nil)
	p.WaitLog(t, "bytes cut]", waitLine)
	p.WaitLog(t, "served "+jwt, waitLine) // the agent's own log keeps it
	waitAllStarted(t, p)
	code := stop(t, p)
	assertRow(t, p, seedOrder, row{succeeded: seedOrder, exit: 0}, code)
	info, err := os.Stat(status)
	if err != nil {
		t.Fatal(err)
	}
	if info.Size() > 1<<20 {
		t.Errorf("status file of %d bytes", info.Size())
	}
	data, _ := os.ReadFile(status)
	if strings.Contains(string(data), jwt) || !strings.Contains(string(data), "served [redacted JWT]") {
		t.Errorf("the status file's log lines are not redacted:\n%s", data)
	}
}

// seedPipelineWith is seedPipeline with agent settings.
func seedPipelineWith(t *testing.T, agentExtra string, extra map[string]string) string {
	t.Helper()
	body, err := os.ReadFile(seedPipeline(t, extra))
	if err != nil {
		t.Fatal(err)
	}
	_, providers, _ := strings.Cut(string(body), "providers:\n")
	return pipelineWith(t, agentExtra, "providers:\n"+providers)
}

func readStatus(t *testing.T, path string) sdk.StatusReport {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rep sdk.StatusReport
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatalf("status file: %v\n%s", err, data)
	}
	return rep
}

func names(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	code, body := fetch(t, url, nil)
	return code, string(body)
}

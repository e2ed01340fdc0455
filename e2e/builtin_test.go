package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/sia-agent/sia-agent/internal/e2e"
)

// builtinPipeline runs the metrics and health providers, built into the
// agent, with extra lines for each entry.
func builtinPipeline(t *testing.T, metricsPlugin, extra string) string {
	t.Helper()
	return pipeline(t, fmt.Sprintf(`providers:
  - name: metrics
    plugin: %s
%s    config: {address: "127.0.0.1:0"}
  - name: healthcheck
    plugin: health
%s    config: {address: "127.0.0.1:0"}
`, metricsPlugin, extra, extra))
}

// The first-party providers run from the agent's own executable, each
// still a process of its own, in a process group of its own, and gone
// with the agent even when it is killed with SIGKILL.
func TestBuiltinProvidersAreProcessesOfTheAgentsExecutable(t *testing.T) {
	t.Parallel()
	p := runAgent(t, builtinPipeline(t, "metrics", ""), nil)
	p.WaitLog(t, "All 2 providers started", waitLine)
	agentExe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", p.Cmd.Process.Pid))
	if err != nil {
		t.Skip("no /proc:", err)
	}
	pids := childPids(t, p.Cmd.Process.Pid)
	if len(pids) != 2 {
		t.Fatalf("%d plugin processes, want 2", len(pids))
	}
	var served []string
	for _, pid := range pids {
		exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		if exe != agentExe {
			t.Errorf("plugin process %d runs %s, not the agent's %s", pid, exe, agentExe)
		}
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
		served = append(served, strings.Join(args[1:], " "))
		if pgid, err := syscall.Getpgid(pid); err != nil || pgid != pid {
			t.Errorf("plugin process %d is in process group %d, not its own", pid, pgid)
		}
	}
	if strings.Join(served, ",") != "internal-plugin metrics,internal-plugin health" &&
		strings.Join(served, ",") != "internal-plugin health,internal-plugin metrics" {
		t.Errorf("plugin processes serve %q", served)
	}
	p.Signal(t, syscall.SIGKILL)
	p.Exit(t, waitExit)
	for _, pid := range pids {
		waitGone(t, pid)
	}
}

// The names of the first-party plugin binaries of earlier versions still
// work; validate says what to write instead, and run logs it.
func TestEarlierPluginNamesStillWork(t *testing.T) {
	t.Parallel()
	file := builtinPipeline(t, "sia-plugin-metrics", "")
	v := e2e.Start(t, filepath.Join(bins, "sia-agent"), nil, "validate", "--config", file)
	if code := v.Exit(t, waitExit); code != 0 {
		t.Fatalf("validate: exit code %d\n%s", code, v.Log)
	}
	v.WaitLog(t, "note: "+file+":", 0)
	v.WaitLog(t, "providers.metrics.plugin: sia-plugin-metrics is built into sia-agent now: write `plugin: metrics`", 0)
	p := runAgent(t, file, nil)
	p.WaitLog(t, "sia-plugin-metrics is built into sia-agent now", waitLine)
	p.WaitLog(t, "All 2 providers started", waitLine)
	assertRow(t, p, []string{"metrics", "healthcheck"}, row{succeeded: []string{"metrics", "healthcheck"}, exit: 0}, stop(t, p))
}

// A sha256 pin on a built-in provider pins the agent's own executable.
func TestBuiltinProviderPinnedByTheAgentsDigest(t *testing.T) {
	t.Parallel()
	f, err := os.Open(filepath.Join(bins, "sia-agent"))
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	digest := hex.EncodeToString(h.Sum(nil))

	p := runAgent(t, builtinPipeline(t, "metrics", "    sha256: "+digest+"\n"), nil)
	p.WaitLog(t, "All 2 providers started", waitLine)
	assertRow(t, p, []string{"metrics", "healthcheck"}, row{succeeded: []string{"metrics", "healthcheck"}, exit: 0}, stop(t, p))

	wrong := strings.Repeat("0", 64)
	q := runAgent(t, builtinPipeline(t, "metrics", "    sha256: "+wrong+"\n"), nil)
	if code := q.Exit(t, waitExit); code != 78 {
		t.Errorf("exit code %d with a wrong pin, want 78\n%s", code, q.Log)
	}
	q.WaitLog(t, "but the pipeline pins "+wrong, 0)
}

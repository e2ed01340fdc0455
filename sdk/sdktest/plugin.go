package sdktest

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sia-agent/sia-agent/internal/e2e"
)

// AgentPackage is the import path of the agent's command.
const AgentPackage = "github.com/sia-agent/sia-agent/cmd/sia-agent"

// Plugin is a provider plugin running under the real agent.
type Plugin struct {
	t     testing.TB
	agent *e2e.Process
	// Log holds the agent's output, the plugin's log lines included
	// (prefixed "sia-agent.<name>:").
	Log *e2e.Log
}

// RunPlugin builds the plugin's main package pkg (an import path, or a
// directory such as "./cmd/my-plugin") and the agent, runs the plugin as
// the only provider of a pipeline with configYAML as its config, and waits
// until it has started. The provider is named "under-test". Both are built
// with fault points (the siafaults build tag), so that env may hold
// SIA_FAULTS rules. Stop it with Stop; at cleanup a plugin still running
// is killed.
func RunPlugin(t testing.TB, pkg, configYAML string, env ...string) *Plugin {
	t.Helper()
	dir := t.TempDir()
	for _, build := range [][2]string{{"sia-agent", AgentPackage}, {"plugin-under-test", pkg}} {
		cmd := exec.Command("go", "build", "-tags", e2e.FaultsTag, "-o", filepath.Join(dir, build[0]), build[1])
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("building %s: %v\n%s", build[1], err, out)
		}
	}
	var cfg strings.Builder
	for _, line := range strings.Split(strings.TrimRight(configYAML, "\n"), "\n") {
		cfg.WriteString("      " + line + "\n")
	}
	pipeline := fmt.Sprintf("version: 1\nagent:\n  log_level: debug\nproviders:\n  - name: under-test\n    plugin: %s\n    config:\n%s",
		filepath.Join(dir, "plugin-under-test"), cfg.String())
	if strings.TrimSpace(configYAML) == "" {
		pipeline = strings.TrimSuffix(pipeline, "    config:\n")
	}
	file := e2e.WriteFile(t, dir, "pipeline.yaml", pipeline)
	agent := e2e.Start(t, filepath.Join(dir, "sia-agent"), env, "run", "--config", file)
	if _, err := agent.Log.Wait("All 1 providers started", time.Minute); err != nil {
		t.Fatalf("the plugin did not start: %v\n%s", err, agent.Log.String())
	}
	return &Plugin{t: t, agent: agent, Log: agent.Log}
}

// Stop sends the agent SIGINT and returns its exit code once it has shut
// the plugin down.
func (p *Plugin) Stop() int {
	p.t.Helper()
	p.agent.Signal(p.t, syscall.SIGINT)
	return p.agent.Exit(p.t, time.Minute)
}

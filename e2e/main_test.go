// Package e2e holds the end-to-end tests: the real sia-agent, real plugin
// processes, the real zts-dev on 127.0.0.1 and real signals.
package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sia-agent/sia-agent/internal/e2e"
)

// bins is where TestMain built the binaries.
var bins string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sia-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := e2e.Build(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	bins = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// Deadlines for waiting on the processes. Generous, because the binaries
// run with the race detector on a small machine; a passing run takes a
// fraction of them.
const (
	waitLine = 30 * time.Second
	waitExit = 60 * time.Second
)

// pipeline writes a pipeline file whose bare plugin names resolve to the
// built binaries; body is everything after the agent block, starting with
// "providers:".
func pipeline(t *testing.T, body string) string {
	t.Helper()
	return pipelineWith(t, "", body)
}

// pipelineWith is pipeline with extra agent settings (indented lines).
func pipelineWith(t *testing.T, agentExtra, body string) string {
	t.Helper()
	text := fmt.Sprintf("version: 1\nagent:\n  plugin_dir: %s\n  log_level: debug\n%s%s", bins, agentExtra, body)
	return e2e.WriteFile(t, t.TempDir(), "pipeline.yaml", text)
}

// runAgent starts `sia-agent run --config file` with extra env and args.
func runAgent(t *testing.T, file string, env []string, args ...string) *e2e.Process {
	t.Helper()
	return e2e.Start(t, filepath.Join(bins, "sia-agent"), env, append([]string{"run", "--config", file}, args...)...)
}

// faults returns the environment that turns fault points on.
func faults(rules ...string) []string {
	return []string{"SIA_FAULTS=" + strings.Join(rules, ";")}
}

// row is one row of the specification's table.
type row struct {
	succeeded, skipped, failed []string
	// crashed providers' processes died: their Shutdown ends in an error.
	crashed []string
	exit    int
}

// assertRow checks a finished run against its row: which providers
// started, were skipped or failed; that every provider's Shutdown ran, in
// reverse pipeline order; and the exit code. order is the pipeline order.
func assertRow(t *testing.T, p *e2e.Process, order []string, want row, code int) {
	t.Helper()
	log := p.Log
	for _, name := range want.succeeded {
		if i := log.Index("Skipped " + name + " start"); i >= 0 {
			t.Errorf("%s: want started, but it was skipped", name)
		}
		if i := log.Index("Error starting " + name + ":"); i >= 0 {
			t.Errorf("%s: want started, but its start failed", name)
		}
	}
	for _, name := range want.skipped {
		if log.Index("Skipped "+name+" start") < 0 {
			t.Errorf("%s: want skipped, but no %q line", name, "Skipped "+name+" start")
		}
	}
	for _, name := range want.failed {
		if log.Index("Error starting "+name+":") < 0 {
			t.Errorf("%s: want failed, but no %q line", name, "Error starting "+name+":")
		}
	}
	// Every Shutdown ran, in reverse order, each finishing before the next.
	last := log.Index("Initiating shutdown by cause:")
	if last < 0 {
		t.Errorf("no %q line", "Initiating shutdown by cause:")
	}
	for i := len(order) - 1; i >= 0; i-- {
		name := order[i]
		begin, err := log.WaitFrom(last, "Initiating shutdown of "+name+" ...", 0)
		if err != nil {
			t.Errorf("shutdown of %s did not begin after the previous one ended: %v", name, err)
			continue
		}
		endLine := "sia-agent: Stopped " + name
		if slices.Contains(want.crashed, name) {
			endLine = "sia-agent: Error shutting down " + name + ": provider " + name + " exited"
		}
		end, err := log.WaitFrom(begin, endLine, 0)
		if err != nil {
			t.Errorf("shutdown of %s did not complete: %v", name, err)
			continue
		}
		last = end
	}
	if code != want.exit {
		t.Errorf("exit code %d, want %d", code, want.exit)
	}
	if t.Failed() {
		t.Logf("agent output:\n%s", e2e.Indented(log.Lines()))
	}
}

// stop sends SIGINT and returns the exit code.
func stop(t *testing.T, p *e2e.Process) int {
	t.Helper()
	p.Signal(t, syscall.SIGINT)
	return p.Exit(t, waitExit)
}

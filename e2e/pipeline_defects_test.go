package e2e

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/sia-agent/sia-agent/internal/e2e"
)

// Exit codes of sia-agent: what systemd's RestartPreventExitStatus and
// scripts rely on.
const (
	exitUsage  = 64 // EX_USAGE: a bad command line
	exitConfig = 78 // EX_CONFIG: a pipeline (or env file) that cannot be used
)

// agentCommand runs sia-agent with args and returns its exit code and
// output.
func agentCommand(t *testing.T, env []string, args ...string) (int, *e2e.Log) {
	t.Helper()
	p := e2e.Start(t, filepath.Join(bins, "sia-agent"), env, args...)
	return p.Exit(t, waitExit), p.Log
}

// A bad command line exits 64 and a bad configuration 78, never 2, which
// is what a Go program that panics exits with: systemd must restart a
// crashed agent, and must not restart one that cannot read its pipeline.
func TestExitCodesOfUsageAndConfigurationErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	broken := pipeline(t, "providers:\n  - name: a\n    plugin: sia-plugin-test\n    nme: typo\n")
	envFile := e2e.WriteFile(t, dir, "sia.env", "MODE=daemon\n")
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{nil, exitUsage, "Usage:"},
		{[]string{"nosuch"}, exitUsage, `unknown command "nosuch"`},
		{[]string{"run", "--nosuch"}, exitUsage, "flag provided but not defined"},
		{[]string{"run"}, exitUsage, "--config is required"},
		{[]string{"run", "--config", broken, "--mode", "daily"}, exitUsage, "--mode must be refresh or init"},
		{[]string{"validate", "--config", broken, "extra"}, exitUsage, "unexpected arguments"},
		{[]string{"convert", "--nosuch"}, exitUsage, "flag provided but not defined"},
		{[]string{"run", "--config", filepath.Join(dir, "missing.yaml")}, exitConfig, "missing.yaml"},
		{[]string{"validate", "--config", filepath.Join(dir, "missing.yaml")}, exitConfig, "missing.yaml"},
		{[]string{"run", "--config", broken}, exitConfig, broken + `:8: providers[0].nme: unknown key "nme"`},
		{[]string{"validate", "--config", broken}, exitConfig, broken + `:8: providers.a.nme: unknown key "nme"`},
		{[]string{"convert", "--env-file", envFile}, exitConfig, "sia.env:1: "},
	} {
		code, log := agentCommand(t, nil, c.args...)
		if code != c.code {
			t.Errorf("sia-agent %s: exit code %d, want %d", strings.Join(c.args, " "), code, c.code)
		}
		if log.Index(c.want) < 0 {
			t.Errorf("sia-agent %s: no line with %q:\n%s", strings.Join(c.args, " "), c.want, e2e.Indented(log.Lines()))
		}
	}
}

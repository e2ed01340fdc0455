package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

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

// maxRSS is the most memory the agent may use loading a pipeline that
// would expand without bound: the race detector's binaries take a few
// times what a release build does.
const maxRSS = 400 << 20

// A pipeline file that stands for a huge or endless tree (an alias cycle,
// a billion laughs, a value or nesting beyond what the plugin protocol
// carries) is a configuration error naming file, line and key, for `run`
// and `validate` alike: both exit 78 in bounded time and memory, neither
// crashes nor sends a plugin a message it cannot take.
func TestHugePipelinesAreConfigErrors(t *testing.T) {
	t.Parallel()
	chain := "      goroutines: &l0 [x, x, x, x, x, x, x, x, x, x]\n"
	for i := 1; i <= 4; i++ {
		chain += fmt.Sprintf("      l%d: &l%d [%s]\n", i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*l%d, ", i-1), 10), ", "))
	}
	aliased := func(size, copies int) string {
		return "      goroutines: [&v " + strings.Repeat("v", size) + strings.Repeat(", *v", copies-1) + "]\n"
	}
	for _, c := range []struct {
		name, config string
		line         int
		key, message string // key as run names it; validate names the provider
	}{
		{"alias cycle", "    config: &a [*a]\n", 8, "providers[0].config[0]", "alias *a refers to the value that holds it"},
		{"billion laughs", "    config:\n" + chain + "      more: [*l4, *l4]\n", 14, "providers[0].config.more", "holds more than 4 MiB once its aliases are expanded"},
		{"over a config's bound", "    config:\n" + aliased(300<<10, 4), 9, "providers[0].config.goroutines", "holds more than 1 MiB once its aliases are expanded"},
		{"over gRPC's message size", "    config:\n" + aliased(500<<10, 10), 9, "providers[0].config.goroutines", "holds more than 4 MiB once its aliases are expanded"},
		{"10,000 levels", "    config: " + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + "\n", 8, "providers[0].config", "nested more than 100 levels deep"},
		{"a 10 MB value", "    config:\n" + aliased(10<<20, 1), 9, "", "the pipeline file is larger than 1 MiB"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			file := pipeline(t, "providers:\n  - name: a\n    plugin: sia-plugin-test\n"+c.config)
			for _, cmd := range []string{"run", "validate"} {
				want := fmt.Sprintf("%s:%d: %s", file, c.line, c.message)
				if c.key != "" {
					key := c.key
					if cmd == "validate" {
						key = strings.Replace(key, "providers[0]", "providers.a", 1)
					}
					want = fmt.Sprintf("%s:%d: %s: %s", file, c.line, key, c.message)
				}
				p := e2e.Start(t, filepath.Join(bins, "sia-agent"), nil, cmd, "--config", file)
				stop := make(chan struct{})
				peak := peakRSS(p.Cmd.Process.Pid, stop)
				code := p.Exit(t, waitExit)
				close(stop)
				if code != exitConfig {
					t.Errorf("%s: exit code %d, want %d", cmd, code, exitConfig)
				}
				if p.Log.Index(want) < 0 {
					t.Errorf("%s: no line starting %q", cmd, want)
				}
				for _, bad := range []string{"rpc error", "fatal error", "goroutine "} {
					if i := p.Log.Index(bad); i >= 0 {
						t.Errorf("%s: %s", cmd, p.Log.Lines()[i])
					}
				}
				if used := <-peak; used > maxRSS {
					t.Errorf("%s: the agent used %d MiB", cmd, used>>20)
				}
				if t.Failed() {
					t.Logf("%s output:\n%.3000s", cmd, e2e.Indented(p.Log.Lines()))
				}
			}
		})
	}
}

// A plugin binary any user could replace, itself or through a directory of
// its path, is refused: a configuration error naming the path.
func TestPluginWritableByAnyUserIsRefused(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(filepath.Join(bins, "sia-plugin-test"))
	if err != nil {
		t.Fatal(err)
	}
	for _, writable := range []string{"binary", "directory"} {
		t.Run(writable, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "plugins")
			plugin := filepath.Join(dir, "sia-plugin-test")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(plugin, data, 0o755); err != nil {
				t.Fatal(err)
			}
			open := plugin
			if writable == "directory" {
				open = dir
			}
			if err := os.Chmod(open, 0o757); err != nil {
				t.Fatal(err)
			}
			file := pipeline(t, "providers:\n  - name: a\n    plugin: "+plugin+"\n")
			for _, cmd := range []string{"run", "validate"} {
				code, log := agentCommand(t, nil, cmd, "--config", file)
				if code != exitConfig {
					t.Errorf("%s: exit code %d, want %d", cmd, code, exitConfig)
				}
				want := fmt.Sprintf(":7: providers%s.plugin: plugin %q at %s: %s is writable by any user", map[string]string{"run": "[0]", "validate": ".a"}[cmd], plugin, plugin, open)
				if log.Index(file+want) < 0 || log.Index("chmod o-w "+open) < 0 {
					t.Errorf("%s: no line with %q and how to fix it:\n%s", cmd, want, e2e.Indented(log.Lines()))
				}
				if log.Index("Initialized test provider") >= 0 {
					t.Errorf("%s: the plugin ran", cmd)
				}
			}
		})
	}
}

// A release build, without the siafaults tag, ignores SIA_FAULTS: a stray
// variable can neither crash the agent or a provider nor hang a shutdown.
func TestReleaseBuildIgnoresFaults(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := e2e.BuildRelease(dir, "sia-agent", "sia-plugin-test"); err != nil {
		t.Fatal(err)
	}
	file := e2e.WriteFile(t, t.TempDir(), "pipeline.yaml",
		fmt.Sprintf("version: 1\nagent:\n  plugin_dir: %s\nproviders:\n  - name: first\n    plugin: sia-plugin-test\n", dir))
	p := e2e.Start(t, filepath.Join(dir, "sia-agent"), faults("agent:before first start=crash", "first:start=crash:9", "first:shutdown=hang"),
		"run", "--config", file)
	p.WaitLog(t, "All 1 providers started", waitLine)
	if code := stop(t, p); code != 0 {
		t.Errorf("exit code %d, want 0\n%s", code, e2e.Indented(p.Log.Lines()))
	}
	p.WaitLog(t, "sia-agent: Stopped first", 0)
}

// peakRSS samples the resident high-water mark (VmHWM) of the process pid
// until stop is closed, then sends the highest it saw. The exit's rusage
// will not do: a child starts with its parent's high-water mark at exec,
// and the test process's own is above the bound. A pipeline that made
// the agent grow without bound is seen growing long before it exits.
func peakRSS(pid int, stop <-chan struct{}) <-chan int64 {
	out := make(chan int64, 1)
	go func() {
		var peak int64
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			peak = max(peak, hwm(pid))
			select {
			case <-stop:
				out <- peak
				return
			case <-tick.C:
			}
		}
	}()
	return out
}

// hwm is VmHWM of /proc/<pid>/status in bytes; 0 once the process is gone.
func hwm(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

package sdktest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sia-agent/sia-agent/sdk"
	"github.com/sia-agent/sia-agent/sdk/fault"
)

// EnvAgent names the sia-agent binary RunPlugin runs the plugin under,
// unless WithAgent names one; without either, RunPlugin looks for
// sia-agent on the PATH.
const EnvAgent = "SIA_AGENT"

// DefaultName is the provider name RunPlugin gives the plugin under test,
// unless WithName names another.
const DefaultName = "under-test"

// runTimeout bounds each wait of RunPlugin and Plugin: the agent's start,
// its exit. Generous, for binaries built with the race detector on a
// small machine.
const runTimeout = time.Minute

// Plugin is a provider plugin running under the real agent: Process is
// the agent's.
type Plugin struct {
	*Process
	t testing.TB
}

// Entry is another provider of the pipeline RunPlugin writes (see
// WithProvider).
type Entry struct {
	// Name is its name in the pipeline.
	Name string
	// Plugin is a built-in provider of the agent (cert, token, metrics,
	// health) or the path of a plugin binary; a relative path is relative
	// to the test's directory.
	Plugin string
	// Config is its config block, YAML; "" for none.
	Config string
}

// An Option changes how RunPlugin runs the plugin, or what it expects.
type Option func(*options)

type options struct {
	agent         string
	name          string
	env           []string
	mode          sdk.Mode
	before, after []Entry
	startError    *string
	exit          *int
}

// WithAgent runs the plugin under the sia-agent binary at path, whatever
// $SIA_AGENT says.
func WithAgent(path string) Option { return func(o *options) { o.agent = path } }

// WithName names the provider under test name instead of DefaultName:
// its log lines, status records and fault points go by that name.
func WithName(name string) Option { return func(o *options) { o.name = name } }

// WithEnv adds environment variables (KEY=value) to the agent's, which its
// plugins inherit: SIA_FAULTS rules, say, or what ${VAR} in a config
// refers to.
func WithEnv(env ...string) Option { return func(o *options) { o.env = append(o.env, env...) } }

// WithMode runs the agent in mode; in sdk.ModeInit it runs Validate, Init
// and Shutdown and exits, and RunPlugin waits for that exit, expecting 0
// unless ExpectExit says otherwise.
func WithMode(mode sdk.Mode) Option { return func(o *options) { o.mode = mode } }

// WithProvider adds a provider after the one under test, started after it
// and shut down before it; WithProviderBefore adds one before it.
func WithProvider(e Entry) Option { return func(o *options) { o.after = append(o.after, e) } }

// WithProviderBefore adds a provider before the one under test: started
// before it, shut down after it.
func WithProviderBefore(e Entry) Option { return func(o *options) { o.before = append(o.before, e) } }

// ExpectStartError expects the Start of the provider under test to fail
// with an error containing msg: RunPlugin waits until the agent logged
// "Error starting <name>: ..." and exited, expecting exit code 1 unless
// ExpectExit says otherwise.
func ExpectStartError(msg string) Option { return func(o *options) { o.startError = &msg } }

// ExpectExit expects the agent to exit by itself with code, without a
// signal: RunPlugin waits for the exit instead of for every provider to
// start, and fails the test on another code.
func ExpectExit(code int) Option { return func(o *options) { o.exit = &code } }

// RunPlugin builds the plugin's main package pkg (an import path, or a
// directory such as "." or "./cmd/my-plugin") with fault points (the
// siafaults build tag) and runs it under the real agent, in a pipeline of
// its own with configYAML as its config. It finds the agent in
// WithAgent's path, else in $SIA_AGENT, else as sia-agent on the PATH,
// and skips the test when there is none.
//
// By default the plugin is the pipeline's only provider, named
// DefaultName, and RunPlugin returns once every provider has started;
// stop the agent with Stop. With WithMode(sdk.ModeInit), ExpectStartError
// or ExpectExit the agent exits by itself, and RunPlugin returns once it
// has, with the exit code checked. A plugin still running at cleanup is
// killed.
func RunPlugin(t testing.TB, pkg, configYAML string, opts ...Option) *Plugin {
	t.Helper()
	o := options{name: DefaultName, mode: sdk.ModeRefresh}
	for _, opt := range opts {
		opt(&o)
	}
	agent := findAgent(t, o.agent)
	dir := t.TempDir()
	bin := filepath.Join(dir, "sia-plugin-under-test")
	build := exec.Command("go", "build", "-tags", fault.Tag, "-o", bin, pkg)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("sdktest: building %s: %v\n%s", pkg, err, out)
	}
	entries := append(append(append([]Entry(nil), o.before...), Entry{Name: o.name, Plugin: bin, Config: configYAML}), o.after...)
	file := filepath.Join(dir, "pipeline.yaml")
	text, err := pipelineText(entries)
	if err == nil {
		err = os.WriteFile(file, []byte(text), 0o600)
	}
	if err != nil {
		t.Fatalf("sdktest: writing the pipeline: %v", err)
	}
	p := &Plugin{Process: Start(t, agent, o.env, "run", "--config", file, "--mode", string(o.mode)), t: t}
	if o.mode == sdk.ModeInit || o.startError != nil || o.exit != nil {
		p.expectExit(o)
		return p
	}
	if _, err := p.Log.Wait(fmt.Sprintf("All %d providers started", len(entries)), runTimeout); err != nil {
		t.Fatalf("sdktest: the plugin did not start: %v\n%s", err, p.Log)
	}
	return p
}

// expectExit waits for the agent to exit by itself and checks what o
// expects of that.
func (p *Plugin) expectExit(o options) {
	p.t.Helper()
	want := 0
	if o.startError != nil {
		want = 1
	}
	if o.exit != nil {
		want = *o.exit
	}
	if code := p.wait(); code != want {
		p.t.Fatalf("sdktest: the agent exited with code %d, want %d\n%s", code, want, p.Log)
	}
	if o.startError == nil {
		return
	}
	line := "Error starting " + o.name + ": "
	i := p.Log.Index(line)
	if i < 0 || !strings.Contains(p.Log.Lines()[i], *o.startError) {
		p.t.Fatalf("sdktest: no %q line with %q\n%s", line, *o.startError, p.Log)
	}
}

// findAgent returns the agent binary to run: path, else $SIA_AGENT, else
// sia-agent on the PATH. A binary named but missing fails the test; none
// named and none on the PATH skips it.
func findAgent(t testing.TB, path string) string {
	t.Helper()
	how := "WithAgent"
	if path == "" {
		path, how = os.Getenv(EnvAgent), "$"+EnvAgent
	}
	if path == "" {
		found, err := exec.LookPath("sia-agent")
		if err != nil {
			t.Skipf("sdktest: no sia-agent to run the plugin under: set %s to one (make build-test in a clone of sia-agent builds bin/test/sia-agent), or put it on the PATH", EnvAgent)
		}
		return found
	}
	abs, err := filepath.Abs(path)
	if err == nil {
		_, err = exec.LookPath(abs)
	}
	if err != nil {
		t.Fatalf("sdktest: the sia-agent that %s names: %v", how, err)
	}
	return abs
}

// pipelineText is the pipeline file of entries, in order.
func pipelineText(entries []Entry) (string, error) {
	var b strings.Builder
	b.WriteString("version: 1\nagent:\n  log_level: debug\nproviders:\n")
	for _, e := range entries {
		plugin := e.Plugin
		if strings.ContainsRune(plugin, '/') && !filepath.IsAbs(plugin) {
			abs, err := filepath.Abs(plugin)
			if err != nil {
				return "", fmt.Errorf("provider %s: %w", e.Name, err)
			}
			plugin = abs
		}
		fmt.Fprintf(&b, "  - name: %q\n    plugin: %q\n", e.Name, plugin)
		if strings.TrimSpace(e.Config) == "" {
			continue
		}
		b.WriteString("    config:\n")
		for _, line := range strings.Split(strings.TrimRight(e.Config, "\n"), "\n") {
			b.WriteString("      " + line + "\n")
		}
	}
	return b.String(), nil
}

// Stop sends the agent SIGINT and returns its exit code once it has shut
// every provider down; at once if it has exited already. The test fails
// if the agent takes longer than a minute.
func (p *Plugin) Stop() int {
	p.t.Helper()
	select {
	case <-p.Done():
	default:
		if err := p.Signal(syscall.SIGINT); err != nil {
			p.t.Fatalf("sdktest: %v", err)
		}
	}
	return p.wait()
}

// wait waits for the agent's exit code; the test fails if the agent has
// not exited within a minute.
func (p *Plugin) wait() int {
	p.t.Helper()
	code, err := p.Wait(runTimeout)
	if err != nil {
		p.t.Fatalf("sdktest: %v\n%s", err, p.Log)
	}
	return code
}

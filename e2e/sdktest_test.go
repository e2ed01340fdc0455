package e2e

import (
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/sia-agent/sia-agent/sdk"
	"github.com/sia-agent/sia-agent/sdk/sdktest"
)

// testPlugin is the test plugin's main package, which sdktest.RunPlugin
// builds as an author's plugin would be.
const testPlugin = "github.com/sia-agent/sia-agent/internal/cmd/sia-plugin-test"

// runPlugin is sdktest.RunPlugin under the agent TestMain built.
func runPlugin(t *testing.T, config string, opts ...sdktest.Option) *sdktest.Plugin {
	t.Helper()
	return sdktest.RunPlugin(t, testPlugin, config, append([]sdktest.Option{sdktest.WithAgent(filepath.Join(bins, "sia-agent"))}, opts...)...)
}

// wantLines fails the test unless every line is in the log, in order.
func wantLines(t *testing.T, log *sdktest.Log, lines ...string) {
	t.Helper()
	from := 0
	for _, line := range lines {
		i, err := log.WaitFrom(from, line, 0)
		if err != nil {
			t.Errorf("%v, in order after %q:\n%s", err, lines[:max(0, len(lines)-1)], log)
			return
		}
		from = i + 1
	}
}

func TestRunPluginUnderTheRealAgent(t *testing.T) {
	t.Parallel()
	p := runPlugin(t, "goroutines: [server]\n")
	if _, err := p.Log.Wait("sia-agent.under-test: Started server goroutine", 0); err != nil {
		t.Error(err)
	}
	if code := p.Stop(); code != 0 {
		t.Errorf("exit code %d, want 0\n%s", code, p.Log)
	}
	wantLines(t, p.Log, "sia-agent.under-test: Stopped server goroutine", "Shutdown completed!")
}

func TestRunPluginExpectsAFailingStart(t *testing.T) {
	t.Parallel()
	p := runPlugin(t, "start_error: no upstream\n", sdktest.ExpectStartError("no upstream"))
	if code := p.Stop(); code != 1 {
		t.Errorf("Stop after the agent exited: %d, want its exit code 1", code)
	}
	wantLines(t, p.Log, "Error starting under-test: no upstream", "Stopped under-test", "Start failed by cause: start failed: no upstream")
}

func TestRunPluginExpectsAnExitCode(t *testing.T) {
	t.Parallel()
	p := runPlugin(t, "crash_after: 1ms\ncrash_code: 7\n", sdktest.ExpectExit(1))
	wantLines(t, p.Log, "Crashing as configured", "provider under-test exited unexpectedly: exit status 7")
}

func TestRunPluginNamesTheProvider(t *testing.T) {
	t.Parallel()
	p := runPlugin(t, "goroutines: [server]\n", sdktest.WithName("stamp"),
		sdktest.WithEnv("SIA_FAULTS=stamp:before server goroutine=fail:no goroutine today"),
		sdktest.ExpectStartError("no goroutine today"))
	wantLines(t, p.Log, "sia-agent.stamp: Initialized test provider", "Error starting stamp: no goroutine today")
}

func TestRunPluginInInitMode(t *testing.T) {
	t.Parallel()
	p := runPlugin(t, "goroutines: [server]\n", sdktest.WithMode(sdk.ModeInit))
	wantLines(t, p.Log, "sia-agent.under-test: Initialized test provider", "Init completed!", "Shutdown completed!")
	if i := p.Log.Index("Started server goroutine"); i >= 0 {
		t.Errorf("Start ran in init mode: %s", p.Log.Lines()[i])
	}

	failed := runPlugin(t, "init_error: no credential\n", sdktest.WithMode(sdk.ModeInit), sdktest.ExpectExit(1))
	wantLines(t, failed.Log, "no credential")
}

func TestRunPluginWithOtherProviders(t *testing.T) {
	t.Parallel()
	plugin := filepath.Join(bins, "sia-plugin-test")
	p := runPlugin(t, "", sdktest.WithProvider(sdktest.Entry{Name: "after", Plugin: plugin, Config: "goroutines: [late]\n"}),
		sdktest.WithProviderBefore(sdktest.Entry{Name: "before", Plugin: plugin}),
		sdktest.WithProvider(sdktest.Entry{Name: "health", Plugin: "health", Config: "address: 127.0.0.1:0\n"}))
	wantLines(t, p.Log, "provider=before", "provider=under-test", "provider=after", "sia-agent.after: Started late goroutine", "All 4 providers started")
	if code := p.Stop(); code != 0 {
		t.Errorf("exit code %d, want 0\n%s", code, p.Log)
	}
	wantLines(t, p.Log, "Stopped health", "Stopped after", "Stopped under-test", "Stopped before")
	if strings.Contains(p.Log.String(), "[ERROR]") {
		t.Errorf("errors in the log:\n%s", p.Log)
	}
}

// failure is a testing.TB that records a fatal failure instead of ending
// the test.
type failure struct {
	testing.TB
	msg string
}

func (f *failure) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// fatalOf runs fn with a failure in a goroutine of its own, which Fatalf
// ends, and returns the failure's message.
func fatalOf(t *testing.T, fn func(tb testing.TB)) string {
	f := &failure{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
	}()
	<-done
	return f.msg
}

// What RunPlugin is told to expect, it checks: another start error or
// another exit code fails the test, saying what came instead.
func TestRunPluginFailsOnTheUnexpected(t *testing.T) {
	t.Parallel()
	agent := sdktest.WithAgent(filepath.Join(bins, "sia-agent"))
	msg := fatalOf(t, func(tb testing.TB) {
		sdktest.RunPlugin(tb, testPlugin, "start_error: no upstream\n", agent, sdktest.ExpectStartError("no key"))
	})
	if !strings.Contains(msg, `no "Error starting under-test: " line with "no key"`) {
		t.Errorf("another start error: %q", msg)
	}
	msg = fatalOf(t, func(tb testing.TB) {
		sdktest.RunPlugin(tb, testPlugin, "init_error: no credential\n", agent, sdktest.WithMode(sdk.ModeInit))
	})
	if !strings.Contains(msg, "the agent exited with code 1, want 0") {
		t.Errorf("another exit code: %q", msg)
	}
}

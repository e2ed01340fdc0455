package sdktest_test

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/sia-agent/sia-agent/sdk/sdktest"
)

// recorder is a testing.TB that records how a test ended instead of
// ending it.
type recorder struct {
	testing.TB
	skipped, failed string
}

func (r *recorder) Skipf(format string, args ...any) {
	r.skipped = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// record runs fn with a recorder in a goroutine of its own, which Skipf
// and Fatalf end.
func record(t *testing.T, fn func(tb testing.TB)) *recorder {
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(r)
	}()
	<-done
	return r
}

// Without an agent to run the plugin under, RunPlugin skips the test and
// says how to give it one; an agent named but missing fails the test.
func TestRunPluginFindsTheAgent(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	t.Setenv(sdktest.EnvAgent, "")
	r := record(t, func(tb testing.TB) { sdktest.RunPlugin(tb, ".", "") })
	if !strings.Contains(r.skipped, "set SIA_AGENT") || r.failed != "" {
		t.Errorf("no agent anywhere: skipped %q, failed %q; want a skip saying to set SIA_AGENT", r.skipped, r.failed)
	}

	t.Setenv(sdktest.EnvAgent, "/nonexistent/sia-agent")
	r = record(t, func(tb testing.TB) { sdktest.RunPlugin(tb, ".", "") })
	if !strings.Contains(r.failed, "$SIA_AGENT") || !strings.Contains(r.failed, "/nonexistent/sia-agent") {
		t.Errorf("$SIA_AGENT names a missing file: failed %q, skipped %q; want a failure naming it", r.failed, r.skipped)
	}

	r = record(t, func(tb testing.TB) { sdktest.RunPlugin(tb, ".", "", sdktest.WithAgent("/nonexistent/agent")) })
	if !strings.Contains(r.failed, "WithAgent") || !strings.Contains(r.failed, "/nonexistent/agent") {
		t.Errorf("WithAgent names a missing file: failed %q, skipped %q; want a failure naming it", r.failed, r.skipped)
	}
}

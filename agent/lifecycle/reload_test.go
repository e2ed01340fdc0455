package lifecycle

import (
	"context"
	"errors"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// sendSignal hands sig to the runner as the OS would.
func (h *harness) sendSignal(sig syscall.Signal) {
	h.t.Helper()
	select {
	case h.sigs <- sig:
	case <-time.After(wait):
		h.t.Fatalf("the runner took no %v within %v", sig, wait)
	}
}

// await waits for ch to be closed or to yield.
func await[T any](t *testing.T, ch <-chan T, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(wait):
		t.Fatalf("%s did not happen within %v", what, wait)
	}
}

// withoutKills drops the kills from calls, which run concurrently.
func withoutKills(calls []string) []string {
	return slices.DeleteFunc(calls, func(c string) bool { return strings.HasPrefix(c, "kill ") })
}

// A reload keeps what did not change, reconfigures what can be, shuts
// down what goes (in reverse order), and initialises then starts what
// comes (in the new order); shutdown then goes by the new order.
func TestReloadAppliesThePlanInOrder(t *testing.T) {
	h := newHarness(t)
	newMetrics := newUnit("metrics", h.rec)
	extra := newUnit("extra", h.rec)
	unusedToken := newUnit("token", h.rec)
	reconfigured := make(chan struct{}, 1)
	reloaded := make(chan struct{})
	h.runner.Reload = func(ctx context.Context) {
		defer close(reloaded)
		h.rec.add("reload")
		h.runner.Apply(ctx, Plan{Steps: []Step{
			{Running: h.byName["certificate"]},
			{Running: h.byName["token"], New: unusedToken, Reconfigure: func(context.Context) error {
				h.rec.add("reconfigure token")
				reconfigured <- struct{}{}
				return nil
			}},
			{Running: h.byName["metrics"], New: newMetrics, Reconfigure: func(context.Context) error {
				h.rec.add("reconfigure metrics")
				return errors.New("cannot")
			}},
			{New: extra},
			// healthcheck is removed.
		}})
	}
	done := h.runAsync()
	h.awaitStarted("healthcheck")
	h.sendSignal(syscall.SIGHUP)
	await(t, reloaded, "the reload")
	await(t, unusedToken.Exited(), "the end of the unused token process")
	h.signalAndWait(h.units[0], syscall.SIGINT)
	if code := h.awaitExit(done); code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
	want := append(calls(4, names...)[:8],
		"reload", "reconfigure token", "reconfigure metrics",
		"shutdown healthcheck", "shutdown metrics",
		"init metrics", "init extra", "start metrics", "start extra",
		"shutdown extra", "shutdown metrics", "shutdown token", "shutdown certificate")
	if got := withoutKills(h.rec.Calls()); !slices.Equal(got, want) {
		t.Errorf("calls:\n got %q\nwant %q", got, want)
	}
	for _, u := range []*fakeUnit{h.byName["metrics"], h.byName["healthcheck"], newMetrics, extra, unusedToken} {
		select {
		case <-u.Exited():
		default:
			t.Errorf("a %s process was not ended", u.name)
		}
	}
	h.checkLogs(
		"INFO Received signal: hangup",
		"INFO Reconfigured token in place",
		"INFO Restarting metrics to apply its new configuration: cannot",
		"INFO Initiating shutdown of healthcheck ...",
		"INFO Stopped healthcheck",
		"INFO Initiating shutdown of metrics ...",
		"INFO Stopped metrics",
		"INFO Starting metrics",
		"INFO Started metrics",
		"INFO Starting extra",
		"INFO Started extra",
		"INFO Received signal: interrupt",
	)
}

// A signal that comes during a reload is handled once it ends: the
// reload is not cut short, and shutdown follows it.
func TestSignalDuringReloadIsHandledWhenItEnds(t *testing.T) {
	h := newHarness(t)
	inReload := make(chan struct{})
	release := make(chan struct{})
	h.runner.Reload = func(context.Context) {
		close(inReload)
		<-release
		h.rec.add("reload ended")
	}
	done := h.runAsync()
	h.awaitStarted("healthcheck")
	h.sendSignal(syscall.SIGHUP)
	await(t, inReload, "the reload")
	h.sendSignal(syscall.SIGTERM)
	// The runner took the signal; until the reload ends, nothing shuts down.
	h.sendSignal(syscall.SIGHUP) // a channel send: the handler is free
	if slices.Contains(h.rec.Calls(), "shutdown healthcheck") {
		t.Fatal("shutdown began during the reload")
	}
	close(release)
	if code := h.awaitExit(done); code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
	calls := withoutKills(h.rec.Calls())
	if i := slices.Index(calls, "reload ended"); i < 0 || i > slices.Index(calls, "shutdown healthcheck") {
		t.Errorf("the reload did not end before shutdown: %q", calls)
	}
	if n := countOf(calls, "reload ended"); n != 1 {
		t.Errorf("%d reloads ran, want 1: the SIGHUP after SIGTERM must not reload", n)
	}
	h.checkLogs(
		"INFO Received signal: hangup",
		"INFO Received signal: terminated",
		"INFO A reload is under way: the signal is handled once it ends",
		"INFO Received signal: hangup",
		"INFO A reload is under way: the pipeline is read again once it ends",
		"WARN Ignoring SIGHUP: shutdown is in progress",
		"INFO Shutdown completed!",
	)
}

// A SIGHUP during start-up reloads once every provider started.
func TestSIGHUPDuringStartUpReloadsOnceStarted(t *testing.T) {
	h := newHarness(t)
	inStart := make(chan struct{})
	release := make(chan struct{})
	h.byName["metrics"].start = func(context.Context) error {
		close(inStart)
		<-release
		return nil
	}
	reloaded := make(chan struct{})
	h.runner.Reload = func(context.Context) {
		h.rec.add("reload")
		close(reloaded)
	}
	done := h.runAsync()
	await(t, inStart, "the start of metrics")
	h.sendSignal(syscall.SIGHUP)
	close(release)
	await(t, reloaded, "the reload")
	h.signalAndWait(h.units[0], syscall.SIGINT)
	if code := h.awaitExit(done); code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
	calls := withoutKills(h.rec.Calls())
	if i := slices.Index(calls, "reload"); i != slices.Index(calls, "start healthcheck")+1 {
		t.Errorf("the reload did not come right after the last start: %q", calls)
	}
	h.checkLogs("INFO Received signal: hangup", "INFO Reloading once every provider started")
}

// A SIGHUP during shutdown is ignored, and says so.
func TestSIGHUPDuringShutdownIsIgnored(t *testing.T) {
	h := newHarness(t)
	h.runner.Reload = func(context.Context) { h.rec.add("reload") }
	tok := h.byName["token"]
	tok.shutdown = func(context.Context) error {
		h.sendSignal(syscall.SIGHUP)
		h.sendSignal(syscall.SIGHUP) // the first is handled once this one is taken
		return nil
	}
	done := h.runAsync()
	h.awaitStarted("healthcheck")
	h.signalAndWait(h.units[0], syscall.SIGINT)
	if code := h.awaitExit(done); code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
	if slices.Contains(h.rec.Calls(), "reload") {
		t.Errorf("a reload ran during shutdown: %q", h.rec.Calls())
	}
	h.checkLogs("INFO Initiating shutdown of token ...", "INFO Received signal: hangup", "WARN Ignoring SIGHUP: shutdown is in progress", "INFO Stopped token")
}

// A provider that crashes during a reload cancels the run: the reload
// changes nothing more, ends the processes it launched, and shutdown
// follows, of the pipeline as it ran.
func TestCrashDuringReloadEndsIt(t *testing.T) {
	h := newHarness(t)
	extra := newUnit("extra", h.rec)
	h.runner.Reload = func(ctx context.Context) {
		h.byName["metrics"].exit(errors.New("exit status 2"))
		<-ctx.Done()
		steps := []Step{{New: extra}}
		for _, u := range h.units {
			steps = append(steps, Step{Running: u})
		}
		h.runner.Apply(ctx, Plan{Steps: steps})
	}
	done := h.runAsync()
	h.awaitStarted("healthcheck")
	h.sendSignal(syscall.SIGHUP)
	if code := h.awaitExit(done); code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	if got := withoutKills(h.rec.Calls()); slices.Contains(got, "init extra") || slices.Contains(got, "shutdown extra") {
		t.Errorf("the reload went on after the crash: %q", got)
	}
	await(t, extra.Exited(), "the end of the process the reload launched")
	h.checkLogs("ERROR provider metrics exited unexpectedly: exit status 2", "INFO Initiating shutdown of healthcheck ...")
}

// A provider whose plugin changed is restarted without a Reconfigure.
func TestReloadRestartsAReplacedProvider(t *testing.T) {
	h := newHarness(t)
	replacement := newUnit("healthcheck", h.rec)
	reloaded := make(chan struct{})
	h.runner.Reload = func(ctx context.Context) {
		defer close(reloaded)
		steps := []Step{}
		for _, u := range h.units[:3] {
			steps = append(steps, Step{Running: u})
		}
		h.runner.Apply(ctx, Plan{Steps: append(steps, Step{Running: h.byName["healthcheck"], New: replacement})})
	}
	done := h.runAsync()
	h.awaitStarted("healthcheck")
	h.sendSignal(syscall.SIGHUP)
	await(t, reloaded, "the reload")
	h.signalAndWait(h.units[0], syscall.SIGINT)
	if code := h.awaitExit(done); code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
	want := append(calls(4, names...)[:8], "shutdown healthcheck", "init healthcheck", "start healthcheck",
		"shutdown healthcheck", "shutdown metrics", "shutdown token", "shutdown certificate")
	if got := withoutKills(h.rec.Calls()); !slices.Equal(got, want) {
		t.Errorf("calls:\n got %q\nwant %q", got, want)
	}
	h.checkLogs("INFO Restarting healthcheck to apply its new plugin", "INFO Initiating shutdown of healthcheck ...", "INFO Started healthcheck")
}

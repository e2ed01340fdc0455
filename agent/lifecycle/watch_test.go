package lifecycle

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"
)

// frozen is what a stopped plugin process does with a call: nothing, until
// the caller's deadline.
func frozen(ctx context.Context) error {
	<-ctx.Done()
	return ctx.Err()
}

// A provider that stops answering (SIGSTOP) must not hold the shutdown:
// the relay of the signal gives up on it at once, its Shutdown at its own
// timeout, and the providers before it are still shut down. SIGTERM to
// exit takes no longer than the shutdown timeouts added up, and a second.
func TestShutdownWithAFrozenProviderIsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		const timeout = 3 * time.Second
		for _, u := range h.units {
			u.timeout = timeout
		}
		token := h.byName["token"]
		token.frozen = true
		token.shutdown = frozen
		done := h.runAsync()
		h.awaitStarted("healthcheck")
		signalled := time.Now()
		h.sigs <- syscall.SIGTERM
		code := h.awaitExit(done)
		took := time.Since(signalled)
		if code != 0 {
			t.Errorf("exit code %d, want 0", code)
		}
		if budget := len(names)*int(timeout) + int(time.Second); took > time.Duration(budget) {
			t.Errorf("SIGTERM to exit took %v, more than the shutdown timeouts added up and a second (%v)", took, time.Duration(budget))
		}
		calls := h.rec.Calls()
		i := slices.Index(calls, "shutdown token")
		if i < 0 || i+2 >= len(calls) || calls[i+1] != "abort token" || calls[i+2] != "shutdown certificate" {
			t.Errorf("calls %q: want the frozen token aborted at its timeout, then certificate shut down", calls)
		}
	})
}

// A provider that stops answering while the agent runs is reported, and
// once it has not answered for the unresponsive timeout it is treated like
// a crashed one: killed, the run cancelled with a cause naming it, the
// rest shut down, exit 1.
func TestUnresponsiveProviderCancelsTheRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.runner.PingInterval = time.Second
		h.runner.UnresponsiveTimeout = 5 * time.Second
		var mu sync.Mutex
		var heard []string
		h.runner.OnResponsive = func(name string, err error) {
			mu.Lock()
			defer mu.Unlock()
			heard = append(heard, name+": "+errString(err))
		}
		var silent time.Time
		started := make(chan struct{})
		h.byName["healthcheck"].start = func(context.Context) error { close(started); return nil }
		h.byName["token"].ping = func(ctx context.Context) error {
			select {
			case <-started:
			default:
				return nil
			}
			if silent.IsZero() {
				silent = time.Now()
			}
			return frozen(ctx)
		}
		done := h.runAsync()
		code := h.awaitExit(done)
		if code != 1 {
			t.Errorf("exit code %d, want 1", code)
		}
		if took := time.Since(silent); took < h.runner.UnresponsiveTimeout {
			t.Errorf("the run was cancelled %v after the provider went silent, before the unresponsive timeout", took)
		}
		var cause *UnresponsiveError
		if !errors.As(context.Cause(h.runner.runCtx), &cause) || cause.Name != "token" {
			t.Errorf("cause %v, want the token's silence", context.Cause(h.runner.runCtx))
		}
		if !slices.Contains(h.rec.Calls(), "abort token") {
			t.Errorf("calls %q: the silent token was not killed", h.rec.Calls())
		}
		h.checkLogs("WARN Provider does not answer: provider=token error=\"context deadline exceeded\"")
		if !h.logged("ERROR provider token stopped answering at ") || !h.logged("ERROR Run failed by cause: provider token stopped answering") {
			t.Errorf("logs: %q", h.logs.Messages())
		}
		mu.Lock()
		defer mu.Unlock()
		if len(heard) != 1 || !strings.HasPrefix(heard[0], "token: context deadline exceeded") {
			t.Errorf("OnResponsive heard %q, want one report of the silent token", heard)
		}
	})
}

// A provider that misses pings and then answers again is reported both
// ways, and nothing is cancelled.
func TestProviderThatAnswersAgainIsNotKilled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.runner.PingInterval = time.Second
		h.runner.UnresponsiveTimeout = time.Minute
		var mu sync.Mutex
		var heard []string
		h.runner.OnResponsive = func(name string, err error) {
			mu.Lock()
			defer mu.Unlock()
			heard = append(heard, name+": "+errString(err))
		}
		misses := 3
		answered := make(chan struct{})
		h.byName["metrics"].ping = func(ctx context.Context) error {
			mu.Lock()
			defer mu.Unlock()
			if misses > 0 {
				misses--
				return errors.New("no answer")
			}
			if answered != nil {
				close(answered)
				answered = nil
			}
			return nil
		}
		mu.Lock()
		wait := answered
		mu.Unlock()
		done := h.runAsync()
		<-wait
		synctest.Wait()
		h.sigs <- syscall.SIGINT
		if code := h.awaitExit(done); code != 0 {
			t.Errorf("exit code %d, want 0", code)
		}
		mu.Lock()
		defer mu.Unlock()
		if want := []string{"metrics: no answer", "metrics: <nil>"}; !slices.Equal(heard, want) {
			t.Errorf("OnResponsive heard %q, want %q", heard, want)
		}
		h.checkLogs("WARN Provider does not answer: provider=metrics error=\"no answer\"")
		if !h.logged("INFO Provider answers again: provider=metrics") {
			t.Errorf("logs: %q", h.logs.Messages())
		}
	})
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

// logged reports a log message that starts with prefix.
func (h *harness) logged(prefix string) bool {
	for _, m := range h.logs.Messages() {
		if strings.HasPrefix(m, prefix) {
			return true
		}
	}
	return false
}

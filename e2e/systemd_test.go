package e2e

import (
	"net"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sia-agent/sia-agent/internal/e2e"
)

// notifySocket listens where systemd would for a Type=notify service's
// messages, and passes them on.
func notifySocket(t *testing.T) (path string, msgs <-chan string) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan string, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			n, _, err := conn.ReadFromUnix(buf)
			if err != nil {
				return
			}
			ch <- string(buf[:n])
		}
	}()
	t.Cleanup(func() { conn.Close(); <-done })
	return path, ch
}

// nextNotify returns the next message, or fails the test at the
// deadline.
func nextNotify(t *testing.T, msgs <-chan string) string {
	t.Helper()
	select {
	case m := <-msgs:
		return m
	case <-time.After(waitLine):
		t.Fatal("no message on the notify socket")
		return ""
	}
}

// Under systemd (Type=notify) the agent says READY=1 once every provider
// started, and STOPPING=1 when its shutdown begins.
func TestSystemdNotify(t *testing.T) {
	t.Parallel()
	socket, msgs := notifySocket(t)
	file := pipeline(t, "providers:\n  - name: first\n    plugin: sia-plugin-test\n  - name: second\n    plugin: sia-plugin-test\n")
	p := runAgent(t, file, []string{"NOTIFY_SOCKET=" + socket})
	p.WaitLog(t, "All 2 providers started", waitLine)
	if m := nextNotify(t, msgs); !strings.HasPrefix(m, "READY=1\n") {
		t.Errorf("first message %q, want READY=1", m)
	}
	p.Signal(t, syscall.SIGTERM)
	if m := nextNotify(t, msgs); !strings.HasPrefix(m, "STOPPING=1\n") {
		t.Errorf("message %q after SIGTERM, want STOPPING=1", m)
	}
	if code := p.Exit(t, waitExit); code != 0 {
		t.Errorf("exit code %d\n%s", code, e2e.Indented(p.Log.Lines()))
	}
}

// A start that fails never says READY=1: systemd sees the agent exit 1
// before it was ready.
func TestSystemdNotifyNotReadyAfterAFailedStart(t *testing.T) {
	t.Parallel()
	socket, msgs := notifySocket(t)
	file := pipeline(t, "providers:\n  - name: first\n    plugin: sia-plugin-test\n    config: {start_error: test error}\n")
	p := runAgent(t, file, []string{"NOTIFY_SOCKET=" + socket})
	if code := p.Exit(t, waitExit); code != 1 {
		t.Errorf("exit code %d, want 1\n%s", code, e2e.Indented(p.Log.Lines()))
	}
	if m := nextNotify(t, msgs); !strings.HasPrefix(m, "STOPPING=1\n") {
		t.Errorf("message %q, want STOPPING=1 and no READY=1", m)
	}
}

// A reload says RELOADING=1, with the monotonic time that
// Type=notify-reload asks for, and READY=1 when it ends.
func TestSystemdNotifyReload(t *testing.T) {
	t.Parallel()
	socket, msgs := notifySocket(t)
	file := pipeline(t, "providers:\n  - name: first\n    plugin: sia-plugin-test\n")
	p := runAgent(t, file, []string{"NOTIFY_SOCKET=" + socket})
	p.WaitLog(t, "All 1 providers started", waitLine)
	if m := nextNotify(t, msgs); !strings.HasPrefix(m, "READY=1\n") {
		t.Errorf("first message %q, want READY=1", m)
	}
	p.Signal(t, syscall.SIGHUP)
	if m := nextNotify(t, msgs); !regexp.MustCompile(`^RELOADING=1\n(.*\n)*MONOTONIC_USEC=\d+$`).MatchString(m) {
		t.Errorf("message %q after SIGHUP, want RELOADING=1 with MONOTONIC_USEC", m)
	}
	if m := nextNotify(t, msgs); !strings.HasPrefix(m, "READY=1\n") {
		t.Errorf("message %q after the reload, want READY=1", m)
	}
	if code := stop(t, p); code != 0 {
		t.Errorf("exit code %d", code)
	}
}

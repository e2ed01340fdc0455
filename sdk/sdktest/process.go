package sdktest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Process is a running binary whose output a test waits on, such as the
// agent RunPlugin runs a plugin under.
type Process struct {
	// Cmd is the command; Cmd.Process is the running process, and
	// Cmd.ProcessState how it ended, once Done is closed.
	Cmd *exec.Cmd
	// Log holds its standard output and standard error, one pipe, so
	// that their lines keep their order.
	Log *Log

	done chan struct{} // closed once it exited and its output ended
	err  error         // what waiting for it said, once done is closed
}

// Start runs bin with args, env added to the test's environment, and
// collects its output in Log; with go test -v, every line is logged too.
// At cleanup the process is killed if it still runs.
func Start(t testing.TB, bin string, env []string, args ...string) *Process {
	t.Helper()
	cmd := exec.Command(bin, args...)
	// A binary built with the race detector sleeps a second at exit, as
	// each of the agent's plugin processes would; env may say otherwise.
	cmd.Env = append(append(os.Environ(), "GORACE=atexit_sleep_ms=0"), env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("sdktest: %v", err)
	}
	cmd.Stderr = cmd.Stdout
	name := filepath.Base(bin)
	p := &Process{Cmd: cmd, done: make(chan struct{}), Log: NewLog(func(line string) {
		if testing.Verbose() {
			t.Logf("%s: %s", name, line)
		}
	})}
	if err := cmd.Start(); err != nil {
		t.Fatalf("sdktest: starting %s: %v", bin, err)
	}
	go func() {
		defer close(p.done)
		_, _ = p.Log.ReadFrom(out)
		p.err = cmd.Wait()
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// Done is closed once the process has exited and its output ended.
func (p *Process) Done() <-chan struct{} { return p.done }

// Signal sends the process sig; one that has exited already gets nothing,
// and no error either.
func (p *Process) Signal(sig os.Signal) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	if err := p.Cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signalling %s (pid %d): %w", p.Cmd.Path, p.Cmd.Process.Pid, err)
	}
	return nil
}

// Wait waits, at most timeout, for the process to exit and returns its
// exit code: -1 if a signal killed it.
func (p *Process) Wait(timeout time.Duration) (int, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-p.done:
	case <-timer.C:
		return -1, fmt.Errorf("%s did not exit within %v", p.Cmd.Path, timeout)
	}
	if p.Cmd.ProcessState == nil { // it never ran to its end
		return -1, fmt.Errorf("waiting for %s: %w", p.Cmd.Path, p.err)
	}
	return p.Cmd.ProcessState.ExitCode(), nil
}

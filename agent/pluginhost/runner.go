package pluginhost

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"syscall"

	"github.com/hashicorp/go-plugin/runner"
)

// procRunner starts a plugin in its own process group, tied to the agent's
// life, and records how it exited. It implements go-plugin's runner.Runner.
type procRunner struct {
	cmd            *exec.Cmd
	stdout, stderr io.ReadCloser

	exited  chan struct{}
	mu      sync.Mutex
	exitErr error
	killed  bool // Kill came first: the process must not start
}

var _ runner.Runner = (*procRunner)(nil)

// newProcRunner prepares path to run with the environment go-plugin built
// in spec.
func newProcRunner(path string, spec *exec.Cmd) (*procRunner, error) {
	cmd := exec.Command(path)
	cmd.Env = spec.Env
	cmd.Stdin = nil // a plugin reads nothing from the agent's terminal
	cmd.SysProcAttr = sysProcAttr()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	return &procRunner{cmd: cmd, stdout: stdout, stderr: stderr, exited: make(chan struct{})}, nil
}

func (r *procRunner) Start(context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.killed {
		return errors.New("the launch was cancelled")
	}
	// The parent-death signal is tied to the thread that forks: keep this
	// goroutine on one thread across the fork so that the signal is not
	// fired early by a thread the runtime retires (golang/go#27505).
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	return r.cmd.Start()
}

func (r *procRunner) Wait(context.Context) error {
	err := r.cmd.Wait()
	r.mu.Lock()
	r.exitErr = err
	r.mu.Unlock()
	close(r.exited)
	return err
}

// ExitErr is how the process exited: nil for status 0.
func (r *procRunner) ExitErr() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.exitErr
}

// Kill kills the plugin's whole process group, so that nothing it spawned
// outlives it.
// A Kill before Start keeps the process from starting.
func (r *procRunner) Kill(context.Context) error {
	r.mu.Lock()
	r.killed = true
	proc := r.cmd.Process
	r.mu.Unlock()
	if proc == nil {
		return nil
	}
	if err := syscall.Kill(-proc.Pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		if err := proc.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
			return err
		}
	}
	return nil
}

func (r *procRunner) Stdout() io.ReadCloser { return r.stdout }
func (r *procRunner) Stderr() io.ReadCloser { return r.stderr }
func (r *procRunner) Name() string          { return r.cmd.Path }

func (r *procRunner) ID() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd.Process == nil {
		return ""
	}
	return strconv.Itoa(r.cmd.Process.Pid)
}

func (r *procRunner) Diagnose(context.Context) string {
	return fmt.Sprintf("is %s a sia-agent provider plugin built for this system? Run by hand, a plugin says so.", r.cmd.Path)
}

func (r *procRunner) PluginToHost(network, addr string) (string, string, error) {
	return network, addr, nil
}

func (r *procRunner) HostToPlugin(network, addr string) (string, string, error) {
	return network, addr, nil
}

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

	"github.com/sia-agent/sia-agent/sdk/pluginpb"
)

// procRunner starts a plugin in its own process group, tied to the agent's
// life, and records how it exited. It implements go-plugin's runner.Runner.
type procRunner struct {
	cmd            *exec.Cmd
	stdout, stderr io.ReadCloser

	exited  chan struct{}
	mu      sync.Mutex
	exitErr error
	killed  bool     // Kill came first: the process must not start
	keys    *os.File // the read end of the channel keys' pipe, until Start
}

var _ runner.Runner = (*procRunner)(nil)

// newProcRunner prepares path to run with args, the environment go-plugin
// built in spec, and the keys of channel on a pipe of its own.
func newProcRunner(path string, args []string, spec *exec.Cmd, channel *pluginpb.Channel) (*procRunner, error) {
	cmd := exec.Command(path, args...)
	cmd.Env = append(spec.Env, fmt.Sprintf("%s=%d", pluginpb.EnvChannelFD, pluginpb.ChannelFD))
	cmd.Stdin = nil // a plugin reads nothing from the agent's terminal
	cmd.SysProcAttr = sysProcAttr()
	keys, err := channelPipe(channel)
	if err != nil {
		return nil, err
	}
	cmd.ExtraFiles = []*os.File{keys} // descriptor pluginpb.ChannelFD
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		_ = keys.Close() // the pipe error is the one to report
		return nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		_ = keys.Close() // the pipe error is the one to report
		return nil, err
	}
	return &procRunner{cmd: cmd, stdout: stdout, stderr: stderr, keys: keys, exited: make(chan struct{})}, nil
}

// channelPipe returns the read end of a pipe that holds the plugin's
// channel keys. They fit in the pipe's buffer, so they are written before
// the plugin starts; the write end is closed then, and only the plugin
// process inherits the read end.
func channelPipe(channel *pluginpb.Channel) (*os.File, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("making the pipe for the plugin's channel keys: %w", err)
	}
	err = channel.WritePlugin(w)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = r.Close() // writing the keys failed; that is the error
		return nil, err
	}
	return r, nil
}

func (r *procRunner) Start(context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	// The plugin holds the read end from here on; the agent's copy would
	// keep the pipe open for nothing.
	defer r.keys.Close() //nolint:errcheck // the agent's copy of the read end; the plugin's is what counts
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

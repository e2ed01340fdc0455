package hooks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sia-agent/sia-agent/internal/truncate"
)

// Outcomes of a run.
const (
	OutcomeSuccess = "SUCCESS"
	OutcomeFailed  = "FAILED"
	OutcomeTimeout = "TIMEOUT"
)

// maxOutput bounds what the agent keeps of a command's output, for its log
// line: a hook's output is the workload's, not the agent's to store.
const maxOutput = 4 << 10

// maxError bounds a failed run's error in the status report.
const maxError = 1 << 10

// The environment a command runs with, beside the agent's own.
const (
	EnvHook        = "SIA_HOOK"                // the hook's name
	EnvCredentials = "SIA_CHANGED_CREDENTIALS" //nolint:gosec // G101: a variable's name, not a credential
	EnvFiles       = "SIA_CHANGED_FILES"       // the files the updates wrote, one a line
)

// run runs h for changes and reports the outcome.
func (r *Runner) run(h *hook, changes []Change) {
	start := time.Now()
	creds := credentialNames(changes)
	var (
		output string
		err    error
	)
	if h.cfg.Exec != nil {
		output, err = runCommand(r.runCtx, h.cfg.Exec, environment(h.cfg.Name, changes))
	} else {
		err = sendSignal(h.cfg.Signal, os.Getpid())
	}
	d := time.Since(start)
	outcome := OutcomeSuccess
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		outcome = OutcomeTimeout
	case err != nil:
		outcome = OutcomeFailed
	}
	r.metrics.ran(h.cfg.Name, outcome, start, d)
	st := r.metrics.snapshot(h.cfg.Name)
	st.LastRunTS, st.DurationUS, st.Outcome, st.Credentials = start.Unix(), d.Microseconds(), outcome, creds
	if err != nil {
		st.Error = truncate.String(err.Error(), maxError)
	}
	r.report(st) // before the log line: a reader of the line finds the report current
	if err != nil {
		r.log.Warn("Hook failed; the credentials it was run for are in place", "hook", h.cfg.Name,
			"outcome", outcome, "credentials", creds, "duration", d.String(), "error", err, "output", output)
	} else {
		r.log.Info("Ran hook", "hook", h.cfg.Name, "credentials", creds, "duration", d.String(), "output", output)
	}
}

// environment is what a hook's command is told of the changes.
func environment(name string, changes []Change) []string {
	var files []string
	for _, c := range changes {
		files = append(files, c.Files...)
	}
	return []string{
		EnvHook + "=" + name,
		EnvCredentials + "=" + strings.Join(credentialNames(changes), "\n"),
		EnvFiles + "=" + strings.Join(files, "\n"),
	}
}

// runCommand runs e with env added to the agent's environment, in a
// process group of its own so that a timeout ends everything it started.
// It returns the command's output, bounded.
func runCommand(ctx context.Context, e *Exec, env []string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, e.timeout())
	defer cancel()
	// The operator's command from the pipeline file, run without a shell:
	// running it is the hook's job.
	cmd := exec.CommandContext(ctx, e.Command[0], e.Command[1:]...) //nolint:gosec // G204: see above
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second // a grandchild holding the output open
	var out limitedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("%s did not finish within %v: %w", e.Command[0], e.timeout(), ctx.Err())
	} else if err != nil {
		err = fmt.Errorf("running %s: %w", e.Command[0], err)
	}
	return out.String(), err
}

// sendSignal sends s's signal to the process s names; self is never one.
func sendSignal(s *Signal, self int) error {
	sig, _ := signalOf(s.Signal)
	pids, err := s.targets(self)
	if err != nil {
		return err
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, sig); err != nil {
			return fmt.Errorf("sending %v to pid %d: %w", sig, pid, err)
		}
	}
	return nil
}

// targets are the pids s names.
func (s *Signal) targets(self int) ([]int, error) {
	if s.PIDFile != "" {
		pid, err := readPIDFile(s.PIDFile)
		if err != nil {
			return nil, err
		}
		return []int{pid}, nil
	}
	pids, err := processesNamed(s.Process, self)
	if err == nil && len(pids) == 0 {
		err = fmt.Errorf("no process named %q", s.Process)
	}
	return pids, err
}

func readPIDFile(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("reading the pid file: %w", err)
	}
	defer f.Close() //nolint:errcheck // read only: a failed close loses nothing
	buf := make([]byte, 32)
	n, _ := f.Read(buf)
	pid, err := strconv.Atoi(strings.TrimSpace(string(buf[:n])))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("%s holds no pid: %q", path, buf[:n])
	}
	return pid, nil
}

// processesNamed finds the processes named name in /proc: by their comm
// (what ps shows, cut at 15 bytes) or the base name of their command.
func processesNamed(name string, self int) ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("listing processes: %w", err)
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		if processName(pid, "comm") == comm(name) || filepath.Base(processName(pid, "cmdline")) == name {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// comm is name as the kernel keeps a process's: at most 15 bytes.
func comm(name string) string {
	const taskCommLen = 16 // with its NUL
	if len(name) >= taskCommLen {
		return name[:taskCommLen-1]
	}
	return name
}

// processName reads /proc/<pid>/<file>'s first NUL- or line-terminated
// word; "" when the process is gone.
func processName(pid int, file string) string {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), file))
	if err != nil {
		return ""
	}
	if i := bytes.IndexAny(data, "\x00\n"); i >= 0 {
		data = data[:i]
	}
	return string(data)
}

// limitedBuffer keeps the first maxOutput bytes written to it.
type limitedBuffer struct {
	buf bytes.Buffer
	cut int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	room := max(0, maxOutput-b.buf.Len())
	b.buf.Write(p[:min(room, len(p))])
	b.cut += len(p) - min(room, len(p))
	return len(p), nil
}

func (b *limitedBuffer) String() string {
	s := strings.TrimSpace(b.buf.String())
	if b.cut > 0 {
		s += fmt.Sprintf(" [%d more bytes]", b.cut)
	}
	return s
}

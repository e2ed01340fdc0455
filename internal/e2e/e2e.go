// Package e2e runs the real sia-agent, plugin and zts-dev binaries for
// end-to-end tests: it builds them, starts them, and waits for what they
// log, always with a deadline and never by sleeping.
package e2e

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Binaries are the commands Build builds by default.
func Binaries() []string {
	return []string{"sia-agent", "sia-plugin-test", "zts-dev"}
}

// FaultsTag is the build tag that compiles fault points in: only a binary
// built with it reads SIA_FAULTS.
const FaultsTag = "siafaults"

// Build builds the named commands (all of Binaries when none are named) of
// this module into dir, with fault points (FaultsTag) and with the race
// detector when the tests run with it. A command is looked up in cmd/, then
// in internal/cmd/, where the test plugin is; one that does not exist yet
// in the module is skipped.
func Build(dir string, names ...string) error {
	return build(dir, []string{FaultsTag}, names)
}

// BuildRelease is Build without fault points, as `make build` builds.
func BuildRelease(dir string, names ...string) error {
	return build(dir, nil, names)
}

func build(dir string, tags, names []string) error {
	root, err := ModuleRoot()
	if err != nil {
		return err
	}
	if len(names) == 0 {
		names = Binaries()
	}
	args := []string{"build", "-o", dir + string(os.PathSeparator)}
	if raceEnabled {
		args = append(args, "-race")
	}
	if len(tags) > 0 {
		args = append(args, "-tags", strings.Join(tags, ","))
	}
	for _, name := range names {
		for _, parent := range []string{"cmd", "internal/cmd"} {
			if _, err := os.Stat(filepath.Join(root, parent, name)); err == nil {
				args = append(args, "./"+parent+"/"+name)
				break
			}
		}
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

// ModuleRoot finds the directory of this module's go.mod.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// Log collects a process's output line by line and lets tests wait for a
// line to appear.
type Log struct {
	mu      sync.Mutex
	lines   []string
	changed chan struct{}
	closed  bool
	echo    func(string)
}

// NewLog returns an empty log; echo, if not nil, sees every line.
func NewLog(echo func(string)) *Log {
	return &Log{changed: make(chan struct{}), echo: echo}
}

func (l *Log) add(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, line)
	close(l.changed)
	l.changed = make(chan struct{})
	if l.echo != nil {
		l.echo(line)
	}
}

func (l *Log) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	close(l.changed)
	l.changed = make(chan struct{})
}

// consume reads r to its end, line by line.
func (l *Log) consume(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		l.add(sc.Text())
	}
}

// Lines returns the lines so far.
func (l *Log) Lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

// String returns the whole log.
func (l *Log) String() string { return strings.Join(l.Lines(), "\n") }

// Wait waits until a line containing substr appears, and returns its
// index. It fails when the deadline passes or the output ends first.
func (l *Log) Wait(substr string, timeout time.Duration) (int, error) {
	return l.WaitFrom(0, substr, timeout)
}

// WaitFrom is Wait looking only at lines from index from on.
func (l *Log) WaitFrom(from int, substr string, timeout time.Duration) (int, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		l.mu.Lock()
		for i := from; i < len(l.lines); i++ {
			if strings.Contains(l.lines[i], substr) {
				l.mu.Unlock()
				return i, nil
			}
		}
		from = max(from, len(l.lines))
		closed, changed := l.closed, l.changed
		l.mu.Unlock()
		if closed {
			return -1, fmt.Errorf("output ended without a line containing %q", substr)
		}
		select {
		case <-changed:
		case <-deadline.C:
			return -1, fmt.Errorf("no line containing %q within %v", substr, timeout)
		}
	}
}

// Index returns the index of the first line containing substr, or -1.
func (l *Log) Index(substr string) int {
	for i, line := range l.Lines() {
		if strings.Contains(line, substr) {
			return i
		}
	}
	return -1
}

// Process is a started binary.
type Process struct {
	Cmd  *exec.Cmd
	Log  *Log // standard error and standard output, interleaved by line
	done chan struct{}
	err  error
}

// Start runs bin with args and env (added to the test's environment).
func Start(t testing.TB, bin string, env []string, args ...string) *Process {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	if raceEnabled {
		// A race-detector binary sleeps a second at exit by default, which
		// every plugin process and the agent would add to each test.
		cmd.Env = append(cmd.Env, "GORACE=atexit_sleep_ms=0 halt_on_error=1")
	}
	name := filepath.Base(bin)
	p := &Process{Cmd: cmd, Log: NewLog(func(line string) {
		if testing.Verbose() {
			t.Logf("%s: %s", name, line)
		}
	}), done: make(chan struct{})}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout // one pipe, so that lines keep their order
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	go func() {
		p.Log.consume(stdout)
		p.err = cmd.Wait()
		p.Log.close()
		close(p.done)
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

// Signal sends sig to the process.
func (p *Process) Signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	if err := p.Cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signalling %d: %v", p.Cmd.Process.Pid, err)
	}
}

// WaitLog waits for a line containing substr or fails the test.
func (p *Process) WaitLog(t testing.TB, substr string, timeout time.Duration) int {
	t.Helper()
	i, err := p.Log.Wait(substr, timeout)
	if err != nil {
		t.Fatalf("%v; output so far:\n%s", err, p.Log.String())
	}
	return i
}

// Exit waits for the process to exit and returns its exit code.
func (p *Process) Exit(t testing.TB, timeout time.Duration) int {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-p.done:
	case <-timer.C:
		t.Fatalf("process did not exit within %v; output so far:\n%s", timeout, p.Log.String())
	}
	var exitErr *exec.ExitError
	switch {
	case p.err == nil:
		return 0
	case errors.As(p.err, &exitErr):
		return exitErr.ExitCode()
	}
	t.Fatalf("waiting for process: %v", p.err)
	return -1
}

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Children lists the processes whose parent is pid, from /proc.
func Children(pid int) ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var out []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // gone since the listing
		}
		// pid (comm) state ppid ...: comm may hold spaces and parentheses.
		fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(fields) > 1 && fields[1] == strconv.Itoa(pid) {
			out = append(out, child)
		}
	}
	return out, nil
}

// WriteFile writes a test file and returns its path.
func WriteFile(t testing.TB, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Indented returns lines with a prefix, for failure messages.
func Indented(lines []string) string {
	var b bytes.Buffer
	for _, l := range lines {
		b.WriteString("    ")
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return b.String()
}

// Package e2e runs the real sia-agent, plugin and zts-dev binaries for
// end-to-end tests: it builds them, starts them, and waits for what they
// log, always with a deadline and never by sleeping.
package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sia-agent/sia-agent/sdk/fault"
	"github.com/sia-agent/sia-agent/sdk/sdktest"
)

// Binaries are the commands Build builds by default.
func Binaries() []string {
	return []string{"sia-agent", "sia-plugin-test", "sia-plugin-k8s-secret", "zts-dev"}
}

// FaultsTag is the build tag that compiles fault points in: only a binary
// built with it reads SIA_FAULTS.
const FaultsTag = fault.Tag

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

// Log is a process's output, line by line, that a test waits on.
type Log = sdktest.Log

// Process is a started binary. Its methods fail the test they are given
// rather than return errors.
type Process struct {
	*sdktest.Process
}

// Start runs bin with args and env (added to the test's environment).
func Start(t testing.TB, bin string, env []string, args ...string) *Process {
	t.Helper()
	if raceEnabled {
		// A race-detector binary sleeps a second at exit by default, which
		// every plugin process and the agent would add to each test.
		env = append([]string{"GORACE=atexit_sleep_ms=0 halt_on_error=1"}, env...)
	}
	return &Process{Process: sdktest.Start(t, bin, env, args...)}
}

// Signal sends sig to the process.
func (p *Process) Signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	if err := p.Process.Signal(sig); err != nil {
		t.Fatal(err)
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
	code, err := p.Wait(timeout)
	if err != nil {
		t.Fatalf("%v; output so far:\n%s", err, p.Log.String())
	}
	return code
}

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

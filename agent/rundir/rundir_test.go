package rundir

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestOpenMakesAPrivateRunDirectoryAndCloseRemovesIt(t *testing.T) {
	base := filepath.Join(shortTemp(t), "rt")
	r, removed, err := Open(base)
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 0 {
		t.Errorf("removed %q from a new directory", removed)
	}
	want := filepath.Join(base, "run-"+strconv.Itoa(os.Getpid()))
	if r.Dir != want {
		t.Errorf("Dir = %s, want %s", r.Dir, want)
	}
	for _, p := range []string{base, r.Dir} {
		info, err := os.Stat(p)
		if err != nil || info.Mode().Perm() != 0o700 {
			t.Errorf("%s: %v, mode %v; want 0700", p, err, info.Mode().Perm())
		}
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(base); len(entries) != 0 {
		t.Errorf("left behind: %v", entries)
	}
}

// A dead run's directory and lock (a run killed with SIGKILL, which
// cleans nothing) are removed at the next start; a live run's are kept,
// whoever else shares the directory.
func TestOpenRemovesOnlyDeadRuns(t *testing.T) {
	base := shortTemp(t)
	if err := os.Chmod(base, 0o700); err != nil {
		t.Fatal(err)
	}
	// A live run: a child process holding its lock.
	live := filepath.Join(base, "run-live")
	if err := os.Mkdir(live, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("flock"); err != nil {
		t.Skip("flock(1) is not installed")
	}
	// flock(1) runs the shell once it holds the lock; the shell's line
	// says so.
	holder := exec.Command("flock", live+".lock", "sh", "-c", "echo locked; exec sleep 600")
	out, err := holder.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = holder.Process.Kill(); _ = holder.Wait() })
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "locked\n" {
		t.Fatalf("flock(1) said %q, %v", line, err)
	}
	if !held(live + ".lock") {
		t.Fatal("the live run's lock is not held")
	}

	// Dead runs: one with its lock file, one whose lock file never made it,
	// one half-created lock file.
	for _, d := range []string{"run-111", "run-222"} {
		if err := os.MkdirAll(filepath.Join(base, d, "plugin-dir1"), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"run-111.lock", ".lock-123"} {
		if err := os.WriteFile(filepath.Join(base, f), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// Not the agent's: left alone.
	if err := os.WriteFile(filepath.Join(base, "other"), nil, 0o600); err != nil {
		t.Fatal(err)
	}

	r, removed, err := Open(base)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	slices.Sort(removed)
	if want := []string{filepath.Join(base, "run-111"), filepath.Join(base, "run-222")}; !slices.Equal(removed, want) {
		t.Errorf("removed %q, want %q", removed, want)
	}
	var names []string
	entries, _ := os.ReadDir(base)
	for _, e := range entries {
		names = append(names, e.Name())
	}
	self := "run-" + strconv.Itoa(os.Getpid())
	want := []string{"other", self, self + ".lock", "run-live", "run-live.lock"}
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Errorf("runtime directory holds %q, want %q", names, want)
	}
}

func TestOpenRefusesADirectoryOthersCanWrite(t *testing.T) {
	base := shortTemp(t)
	if err := os.Chmod(base, 0o777); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Open(base); err == nil {
		t.Fatal("a world-writable runtime directory was accepted")
	}
}

func TestOpenRefusesAPathTooLongForSockets(t *testing.T) {
	base := filepath.Join(t.TempDir(), strings.Repeat("d", 80))
	_, _, err := Open(base)
	if err == nil || !strings.Contains(err.Error(), "too long a path") {
		t.Fatalf("Open = %v, want a path too long for sockets", err)
	}
}

// shortTemp is a temporary directory with a path short enough for Unix
// sockets below it, which t.TempDir's is not.
func shortTemp(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/tmp", "rd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// Package rundir keeps the agent's runtime directory: where the Unix
// sockets between the agent and its plugins live. Each run of the agent
// gets a directory of its own below it, held with a lock for as long as
// the agent lives; at start, the agent removes what runs that died without
// cleaning up (kill -9, a crash) left behind. Several agents can share one
// runtime directory.
package rundir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Default is the runtime directory when the pipeline names none: the
// user's runtime directory ($XDG_RUNTIME_DIR/sia-agent), else a directory
// of the user's own in the system's temporary directory (which systemd's
// PrivateTmp= or a pod's emptyDir keep private to the agent).
func Default() string {
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "sia-agent")
	}
	return filepath.Join(os.TempDir(), "sia-agent-"+strconv.Itoa(os.Getuid()))
}

// runPrefix names the directory of one run: run-<pid>, next to its lock
// file run-<pid>.lock.
const runPrefix = "run-"

// A Unix socket's path has at most 107 bytes (sun_path, with its NUL).
// go-plugin puts each plugin's sockets at <run>/plugin-dir<n>/plugin<n>.
const (
	maxSocketPath = 107
	socketSuffix  = "/plugin-dir0123456789/plugin0123456789"
)

// Run is the directory of one run of the agent.
type Run struct {
	// Dir is the run's directory: plugin sockets go below it.
	Dir  string
	lock *os.File
}

// Open makes (if needed) and checks the runtime directory base, removes
// the leftovers of runs that are no longer alive and creates this run's
// directory. It returns what it removed, for the log.
func Open(base string) (*Run, []string, error) {
	if err := os.MkdirAll(base, 0o700); err != nil {
		return nil, nil, fmt.Errorf("creating runtime directory %s: %w", base, err)
	}
	if err := checkPrivate(base); err != nil {
		return nil, nil, err
	}
	removed, err := clean(base)
	if err != nil {
		return nil, removed, err
	}
	name := filepath.Join(base, runPrefix+strconv.Itoa(os.Getpid()))
	if n := len(name) + len(socketSuffix); n > maxSocketPath {
		return nil, removed, fmt.Errorf("runtime directory %s is too long a path: the plugins' Unix sockets below it would take %d bytes, and the system allows %d; choose a shorter agent.runtime_dir", base, n, maxSocketPath)
	}
	lock, err := createLocked(name + ".lock")
	if err != nil {
		return nil, removed, err
	}
	// A dead run with our pid may have left its directory.
	if err := os.RemoveAll(name); err != nil {
		_ = lock.Close() // releases the lock; the error is the RemoveAll's
		return nil, removed, fmt.Errorf("removing a dead run's directory: %w", err)
	}
	if err := os.Mkdir(name, 0o700); err != nil {
		_ = lock.Close() // releases the lock; the error is the Mkdir's
		return nil, removed, fmt.Errorf("creating the run's directory: %w", err)
	}
	return &Run{Dir: name, lock: lock}, removed, nil
}

// createLocked creates the lock file at path already locked: it is locked
// under a temporary name and renamed into place, so that no other agent
// ever sees it unlocked and takes this run for a dead one. The lock comes
// before the run's directory for the same reason.
func createLocked(path string) (*os.File, error) {
	f, err := os.CreateTemp(filepath.Dir(path), tempLockPrefix+"*")
	if err != nil {
		return nil, fmt.Errorf("creating the run's lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		_ = os.Remove(f.Name()) // best effort: a later run removes stale temporary locks
		return nil, fmt.Errorf("locking %s: %w", f.Name(), err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		_ = f.Close()
		_ = os.Remove(f.Name()) // best effort: a later run removes stale temporary locks
		return nil, fmt.Errorf("creating the run's lock file: %w", err)
	}
	return f, nil
}

// tempLockPrefix names a lock file being created.
const tempLockPrefix = ".lock-"

// Close removes the run's directory and its lock.
func (r *Run) Close() error {
	err := os.RemoveAll(r.Dir)
	if rmErr := os.Remove(r.Dir + ".lock"); err == nil && rmErr != nil && !errors.Is(rmErr, fs.ErrNotExist) {
		err = rmErr
	}
	if cerr := r.lock.Close(); err == nil {
		err = cerr
	}
	return err
}

// checkPrivate refuses a runtime directory that others could write to, or
// that belongs to someone else: they could plant sockets there.
func checkPrivate(dir string) error {
	info, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("checking runtime directory %s: %w", dir, err)
	}
	if !info.IsDir() {
		return fmt.Errorf("runtime directory %s is not a directory", dir)
	}
	if st, ok := info.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Getuid() {
		return fmt.Errorf("runtime directory %s belongs to uid %d, not to the agent's user (uid %d)", dir, st.Uid, os.Getuid())
	}
	if info.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("runtime directory %s is writable by group or others (mode %v): make it 0700", dir, info.Mode().Perm())
	}
	return nil
}

// clean removes every run's directory and lock file in base whose lock no
// live agent holds.
func clean(base string) ([]string, error) {
	entries, err := os.ReadDir(base)
	if err != nil {
		return nil, fmt.Errorf("listing runtime directory %s: %w", base, err)
	}
	var removed []string
	var errs []error
	for _, e := range entries {
		dead, ok := deadRun(base, e.Name(), entries)
		if !ok {
			continue
		}
		if err := removeRun(dead); err != nil {
			errs = append(errs, err)
			continue
		}
		if !strings.HasPrefix(e.Name(), tempLockPrefix) {
			removed = append(removed, strings.TrimSuffix(dead, ".lock"))
		}
	}
	return removed, errors.Join(errs...)
}

// deadRun says whether the entry name of base belongs to a run that is no
// longer alive, and returns the path that stands for it: a lock file, a
// run's directory without a lock file, or a lock file under its temporary
// name whose creator died before renaming it.
func deadRun(base, name string, entries []os.DirEntry) (string, bool) {
	path := filepath.Join(base, name)
	switch {
	case strings.HasPrefix(name, tempLockPrefix):
		return path, !held(path)
	case !strings.HasPrefix(name, runPrefix):
		return "", false // not ours
	case strings.HasSuffix(name, ".lock"):
		return path, !held(path)
	}
	return path, !hasLock(entries, name) // a directory whose lock decides
}

// removeRun removes what a dead run left: for its lock file, the run's
// directory and then the lock.
func removeRun(path string) error {
	if dir, ok := strings.CutSuffix(path, ".lock"); ok && !strings.HasPrefix(filepath.Base(path), tempLockPrefix) {
		if err := os.RemoveAll(dir); err != nil {
			return err
		}
	}
	if err := os.RemoveAll(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// hasLock reports whether the run directory name has a lock file.
func hasLock(entries []os.DirEntry, name string) bool {
	for _, e := range entries {
		if e.Name() == name+".lock" {
			return true
		}
	}
	return false
}

// held reports whether a live process holds the lock file.
func held(path string) bool {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return false
	}
	defer f.Close() //nolint:errcheck // closing releases the lock taken to probe; nothing else to lose
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return errors.Is(err, syscall.EWOULDBLOCK)
	}
	// We got it, so its owner is gone; closing releases it.
	return false
}

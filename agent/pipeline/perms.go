package pipeline

import (
	"fmt"
	"os"
	"path/filepath"
)

// notWritableByOthers refuses a plugin binary that someone other than its
// owner could replace, as sshd's StrictModes does for its files: the
// binary, and every directory of its path, as written and with symlinks
// resolved, must not be writable by others. A directory with the sticky
// bit (like /tmp) is fine, since others cannot replace what they do not
// own in it. Group write is allowed: granting it is the owner's choice,
// and a umask of 002 grants it to every file.
func notWritableByOthers(path string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	resolved, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return err
	}
	if err := checkNotWritable(resolved); err != nil {
		return err
	}
	for _, p := range []string{abs, resolved} {
		for dir := filepath.Dir(p); ; dir = filepath.Dir(dir) {
			if err := checkNotWritable(dir); err != nil {
				return err
			}
			if dir == filepath.Dir(dir) {
				break
			}
		}
	}
	return nil
}

// checkNotWritable refuses path, a binary or a directory, if others than
// its owner may write to it.
func checkNotWritable(path string) error {
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	mode := info.Mode()
	if mode.Perm()&0o002 == 0 || (mode.IsDir() && mode&os.ModeSticky != 0) {
		return nil
	}
	return fmt.Errorf("%s is writable by any user (%v), who could replace the plugin: chmod o-w %s", path, mode, path)
}

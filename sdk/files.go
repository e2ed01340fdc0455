package sdk

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// tempInfix marks WriteFileAtomic's temporary files: ".<base>.sia-tmp-<random>".
const tempInfix = ".sia-tmp-"

// WriteFileAtomic replaces path with data so that a reader, and the file
// system after a crash at any moment, sees either the old content or the
// new, never a torn or empty file. It writes a temporary file in the same
// directory with mode perm (the umask does not apply), syncs it, renames it
// over path and syncs the directory so that the rename is durable too.
//
// The directory must exist. A crash can leave a temporary file behind;
// RemoveAtomicTemps clears them.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+tempInfix+"*")
	if err != nil {
		return fmt.Errorf("creating temporary file for %s: %w", path, err)
	}
	name := tmp.Name()
	renamed := false
	defer func() {
		if !renamed {
			_ = os.Remove(name) // best effort; the error returned says what failed
		}
	}()

	// Chmod on the descriptor, before any byte is written: a private key
	// is never readable by others, not even for a moment.
	if err := tmp.Chmod(perm); err != nil {
		_ = tmp.Close() // the write already failed; that error is the one to report
		return fmt.Errorf("setting mode of %s: %w", name, err)
	}
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close() // the write already failed; that error is the one to report
		return fmt.Errorf("writing %s: %w", name, err)
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close() // the write already failed; that error is the one to report
		return fmt.Errorf("syncing %s: %w", name, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", name, err)
	}
	if err := os.Rename(name, path); err != nil {
		return fmt.Errorf("renaming %s to %s: %w", name, path, err)
	}
	renamed = true
	return SyncDir(dir)
}

// SyncDir makes the entries of dir durable: a rename, link or removal in
// it survives a crash once SyncDir returns nil.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("opening directory %s to sync it: %w", dir, err)
	}
	if err := d.Sync(); err != nil {
		_ = d.Close() // read-only; the sync error is the one to report
		return fmt.Errorf("syncing directory %s: %w", dir, err)
	}
	if err := d.Close(); err != nil {
		return fmt.Errorf("closing directory %s: %w", dir, err)
	}
	return nil
}

// RemoveAtomicTemps removes the temporary files that WriteFileAtomic(path,
// ...) calls interrupted by a crash left next to path. Call it before
// writing path for the first time in a process, not while another process
// may be writing the same path.
func RemoveAtomicTemps(path string) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("listing %s: %w", dir, err)
	}
	var errs []error
	for _, e := range entries {
		if e.Type().IsRegular() && strings.HasPrefix(e.Name(), "."+base+tempInfix) {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

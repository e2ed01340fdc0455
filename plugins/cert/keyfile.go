package cert

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"

	"github.com/sia-agent/sia-agent/plugins/internal/fileperm"
)

// keyPolicy says which key files the provider takes as they are.
type keyPolicy struct {
	// shared is for a key managed elsewhere (mode existing): it may be
	// read through symbolic links, be readable by its group (a key shared
	// with the group of the tool that manages it) and belong to root.
	shared bool
	// insecure (key.allow_insecure_permissions) skips the mode and owner
	// checks.
	insecure bool
	// written is the mode and owner the provider writes the key with:
	// a key it wrote has no more permission bits, and belongs to that user
	// (and, when group-readable, that group). nil: 0600, the agent's.
	written *fileperm.Perm
}

// writtenPerm is the mode and owner of a key the provider writes.
func (pol keyPolicy) writtenPerm() fileperm.Perm {
	if pol.written == nil {
		return fileperm.Private()
	}
	return *pol.written
}

// maxKeyFile bounds what is read of a key file: a key is a few kilobytes.
const maxKeyFile = 64 << 10

// unsafeKeyError is a key file the provider refuses to use: others can
// read or replace it, or it is not the file it claims to be.
type unsafeKeyError struct {
	file, problem, remedy string
}

func (e *unsafeKeyError) Error() string {
	return fmt.Sprintf("key file %s: %s; refusing to use it (%s)", e.file, e.problem, e.remedy)
}

// Outcome implements the interface sdk.Outcome looks for.
func (e *unsafeKeyError) Outcome() string { return "FILE_ERROR" }

// readKeyFile reads a private key file that only the agent's user (and,
// with policy shared, its group and root) can read and replace. Without
// shared, a symbolic link is not followed. The checks are made on the
// open file, so that it cannot be swapped between the check and the read.
func readKeyFile(path string, policy keyPolicy) ([]byte, error) {
	flags := os.O_RDONLY | syscall.O_NONBLOCK // a FIFO planted there must not block
	if !policy.shared {
		flags |= syscall.O_NOFOLLOW
	}
	f, err := os.OpenFile(path, flags, 0)
	if errors.Is(err, syscall.ELOOP) {
		target, _ := os.Readlink(path)
		return nil, foreignLink(path, fmt.Sprintf("it is a symbolic link to %s, which this provider did not make", target))
	}
	if err != nil {
		return nil, err
	}
	defer f.Close() //nolint:errcheck // read only: a failed close loses nothing
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, policy.unsafe(path, fmt.Sprintf("it is not a regular file (%v)", fi.Mode().Type()))
	}
	if err := policy.check(path, fi); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxKeyFile {
		return nil, fmt.Errorf("key file %s is larger than %d KiB: not a private key", path, maxKeyFile>>10)
	}
	return data, nil
}

// check refuses a key file others than the agent's user can read or
// replace.
func (pol keyPolicy) check(path string, fi fs.FileInfo) error {
	if pol.insecure {
		return nil
	}
	mode := fi.Mode().Perm()
	if pol.shared {
		if mode&0o027 != 0 {
			return pol.unsafe(path, fmt.Sprintf("its mode %04o lets other users read it or its group write it", mode))
		}
		return pol.checkSharedOwner(path, fi)
	}
	want := pol.writtenPerm()
	switch {
	case mode&^want.Mode != 0 && want.Mode&0o077 == 0:
		return pol.unsafe(path, fmt.Sprintf("its mode %04o lets others than its owner read or write it", mode))
	case mode&^want.Mode != 0:
		return pol.unsafe(path, fmt.Sprintf("its mode %04o allows more than key_mode %04o", mode, want.Mode))
	}
	if ok, problem := want.Owns(fi); !ok {
		return pol.unsafe(path, problem)
	}
	return nil
}

// checkSharedOwner refuses a key managed elsewhere that belongs to
// another user than the agent's or root.
func (pol keyPolicy) checkSharedOwner(path string, fi fs.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil // no owner to check on this system
	}
	euid := uint32(os.Geteuid()) //nolint:gosec // G115: a uid is never negative on Unix
	if st.Uid != euid && st.Uid != 0 {
		return pol.unsafe(path, fmt.Sprintf("it belongs to uid %d, not to uid %d that the agent runs as", st.Uid, euid))
	}
	return nil
}

func (pol keyPolicy) unsafe(path, problem string) error {
	remedy := "remove it to have a new key made, or set key.allow_insecure_permissions"
	if pol.shared {
		remedy = "make it readable by its owner and group only, or set key.allow_insecure_permissions"
	}
	return &unsafeKeyError{file: path, problem: problem, remedy: remedy}
}

// Package fileperm is who may read the credential files the providers
// write: each output's owner, group and mode, as Athenz's siad sets them
// (a user and a group per service and per role). A workload in another
// UID reads its credentials through their group.
//
// A file gets its owner, group and mode before a byte of it is written,
// and a mode that lets others write, or others read a key, is refused.
package fileperm

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"gopkg.in/yaml.v3"

	"github.com/sia-agent/sia-agent/sdk"
)

// Mode is a file permission written in octal, e.g. "0640" or 0640.
type Mode os.FileMode

// UnmarshalYAML parses an octal permission.
func (m *Mode) UnmarshalYAML(n *yaml.Node) error {
	s := strings.TrimPrefix(strings.TrimPrefix(n.Value, "0o"), "0O")
	v, err := strconv.ParseUint(s, 8, 32)
	if err != nil || v > 0o777 {
		return fmt.Errorf("line %d: %q is not a file permission (write e.g. \"0640\")", n.Line, n.Value)
	}
	*m = Mode(v)
	return nil
}

// String writes the mode as it is configured: 0640.
func (m Mode) String() string { return fmt.Sprintf("%04o", uint32(m)) }

// CheckMode says what is wrong with mode for a file the agent writes and
// reads back: its owner must read it; nobody else may write it (files
// are replaced by rename, never written in place); nothing is executable;
// and a key (key true) is never readable by others than its owner and
// group.
func CheckMode(mode Mode, key bool) error {
	m := os.FileMode(mode)
	switch {
	case m&0o400 == 0:
		return fmt.Errorf("%v would not let the owner read the file", mode)
	case m&0o022 != 0:
		return fmt.Errorf("%v lets others than the owner write the file: a file the agent writes is its own", mode)
	case m&0o111 != 0:
		return fmt.Errorf("%v makes the file executable", mode)
	case key && m&0o004 != 0:
		return fmt.Errorf("%v lets any user read the private key: give its readers a group (group, and 0640)", mode)
	}
	return nil
}

// Owner is whom files are written for: a user and a group, each a name
// or a number; "" keeps the agent's own (or, for the group, the one the
// directory gives new files). Another user needs the agent to run as
// root (or with CAP_CHOWN); another group, that the agent be a member of
// it.
type Owner struct {
	User, Group string
}

// IDs resolves the names: -1 for an empty one.
func (o Owner) IDs() (uid, gid int, err error) {
	uid, gid = -1, -1
	if o.User != "" {
		if uid, err = lookup(o.User, func(n string) (string, error) {
			u, err := user.Lookup(n)
			if errors.As(err, new(user.UnknownUserError)) {
				return "", errors.New("no such user on this host")
			}
			if err != nil {
				return "", err
			}
			return u.Uid, nil
		}); err != nil {
			return -1, -1, fmt.Errorf("user %q: %w", o.User, err)
		}
	}
	if o.Group != "" {
		if gid, err = lookup(o.Group, func(n string) (string, error) {
			g, err := user.LookupGroup(n)
			if errors.As(err, new(user.UnknownGroupError)) {
				return "", errors.New("no such group on this host")
			}
			if err != nil {
				return "", err
			}
			return g.Gid, nil
		}); err != nil {
			return -1, -1, fmt.Errorf("group %q: %w", o.Group, err)
		}
	}
	return uid, gid, nil
}

// lookup is a number as it is, or what find says the name's number is.
func lookup(name string, find func(string) (string, error)) (int, error) {
	id := name
	if _, err := strconv.ParseUint(name, 10, 31); err != nil {
		if id, err = find(name); err != nil {
			return -1, err
		}
	}
	n, err := strconv.ParseUint(id, 10, 31)
	if err != nil {
		return -1, fmt.Errorf("%q is not a number", id)
	}
	return int(n), nil
}

// Perm is a file's mode, owner and group; UID and GID -1 leave them as
// the file is created.
type Perm struct {
	Mode     os.FileMode
	UID, GID int
}

// Private is a file for the agent's user alone.
func Private() Perm { return Perm{Mode: 0o600, UID: -1, GID: -1} }

func (p Perm) chowns() bool { return p.UID >= 0 || p.GID >= 0 }

// Apply gives the open file f p's owner, group and mode, in that order:
// with its mode last, a file is never readable by a group it is not
// meant for.
func (p Perm) Apply(f *os.File) error {
	if p.chowns() {
		if err := f.Chown(p.UID, p.GID); err != nil {
			return p.chownError(f.Name(), err)
		}
	}
	return f.Chmod(p.Mode)
}

// Lchown gives the link (or file) at path p's owner and group, not
// following a link.
func (p Perm) Lchown(path string) error {
	if !p.chowns() {
		return nil
	}
	if err := os.Lchown(path, p.UID, p.GID); err != nil {
		return p.chownError(path, err)
	}
	return nil
}

func (p Perm) chownError(path string, err error) error {
	if errors.Is(err, syscall.EPERM) {
		return fmt.Errorf("giving %s to uid %d, gid %d: %w (another user needs the agent to run as root or with CAP_CHOWN; "+
			"another group, that the agent's user be a member of it)", path, p.UID, p.GID, err)
	}
	return fmt.Errorf("giving %s to uid %d, gid %d: %w", path, p.UID, p.GID, err)
}

// DirMode is the mode of a directory holding files of the modes given:
// its owner's, and search (and listing) for each class that may read
// one of them.
func DirMode(modes ...os.FileMode) os.FileMode {
	d := os.FileMode(0o700)
	for _, m := range modes {
		if m&0o040 != 0 {
			d |= 0o050
		}
		if m&0o004 != 0 {
			d |= 0o005
		}
	}
	return d
}

// WriteFile replaces path with data, atomically, as sdk.WriteFileAtomic
// does (its temporary file name too, so that sdk.RemoveAtomicTemps clears
// what a crash left), the temporary file getting p's owner, group and
// mode before any byte is written.
func WriteFile(path string, data []byte, p Perm) error {
	if !p.chowns() {
		return sdk.WriteFileAtomic(path, data, p.Mode)
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".sia-tmp-*")
	if err != nil {
		return fmt.Errorf("creating temporary file for %s: %w", path, err)
	}
	defer func() { _ = os.Remove(tmp.Name()) }() // fails once renamed, as it should
	err = p.Apply(tmp)
	if err == nil {
		_, err = tmp.Write(data)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err == nil {
		err = sdk.SyncDir(dir)
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// Owns reports whether fi belongs to p's user (the agent's, -1) and, if
// p names one, p's group.
func (p Perm) Owns(fi fs.FileInfo) (ok bool, problem string) {
	st, isUnix := fi.Sys().(*syscall.Stat_t)
	if !isUnix {
		return true, "" // no owner to check on this system
	}
	uid, whose := p.UID, "the configured user"
	if uid < 0 {
		uid, whose = os.Geteuid(), "that the agent runs as"
	}
	if int(st.Uid) != uid {
		return false, fmt.Sprintf("it belongs to uid %d, not to uid %d %s", st.Uid, uid, whose)
	}
	if p.GID >= 0 && fi.Mode().Perm()&0o070 != 0 && int(st.Gid) != p.GID {
		return false, fmt.Sprintf("its group %d may read it, not the configured group %d", st.Gid, p.GID)
	}
	return true, ""
}

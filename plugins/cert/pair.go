package cert

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/hashicorp/go-hclog"

	"github.com/sia-agent/sia-agent/plugins/internal/fileperm"
	"github.com/sia-agent/sia-agent/sdk"
)

// pairFiles is a private key and the certificate issued for it, kept so
// that neither a reader nor a crash ever finds one beside a certificate
// that is not for it. The two names readers use are symbolic links into a
// generation directory next to the key, and a new pair is a new
// generation, switched to by the rename of one link:
//
//	service.key.pem  -> ..service.key.pem.data/service.key.pem
//	service.cert.pem -> ..service.key.pem.data/service.cert.pem
//	..service.key.pem.data -> ..service.key.pem.gen-8412009511625003721
//	..service.key.pem.gen-8412009511625003721/service.key.pem   (0600)
//	..service.key.pem.gen-8412009511625003721/service.cert.pem  (0644)
//
// Kubernetes updates secret volumes the same way. A reader that resolves
// the key's name and reads both files from the directory it resolves to
// gets one generation, whole; after a crash at any moment the names lead
// to the old pair or to the new one. The links are relative, so they hold
// wherever the directory is mounted.
type pairFiles struct {
	key, cert string     // the names readers use; base names differ
	perms     *filePerms // nil: the defaults
	log       hclog.Logger
}

// perm is the pair's modes and owner.
func (p pairFiles) perm() *filePerms { return permsOr(p.perms) }

const (
	dataSuffix = ".data"
	genInfix   = ".gen-"
	// linkTemp marks the links made to be renamed over a name.
	linkTemp = ".sia-link-tmp"
)

func (p pairFiles) dir() string      { return filepath.Dir(p.key) }
func (p pairFiles) prefix() string   { return ".." + filepath.Base(p.key) }
func (p pairFiles) dataLink() string { return filepath.Join(p.dir(), p.prefix()+dataSuffix) }

func (p pairFiles) keyTarget() string {
	return filepath.Join(p.prefix()+dataSuffix, filepath.Base(p.key))
}

func (p pairFiles) certTarget() (string, error) {
	return filepath.Rel(filepath.Dir(p.cert), filepath.Join(p.dataLink(), filepath.Base(p.cert)))
}

// isGeneration reports whether name is one of the pair's generations.
func (p pairFiles) isGeneration(name string) bool {
	n, ok := strings.CutPrefix(name, p.prefix()+genInfix)
	_, err := strconv.ParseUint(n, 10, 64)
	return ok && err == nil
}

// read returns the key and the certificate on disk, from one generation;
// nil for a file that is not there. The key must be a file policy accepts
// and, when its name is a link, one this provider made: anything else is
// an *unsafeKeyError. Files of an earlier layout (plain files) are read as
// they are.
func (p pairFiles) read(policy keyPolicy) (keyPEM, certPEM []byte, err error) {
	keyFile, certFile := p.key, p.cert
	fi, err := os.Lstat(p.key)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil, nil
	case err != nil:
		return nil, nil, err
	case fi.Mode()&fs.ModeSymlink != 0:
		gen, err := p.current()
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, nil // linked, but no generation was switched to yet
		}
		if err != nil {
			return nil, nil, err
		}
		keyFile = filepath.Join(p.dir(), gen, filepath.Base(p.key))
		certFile = filepath.Join(p.dir(), gen, filepath.Base(p.cert))
	}
	if keyPEM, err = readKeyFile(keyFile, policy); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, nil
		}
		return nil, nil, err
	}
	certPEM, err = os.ReadFile(certFile)
	if errors.Is(err, fs.ErrNotExist) {
		return keyPEM, nil, nil
	}
	return keyPEM, certPEM, err
}

// current is the generation the pair's names lead to. Links other than the
// ones this provider makes are an *unsafeKeyError.
func (p pairFiles) current() (string, error) {
	target, err := os.Readlink(p.key)
	if err != nil {
		return "", err
	}
	if target != p.keyTarget() {
		return "", foreignLink(p.key, fmt.Sprintf("it is a symbolic link to %s, which this provider did not make", target))
	}
	gen, err := os.Readlink(p.dataLink())
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", err
	case errors.Is(err, syscall.EINVAL):
		return "", foreignLink(p.key, fmt.Sprintf("it leads through %s, which is not a link this provider made", p.dataLink()))
	case err != nil:
		return "", err
	case !p.isGeneration(gen):
		return "", foreignLink(p.key, fmt.Sprintf("it leads through %s to %s, which this provider did not make", p.dataLink(), gen))
	}
	if fi, err := os.Lstat(filepath.Join(p.dir(), gen)); err != nil {
		return "", err
	} else if !fi.IsDir() {
		return "", foreignLink(p.key, fmt.Sprintf("it leads to %s, which is not a directory this provider made", gen))
	}
	return gen, nil
}

func foreignLink(path, problem string) error {
	return &unsafeKeyError{file: path, problem: problem,
		remedy: "remove it to have a new key made; a key the provider writes is never written or read through a link"}
}

// write makes keyPEM and certPEM the pair, as a new generation switched
// to in one rename. beforeSwitch, if not nil, runs when the generation is
// complete on disk (a fault point).
func (p pairFiles) write(keyPEM, certPEM []byte, beforeSwitch func() error) error {
	for _, dir := range []string{p.dir(), filepath.Dir(p.cert)} {
		if err := os.MkdirAll(dir, dirMode); err != nil {
			return fmt.Errorf("creating directory for %s: %w", p.key, err)
		}
	}
	if err := p.link(); err != nil {
		return err
	}
	gen, err := p.newGeneration(keyPEM, certPEM)
	if err != nil {
		return err
	}
	if beforeSwitch != nil {
		err = beforeSwitch()
	}
	if err == nil {
		err = p.switchTo(gen)
	}
	if err != nil {
		_ = os.RemoveAll(filepath.Join(p.dir(), gen)) // best effort: removeGenerations clears it later
		return err
	}
	p.removeGenerations(gen)
	return nil
}

// link makes the pair's names the links into the current generation. Plain
// files of an earlier layout are first copied into a generation of their
// own, so that the names turn into links without a reader seeing the pair
// change.
func (p pairFiles) link() error {
	certTarget, err := p.certTarget()
	if err != nil {
		return fmt.Errorf("linking %s into %s: %w", p.cert, p.dir(), err)
	}
	keyLinked, certLinked := isLink(p.key, p.keyTarget()), isLink(p.cert, certTarget)
	if keyLinked && certLinked {
		return nil
	}
	if !keyLinked && !certLinked {
		if keyPEM, certPEM, ok := p.readPlain(); ok {
			gen, err := p.newGeneration(keyPEM, certPEM)
			if err != nil {
				return err
			}
			if err := p.switchTo(gen); err != nil {
				return err
			}
		}
	}
	if !certLinked {
		if err := installLink(p.cert, certTarget, p.perm().cert); err != nil {
			return err
		}
	}
	if !keyLinked {
		return installLink(p.key, p.keyTarget(), p.perm().key)
	}
	return nil
}

// readPlain reads a pair of plain files, as an earlier layout left them.
func (p pairFiles) readPlain() (keyPEM, certPEM []byte, ok bool) {
	for _, f := range []string{p.key, p.cert} {
		if fi, err := os.Lstat(f); err != nil || !fi.Mode().IsRegular() {
			return nil, nil, false
		}
	}
	// Whatever its mode: it is only copied into a file of mode 0600.
	keyPEM, err := readKeyFile(p.key, keyPolicy{insecure: true})
	if err != nil {
		return nil, nil, false
	}
	if certPEM, err = os.ReadFile(p.cert); err != nil {
		return nil, nil, false
	}
	return keyPEM, certPEM, true
}

func isLink(path, target string) bool {
	t, err := os.Readlink(path)
	return err == nil && t == target
}

// newGeneration writes a generation directory holding the pair and
// returns its name.
func (p pairFiles) newGeneration(keyPEM, certPEM []byte) (string, error) {
	var gen string
	for {
		gen = p.prefix() + genInfix + strconv.FormatUint(rand.Uint64(), 10) //nolint:gosec // G404: a unique name, not a secret
		err := os.Mkdir(filepath.Join(p.dir(), gen), 0o700)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrExist) {
			return "", fmt.Errorf("creating a directory for %s: %w", p.key, err)
		}
	}
	dir := filepath.Join(p.dir(), gen)
	perm := p.perm()
	// Its owner first, then its mode (whatever the umask): those who may
	// read the key or the certificate pass through, nobody else.
	err := perm.key.Lchown(dir)
	if err == nil {
		err = os.Chmod(dir, fileperm.DirMode(perm.key.Mode, perm.cert.Mode))
	}
	if err == nil {
		err = writeNew(filepath.Join(dir, filepath.Base(p.key)), keyPEM, perm.key)
	}
	if err == nil {
		err = writeNew(filepath.Join(dir, filepath.Base(p.cert)), certPEM, perm.cert)
	}
	if err == nil {
		err = sdk.SyncDir(dir)
	}
	if err != nil {
		_ = os.RemoveAll(dir) // best effort: removeGenerations clears it later
		return "", err
	}
	return gen, nil
}

// writeNew creates path, which must not exist, with data, and syncs it.
// Its owner, group and mode are set before any byte is written.
func writeNew(path string, data []byte, perm fileperm.Perm) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	err = perm.Apply(f)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// switchTo points the data link at gen, in one rename.
func (p pairFiles) switchTo(gen string) error {
	if err := installLink(p.dataLink(), gen, p.perm().key); err != nil {
		return fmt.Errorf("switching %s to a new generation: %w", p.key, err)
	}
	return nil
}

// installLink makes path a link to target by renaming a new link over it:
// whatever was at path (a file, another link) is replaced, never written
// through. The link gets perm's owner and group: in a sticky directory
// the kernel follows only links of the directory's or the reader's owner.
func installLink(path, target string, perm fileperm.Perm) error {
	dir := filepath.Dir(path)
	tmp := filepath.Join(dir, "."+filepath.Base(path)+linkTemp)
	if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := os.Symlink(target, tmp); err != nil {
		return err
	}
	if err := perm.Lchown(tmp); err != nil {
		_ = os.Remove(tmp) // best effort: the next installLink removes it first
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp) // best effort: the next installLink removes it first
		return err
	}
	return sdk.SyncDir(dir)
}

// removeGenerations removes the pair's generations but keep, and the
// temporary links a crash left.
func (p pairFiles) removeGenerations(keep string) {
	entries, err := os.ReadDir(p.dir())
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	if err != nil {
		p.log.Warn("Could not list old key generations", "dir", p.dir(), "error", err)
		return
	}
	for _, e := range entries {
		if e.Name() == keep || !p.isGeneration(e.Name()) {
			continue
		}
		if err := os.RemoveAll(filepath.Join(p.dir(), e.Name())); err != nil {
			p.log.Warn("Could not remove an old key generation", "dir", e.Name(), "error", err)
		}
	}
}

// clean removes what a crash may have left: generations the pair does not
// lead to, and temporary links.
func (p pairFiles) clean() {
	for _, f := range []string{p.dataLink(), p.key, p.cert} {
		tmp := filepath.Join(filepath.Dir(f), "."+filepath.Base(f)+linkTemp)
		if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
			p.log.Warn("Could not remove a temporary link left by an earlier run", "file", tmp, "error", err)
		}
	}
	gen, err := os.Readlink(p.dataLink())
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return // not the provider's: read refuses it
	}
	p.removeGenerations(gen)
}

package token

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/sia-agent/sia-agent/plugins/internal/fileperm"
	"github.com/sia-agent/sia-agent/sdk"
)

// tokenFiles writes the targets' tokens to
// <dir>/<domain><delimiter><roles>.<accesstoken|roletoken> (or
// <domain>.<type> for a whole-domain token), as k8s-athenz-sia names them:
// the raw token, no trailing newline, replaced atomically.
type tokenFiles struct {
	dir       string
	perm      fileperm.Perm
	delimiter string

	mu      sync.Mutex
	written map[string]bool // paths written by this process
}

func newTokenFiles(c FilesConfig) *tokenFiles {
	if c.Dir == "" {
		return nil
	}
	return &tokenFiles{dir: c.Dir, perm: c.perm(), delimiter: c.Delimiter, written: make(map[string]bool)}
}

func (f *tokenFiles) path(k Key) string {
	name := k.Domain
	if k.Roles != "" {
		name += f.delimiter + k.Roles
	}
	return filepath.Join(f.dir, name+"."+k.Kind.String())
}

func (f *tokenFiles) write(k Key, t *Token) error {
	if err := os.MkdirAll(f.dir, 0o755); err != nil { //nolint:gosec // G301: readers are other users; each token file has its own mode
		return fmt.Errorf("creating the token directory: %w", err)
	}
	path := f.path(k)
	f.mu.Lock()
	first := !f.written[path]
	f.written[path] = true
	f.mu.Unlock()
	if first {
		// A crash of an earlier run may have left temporary files.
		_ = sdk.RemoveAtomicTemps(path)
	}
	if err := fileperm.WriteFile(path, []byte(t.Raw), f.perm); err != nil {
		return fmt.Errorf("writing token file: %w", err)
	}
	return nil
}

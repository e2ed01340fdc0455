package token

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/sia-agent/sia-agent/plugins/internal/filename"
	"github.com/sia-agent/sia-agent/plugins/internal/fileperm"
	"github.com/sia-agent/sia-agent/sdk"
)

// tokenFiles writes the targets' tokens to
// <dir>/<domain><delimiter><roles>.<accesstoken|roletoken> (or
// <domain>.<type> for a whole-domain token), as k8s-athenz-sia names them,
// or to the names a kind's template gives: the raw token, no trailing
// newline, replaced atomically.
type tokenFiles struct {
	dir       string
	names     map[kind]filename.Template // the kinds named by a template
	perm      fileperm.Perm
	delimiter string

	mu      sync.Mutex
	written map[string]bool // paths written by this process
}

// newTokenFiles returns the files c asks for, nil for none; c was
// validated.
func newTokenFiles(c FilesConfig) *tokenFiles {
	if !c.enabled() {
		return nil
	}
	f := &tokenFiles{dir: c.Dir, names: make(map[kind]filename.Template), perm: c.perm(),
		delimiter: c.Delimiter, written: make(map[string]bool)}
	for k, name := range map[kind]string{accessToken: c.AccessTokenName, roleToken: c.RoleTokenName} {
		if t, err := filename.Parse(name); err == nil && name != "" {
			f.names[k] = t
		}
	}
	return f
}

// path is the file of k's token, "" when its kind gets none.
func (f *tokenFiles) path(k Key) string {
	if t, ok := f.names[k.Kind]; ok {
		return t.Expand(k.Domain, k.Roles, f.delimiter)
	}
	if f.dir == "" {
		return ""
	}
	name := k.Domain
	if k.Roles != "" {
		name += f.delimiter + k.Roles
	}
	return filepath.Join(f.dir, name+"."+k.Kind.String())
}

func (f *tokenFiles) write(k Key, t *Token) error {
	path := f.path(k)
	if path == "" {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil { //nolint:gosec // G301: readers are other users; each token file has its own mode
		return fmt.Errorf("creating the token directory: %w", err)
	}
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

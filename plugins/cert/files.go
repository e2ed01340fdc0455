package cert

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/sia-agent/sia-agent/sdk"
)

// File modes: private keys are for the workload's user alone.
const (
	keyMode  os.FileMode = 0o600
	certMode os.FileMode = 0o644
	dirMode  os.FileMode = 0o755
)

// What the provider guarantees about its files, at every instant and after
// a crash at any moment (kill -9, power loss):
//
//   - No file is ever torn or empty: each is replaced whole by
//     sdk.WriteFileAtomic (temporary file, fsync, rename, fsync of the
//     directory).
//   - A key file is written only when its content changes. With the key
//     kept (key.rotate false, the default), a refresh replaces certificate
//     files only, so every key/certificate pair on disk (identity, and each
//     role certificate with the identity key or its own key file) always
//     matches: old and new certificates are for the same key.
//   - When the key does change (key.rotate true, a new key type, or a lost
//     key file), the key file is replaced first and its certificate right
//     after. Two renames cannot be one atomic step, so a crash between
//     them leaves a new key beside the old certificate; the next start
//     finds that pair mismatched and registers anew before anything else.

// writeIdentity writes a new identity: the key only if it changed, then
// the certificate, then the CA bundle if it changed.
func (p *Provider) writeIdentity(ctx context.Context, key *privateKey, certPEM, caPEM []byte) error {
	if !key.samePEM(p.keyOnDisk) {
		if err := writeFile(p.s.keyFile, key.pem, keyMode); err != nil {
			return err
		}
		p.keyOnDisk = key.pem
		// Where a crash leaves a new key beside the old certificate; the
		// end-to-end tests crash here to check the next start repairs it.
		if err := p.rt.Fault(ctx, "after identity key written"); err != nil {
			return err
		}
	}
	if err := writeFile(p.s.certFile, certPEM, certMode); err != nil {
		return err
	}
	if p.s.caCertFile != "" && len(caPEM) > 0 && !bytes.Equal(caPEM, p.caOnDisk) {
		if err := writeFile(p.s.caCertFile, caPEM, certMode); err != nil {
			return err
		}
		p.caOnDisk = caPEM
	}
	return nil
}

// writeRole writes a role certificate, after its key file (role_certs.
// key_output) if that does not hold key yet.
func (p *Provider) writeRole(c *credential, key *privateKey, certPEM []byte) error {
	if keyFile := p.s.roleKeyFile(*c.role); keyFile != "" && !key.samePEM(c.keyPEM) {
		if err := writeFile(keyFile, key.pem, keyMode); err != nil {
			return err
		}
		c.keyPEM = key.pem
	}
	return writeFile(p.s.roleCertFile(*c.role), certPEM, certMode)
}

func writeFile(path string, data []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), dirMode); err != nil {
		return fmt.Errorf("creating directory for %s: %w", path, err)
	}
	if err := sdk.WriteFileAtomic(path, data, mode); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// outputFiles are every file the provider may write.
func (p *Provider) outputFiles() []string {
	var files []string
	if !p.s.existing {
		files = append(files, p.s.keyFile, p.s.certFile)
		if p.s.caCertFile != "" {
			files = append(files, p.s.caCertFile)
		}
	}
	for _, t := range p.s.roles {
		files = append(files, p.s.roleCertFile(t))
		if f := p.s.roleKeyFile(t); f != "" {
			files = append(files, f)
		}
	}
	return files
}

// removeTemps clears the temporary files an earlier run left when it
// crashed mid-write.
func (p *Provider) removeTemps() {
	for _, f := range p.outputFiles() {
		if err := sdk.RemoveAtomicTemps(f); err != nil {
			p.log.Warn("Could not remove temporary files left by an earlier run", "file", f, "error", err)
		}
	}
}

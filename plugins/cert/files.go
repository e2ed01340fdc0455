package cert

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/sia-agent/sia-agent/plugins/internal/fileperm"
	"github.com/sia-agent/sia-agent/sdk"
)

// dirMode is that of the directories the provider creates for its
// files: readers pass through.
const dirMode os.FileMode = 0o755

// filePerms are the modes and owner of a key and of its certificate
// (files.user, group, key_mode, cert_mode).
type filePerms struct {
	key, cert fileperm.Perm
}

// defaultPerms are for files.* unset: keys for the agent's user alone,
// certificates for all.
func defaultPerms() *filePerms {
	return &filePerms{key: fileperm.Private(), cert: fileperm.Perm{Mode: 0o644, UID: -1, GID: -1}}
}

// What the provider guarantees about its files, at every instant and after
// a crash at any moment (kill -9, power loss):
//
//   - No file is ever torn or empty: each is replaced whole, by
//     sdk.WriteFileAtomic (temporary file, fsync, rename, fsync of the
//     directory) or, for a key and its certificate, as a new generation of
//     a pairFiles switched to by one rename.
//   - A key and its certificate (the identity; a role certificate with its
//     own key file) are only ever replaced together, so no crash leaves
//     them mismatched, and a reader that reads both through the directory
//     the key's name resolves to never sees them mismatched either.
//   - A combined file holds a key and its certificate in one file.
//   - A role certificate without a key file of its own is for the identity
//     key: when that key changes (key.rotate), the role certificate is
//     replaced as soon as ZTS issues the new one, and a crash in between
//     leaves it for the old key until the next start requests it anew.
//   - Nothing is written through a symbolic link: names are replaced by
//     rename, and a key file that is a link the provider did not make is
//     never read (keyfile.go).

// idPair is the identity's key and certificate (mode register).
func (p *Provider) idPair() pairFiles {
	return pairFiles{key: p.s.keyFile, cert: p.s.certFile, perms: p.s.idPerms, log: p.log}
}

// rolePair is a role's key and certificate (role_certs.key_output).
func (p *Provider) rolePair(t roleTarget) (pairFiles, bool) {
	keyFile := p.s.roleKeyFile(t)
	return pairFiles{key: keyFile, cert: p.s.roleCertFile(t), perms: p.s.rolePerms, log: p.log}, keyFile != ""
}

// writeIdentity writes a new identity: key and certificate as one
// generation, then the combined file and the CA bundle if it changed.
func (p *Provider) writeIdentity(ctx context.Context, key *privateKey, certPEM, caPEM []byte) error {
	// Where a crash leaves a complete new generation that the names do
	// not lead to yet; the end-to-end tests crash here to check that the
	// pair stays whole and the next start clears the generation.
	fault := func() error { return p.rt.Fault(ctx, "before identity switch") }
	if p.s.Files.CertChain {
		certPEM = appendPEM(certPEM, caPEM)
	}
	if err := p.idPair().write(key.pem, certPEM, fault); err != nil {
		return err
	}
	if err := writeCombined(p.s.combined, key, certPEM, p.s.idPerms); err != nil {
		return err
	}
	if err := p.writeCopies(key.pem, certPEM); err != nil {
		return err
	}
	if p.s.caCertFile != "" && len(caPEM) > 0 && !bytes.Equal(caPEM, p.caOnDisk) {
		if err := writeFile(p.s.caCertFile, caPEM, permsOr(p.s.idPerms).cert); err != nil {
			return err
		}
		p.caOnDisk = caPEM
	}
	return nil
}

// writeCopies writes the identity's key and certificate to the copies
// (files.key_copies, cert_copies) that do not hold them already.
func (p *Provider) writeCopies(keyPEM, certPEM []byte) error {
	perms := permsOr(p.s.idPerms)
	for _, c := range []struct {
		files []string
		data  []byte
		perm  fileperm.Perm
	}{{p.s.keyCopies, keyPEM, perms.key}, {p.s.certCopies, certPEM, perms.cert}} {
		for _, f := range c.files {
			if old, err := os.ReadFile(f); err == nil && bytes.Equal(old, c.data) {
				continue
			}
			if err := writeFile(f, c.data, c.perm); err != nil {
				return err
			}
		}
	}
	return nil
}

// appendPEM returns cert followed by chain, on a line of its own.
func appendPEM(cert, chain []byte) []byte {
	out := append([]byte(nil), cert...)
	if len(out) > 0 && out[len(out)-1] != '\n' {
		out = append(out, '\n')
	}
	return append(out, chain...)
}

// writeRole writes a role certificate, followed by the intermediate
// bundle if there is one: with its key file (role_certs.key_output) as one
// generation, else alone.
func (p *Provider) writeRole(c *credential, key *privateKey, certPEM, bundle []byte) error {
	certPEM = appendPEM(certPEM, bundle)
	if pair, ok := p.rolePair(*c.role); ok {
		if err := pair.write(key.pem, certPEM, nil); err != nil {
			return err
		}
		c.keyPEM = key.pem
	} else if err := writeFile(p.s.roleCertFile(*c.role), certPEM, permsOr(p.s.rolePerms).cert); err != nil {
		return err
	}
	return writeCombined(p.s.roleCombinedFile(*c.role), key, certPEM, p.s.rolePerms)
}

// permsOr is perms, or the defaults when none were resolved.
func permsOr(perms *filePerms) *filePerms {
	if perms == nil {
		return defaultPerms()
	}
	return perms
}

// writeCombined writes key and certificate in one file, if file is set,
// with the key's mode.
func writeCombined(file string, key *privateKey, certPEM []byte, perms *filePerms) error {
	if file == "" {
		return nil
	}
	return writeFile(file, append(append([]byte(nil), key.pem...), certPEM...), permsOr(perms).key)
}

func writeFile(path string, data []byte, perm fileperm.Perm) error {
	if err := os.MkdirAll(filepath.Dir(path), dirMode); err != nil {
		return fmt.Errorf("creating directory for %s: %w", path, err)
	}
	if err := fileperm.WriteFile(path, data, perm); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// filesOf are the files an update of c writes, for its status record.
func (p *Provider) filesOf(c *credential) []string {
	var files []string
	if c.role == nil {
		if !p.s.existing {
			files = append(files, p.s.keyFile, p.s.certFile, p.s.combined, p.s.caCertFile)
			files = append(append(files, p.s.keyCopies...), p.s.certCopies...)
		}
	} else {
		files = append(files, p.s.roleCertFile(*c.role), p.s.roleKeyFile(*c.role), p.s.roleCombinedFile(*c.role))
	}
	return slices.DeleteFunc(files, func(f string) bool { return f == "" })
}

// plainFiles are the files the provider writes with sdk.WriteFileAtomic.
func (p *Provider) plainFiles() []string {
	var files []string
	for _, f := range []string{p.s.caCertFile, p.s.combined} {
		if f != "" && !p.s.existing {
			files = append(files, f)
		}
	}
	files = append(append(files, p.s.keyCopies...), p.s.certCopies...)
	for _, t := range p.s.roles {
		if _, ok := p.rolePair(t); !ok {
			files = append(files, p.s.roleCertFile(t))
		}
		if f := p.s.roleCombinedFile(t); f != "" {
			files = append(files, f)
		}
	}
	return files
}

// pairs are the key and certificate pairs the provider writes.
func (p *Provider) pairs() []pairFiles {
	var pairs []pairFiles
	if !p.s.existing {
		pairs = append(pairs, p.idPair())
	}
	for _, t := range p.s.roles {
		if pair, ok := p.rolePair(t); ok {
			pairs = append(pairs, pair)
		}
	}
	return pairs
}

// removeTemps clears what an earlier run left when it crashed mid-write:
// temporary files, temporary links and generations no name leads to.
func (p *Provider) removeTemps() {
	files := p.plainFiles()
	for _, pair := range p.pairs() {
		pair.clean()
		// Files of an earlier layout, or of a crash before the switch to it.
		files = append(files, pair.key, pair.cert)
	}
	for _, f := range files {
		if err := sdk.RemoveAtomicTemps(f); err != nil {
			p.log.Warn("Could not remove temporary files left by an earlier run", "file", f, "error", err)
		}
	}
}

package cert

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/AthenZ/athenz/clients/go/zts"

	"github.com/sia-agent/sia-agent/plugins/internal/ztsclient"
	"github.com/sia-agent/sia-agent/sdk"
)

// identity is an identity certificate with its key: what the provider
// authenticates to ZTS with and what role certificates are issued for.
type identity struct {
	key     *privateKey
	leaf    *x509.Certificate
	certPEM []byte // the leaf alone, as files.cert holds it
	tls     *tls.Certificate
}

func newIdentity(key *privateKey, leaf *x509.Certificate, certPEM []byte) *identity {
	return &identity{
		key:     key,
		leaf:    leaf,
		certPEM: certPEM,
		tls:     &tls.Certificate{Certificate: [][]byte{leaf.Raw}, PrivateKey: key.signer, Leaf: leaf},
	}
}

// usable reports whether the identity can still authenticate at now.
func (id *identity) usable(now time.Time) bool {
	return id != nil && now.Before(id.leaf.NotAfter)
}

// checkIdentityCert reports why leaf is not the identity of the configured
// instance, in the form asked for, or nil.
func checkIdentityCert(leaf *x509.Certificate, r identityRequest) error {
	want := r.Domain + "." + r.Service
	if !strings.EqualFold(leaf.Subject.CommonName, want) {
		return fmt.Errorf("certificate is for %q, not %q", leaf.Subject.CommonName, want)
	}
	if err := checkSVIDForm(leaf, r.SVID); err != nil {
		return err
	}
	if r.SVID {
		if slices.ContainsFunc(leaf.DNSNames, func(n string) bool {
			return strings.EqualFold(n, instanceIDDNS(r.InstanceID, r.DNSSuffix))
		}) {
			return nil
		}
	} else {
		wantURI := instanceIDURI(r.Provider, r.InstanceID).String()
		if slices.ContainsFunc(leaf.URIs, func(u *url.URL) bool { return strings.EqualFold(u.String(), wantURI) }) {
			return nil
		}
	}
	return fmt.Errorf("certificate is not for instance %s of provider %s", r.InstanceID, r.Provider)
}

// checkSVIDForm reports a certificate that is not in the form asked for:
// with identity.x509_svid, an X.509-SVID has exactly one URI SAN, so that a
// certificate of the other form is requested anew.
func checkSVIDForm(leaf *x509.Certificate, svid bool) error {
	if svid && len(leaf.URIs) != 1 {
		return fmt.Errorf("certificate has %d URI SANs, and identity.x509_svid asks for an X.509-SVID, which has one", len(leaf.URIs))
	}
	return nil
}

// updateIdentity gets a new identity certificate from ZTS: by refresh over
// mTLS while the current identity is usable, by register otherwise (or
// when ZTS no longer knows the instance). It writes the files and makes
// the new identity current, and reports whether the key changed.
func (p *Provider) updateIdentity(ctx context.Context, c *credential) (keyChanged bool, err error) {
	key := p.key
	if p.s.Key.Rotate || key == nil || !key.fits(p.s.Key) {
		if key, err = generateKey(p.s.Key); err != nil {
			return false, err
		}
	}
	csr, err := p.idReq.csr(key)
	if err != nil {
		return false, err
	}
	attestation, err := readAttestation(p.s.attestation)
	if err != nil {
		return false, err
	}
	start := time.Now()
	resp, err := p.askIdentity(ctx, string(csr), attestation, start)
	c.rpc += time.Since(start)
	if err != nil {
		return false, err
	}

	leaf, certPEM, err := parseCertPEM([]byte(resp.X509Certificate))
	if err != nil {
		return false, fmt.Errorf("reading the identity certificate ZTS issued: %w", err)
	}
	if !key.matches(leaf) {
		return false, errors.New("ZTS issued an identity certificate for another key")
	}
	if err := p.writeIdentity(ctx, key, certPEM, []byte(resp.X509CertificateSigner)); err != nil {
		return false, err
	}
	keyChanged = p.key == nil || !bytes.Equal(p.key.pem, key.pem)
	p.key = key
	// The next call closes the connections made with the old identity.
	p.ident.Store(newIdentity(key, leaf, certPEM))
	c.leaf = leaf
	p.log.Info("Updated identity certificate", "file", p.s.certFile, "serial", leaf.SerialNumber.String(),
		"expiry", leaf.NotAfter.UTC().Format(time.RFC3339), "new_key", keyChanged)
	return keyChanged, nil
}

// askIdentity asks ZTS for an identity certificate for csr: a refresh
// while the current identity is usable at now, a register when there is
// none or ZTS refuses the refresh (the instance record is gone or
// revoked).
func (p *Provider) askIdentity(ctx context.Context, csr, attestation string, now time.Time) (*zts.InstanceIdentity, error) {
	var expiry *int32
	if m := int32(p.s.Identity.Expiry.Std() / time.Minute); m > 0 { //nolint:gosec // G115: a Duration is under 2^63 ns, 1.6e8 minutes
		expiry = &m
	}
	if p.ident.Load().usable(now) {
		call := p.zts.Call(ctx, opRefresh)
		resp, err := call.PostInstanceRefreshInformation(
			zts.ServiceName(p.idReq.Provider), zts.DomainName(p.idReq.Domain), zts.SimpleName(p.idReq.Service),
			zts.PathElement(p.idReq.InstanceID),
			&zts.InstanceRefreshInformation{AttestationData: attestation, Csr: csr, ExpiryTime: expiry})
		switch {
		case err == nil && resp != nil:
			return resp, nil
		case err != nil:
			failed := call.Fail("PostInstanceRefreshInformation", err)
			if code := failed.Status; code != http.StatusForbidden && code != http.StatusUnauthorized {
				return nil, failed
			}
			p.log.Warn("ZTS refused to refresh the identity; registering the instance again", "error", failed)
		}
	}
	call := p.zts.Call(ctx, opRegister)
	resp, _, err := call.PostInstanceRegisterInformation(&zts.InstanceRegisterInformation{
		Provider: zts.ServiceName(p.idReq.Provider), Domain: zts.DomainName(p.idReq.Domain),
		Service: zts.SimpleName(p.idReq.Service), AttestationData: attestation, Csr: csr, ExpiryTime: expiry,
	})
	switch {
	case err != nil:
		return nil, call.Fail("PostInstanceRegisterInformation", err)
	case resp == nil:
		return nil, ztsclient.Malformed("PostInstanceRegisterInformation", "an empty answer")
	}
	return resp, nil
}

// readAttestation reads the attestation data (e.g. a service account
// token) afresh: it may have been rotated since the last call.
func readAttestation(file string) (string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("reading attestation data: %w", err)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return "", fmt.Errorf("attestation data file %s is empty", file)
	}
	return string(data), nil
}

// deleteInstance deletes the instance record at ZTS, so that the identity
// cannot be refreshed any more.
func (p *Provider) deleteInstance(ctx context.Context) error {
	if !p.ident.Load().usable(time.Now()) {
		return errors.New("no usable identity to authenticate with")
	}
	call := p.zts.Call(ctx, opDelete)
	err := call.DeleteInstanceIdentity(
		zts.ServiceName(p.idReq.Provider), zts.DomainName(p.idReq.Domain), zts.SimpleName(p.idReq.Service),
		zts.PathElement(p.idReq.InstanceID))
	if err != nil {
		return call.Fail("DeleteInstanceIdentity", err)
	}
	return nil
}

// existingFiles is an identity managed elsewhere (mode existing): a key
// file and a certificate file that another process replaces. The key may
// be read through links and be readable by its group (keyPolicy.shared).
type existingFiles struct {
	keyFile, certFile string
	insecure          bool // key.allow_insecure_permissions

	mu      sync.Mutex
	stamps  [2]fileStamp
	current *identity
}

// fileStamp is what tells a replaced file apart cheaply: its identity
// (device and inode, which an atomic replacement changes), size and
// modification time (which an in-place rewrite changes, at the clock
// granularity of the file system).
type fileStamp struct{ fi os.FileInfo }

func stampOf(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	return fileStamp{fi}, err
}

func (a fileStamp) same(b fileStamp) bool {
	return a.fi != nil && b.fi != nil && os.SameFile(a.fi, b.fi) &&
		a.fi.Size() == b.fi.Size() && a.fi.ModTime().Equal(b.fi.ModTime())
}

// check reloads the pair when either file changed since the last load. It
// returns the current identity and whether it changed. A pair that does
// not match (another process is half-way through replacing it) is an
// error, and the previous identity stays current.
func (e *existingFiles) check() (id *identity, changed bool, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	ks, err := stampOf(e.keyFile)
	if err != nil {
		return e.current, false, fmt.Errorf("reading identity key: %w", err)
	}
	cs, err := stampOf(e.certFile)
	if err != nil {
		return e.current, false, fmt.Errorf("reading identity certificate: %w", err)
	}
	if e.current != nil && ks.same(e.stamps[0]) && cs.same(e.stamps[1]) {
		return e.current, false, nil
	}
	keyPEM, err := readKeyFile(e.keyFile, keyPolicy{shared: true, insecure: e.insecure})
	if err != nil {
		return e.current, false, fmt.Errorf("reading identity key: %w", err)
	}
	certPEM, err := os.ReadFile(e.certFile)
	if err != nil {
		return e.current, false, fmt.Errorf("reading identity certificate: %w", err)
	}
	key, err := parseKey(keyPEM)
	if err != nil {
		return e.current, false, fmt.Errorf("reading identity key %s: %w", e.keyFile, err)
	}
	leaf, leafPEM, err := parseCertPEM(certPEM)
	if err != nil {
		return e.current, false, fmt.Errorf("reading identity certificate %s: %w", e.certFile, err)
	}
	if !key.matches(leaf) {
		return e.current, false, fmt.Errorf("identity key %s and certificate %s do not match", e.keyFile, e.certFile)
	}
	e.stamps = [2]fileStamp{ks, cs}
	if e.current != nil && bytes.Equal(e.current.certPEM, leafPEM) && e.current.key.samePEM(keyPEM) {
		return e.current, false, nil // touched, not changed
	}
	e.current = newIdentity(key, leaf, leafPEM)
	return e.current, true, nil
}

// checkExisting is the identity "update" in mode existing: it picks up a
// replaced pair, and fails when the current one expired and nobody
// replaced it. It reports whether the key changed.
func (p *Provider) checkExisting(c *credential) (keyChanged bool, err error) {
	prev := p.ident.Load()
	id, changed, err := p.existing.check()
	if err != nil {
		return false, err
	}
	if !changed {
		c.reason = sdk.ReasonIsGood
		if !id.usable(time.Now()) {
			return false, fmt.Errorf("identity certificate %s expired at %v and was not replaced", p.s.certFile, id.leaf.NotAfter.UTC().Format(time.RFC3339))
		}
		return false, nil
	}
	if prev != nil {
		c.reason = sdk.ReasonParamsChange
	}
	p.ident.Store(id) // the next call closes the connections made with the old one
	c.leaf = id.leaf
	keyChanged = prev == nil || !bytes.Equal(prev.key.pem, id.key.pem)
	p.log.Info("Loaded identity certificate", "file", p.s.certFile, "serial", id.leaf.SerialNumber.String(),
		"expiry", id.leaf.NotAfter.UTC().Format(time.RFC3339), "new_key", keyChanged)
	if !id.usable(time.Now()) {
		return keyChanged, fmt.Errorf("identity certificate %s expired at %v", p.s.certFile, id.leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	return keyChanged, nil
}

package cert

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/AthenZ/athenz/clients/go/zts"

	"github.com/sia-agent/sia-agent/plugins/internal/ztsclient"
)

// updateRoles requests the role certificates of creds concurrently, at
// most role_certs.concurrency at a time, with identity as the client
// certificate and its key as theirs. Each that succeeds is written at
// once: one role's failure does not hold the others back. It returns the
// credentials that failed, each with its error.
func (p *Provider) updateRoles(ctx context.Context, creds []*credential, id *identity, done func(*credential)) []*credential {
	if len(creds) == 0 {
		return nil
	}
	p.log.Debug("Requesting role certificates", "targets", roleNames(creds))
	bundle, err := p.intermediates(ctx)
	if err != nil {
		p.log.Warn("Error while fetching the intermediate certificate bundle", "bundle", p.s.RoleCerts.IntermediateBundle, "error", err)
		for _, c := range creds {
			c.err = err
		}
		return creds
	}
	var (
		mu     sync.Mutex
		failed []*credential
		wg     sync.WaitGroup
		sem    = make(chan struct{}, p.s.RoleCerts.Concurrency)
	)
	for _, c := range creds {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			err := p.updateRole(ctx, c, id, bundle)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				c.err = err
				failed = append(failed, c)
				p.log.Warn("Error while requesting x509 role certificate", "target", c.role.String(), "error", err)
				return
			}
			done(c)
		}()
	}
	wg.Wait()
	return failed
}

// intermediates fetches the CA bundle role_certs.intermediate_bundle
// names, nil when it names none. It must hold certificates: an empty or
// broken bundle appended would break every role certificate file.
func (p *Provider) intermediates(ctx context.Context) ([]byte, error) {
	name := p.s.RoleCerts.IntermediateBundle
	if name == "" {
		return nil, nil
	}
	call := p.zts.Call(ctx, opCACerts)
	resp, err := call.GetCertificateAuthorityBundle(zts.SimpleName(name))
	if err != nil {
		return nil, fmt.Errorf("fetching CA bundle %s: %w", name, call.Fail("GetCertificateAuthorityBundle", err))
	}
	if resp == nil || !holdsCerts([]byte(resp.Certs)) {
		return nil, fmt.Errorf("fetching CA bundle %s: %w", name,
			ztsclient.Malformed("GetCertificateAuthorityBundle", "no PEM certificates in the bundle"))
	}
	return []byte(resp.Certs), nil
}

// holdsCerts reports whether data is PEM certificates and nothing else.
func holdsCerts(data []byte) bool {
	n := 0
	for rest := data; ; n++ {
		var block *pem.Block
		if block, rest = pem.Decode(rest); block == nil {
			return n > 0 && len(bytes.TrimSpace(rest)) == 0
		}
		if _, err := x509.ParseCertificate(block.Bytes); block.Type != "CERTIFICATE" || err != nil {
			return false
		}
	}
}

// updateRole gets and writes one role certificate, bundle appended.
func (p *Provider) updateRole(ctx context.Context, c *credential, id *identity, bundle []byte) error {
	if !id.usable(time.Now()) {
		return fmt.Errorf("requesting role certificate %s: no usable identity certificate", c.role)
	}
	req := roleRequest{Target: *c.role, IPs: p.s.ips, Subject: p.s.Identity.Subject,
		SVID: p.s.Identity.X509SVID, EmailSuffix: p.s.Identity.DNSSuffix}
	csr, err := req.csr(id.key, id.leaf)
	if err != nil {
		return err
	}
	start := time.Now()
	call := p.zts.Call(ctx, opRoleCert)
	resp, err := call.PostRoleCertificateRequestExt(&zts.RoleCertificateRequest{
		Csr:        string(csr),
		ExpiryTime: int64(p.s.RoleCerts.Expiry.Std() / time.Minute),
	})
	c.rpc += time.Since(start)
	if err != nil {
		return fmt.Errorf("requesting role certificate %s: %w", c.role, call.Fail("PostRoleCertificateRequestExt", err))
	}
	leaf, certPEM, err := parseCertPEM([]byte(resp.X509Certificate))
	if err != nil {
		return fmt.Errorf("reading the role certificate %s ZTS issued: %w", c.role, err)
	}
	if !id.key.matches(leaf) || !strings.EqualFold(leaf.Subject.CommonName, c.role.String()) {
		return fmt.Errorf("ZTS issued a role certificate for %s that is not the one asked for", leaf.Subject.CommonName)
	}
	if err := p.writeRole(c, id.key, certPEM, bundle); err != nil {
		return err
	}
	c.leaf = leaf
	p.log.Info("Updated role certificate", "target", c.role.String(), "file", p.s.roleCertFile(*c.role),
		"serial", leaf.SerialNumber.String(), "expiry", leaf.NotAfter.UTC().Format(time.RFC3339))
	return nil
}

func roleNames(creds []*credential) []string {
	names := make([]string, 0, len(creds))
	for _, c := range creds {
		names = append(names, c.role.String())
	}
	return names
}

// joinErrors joins errs on one line, for a log line and a status record.
func joinErrors(errs []error) error {
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	return multiError(errs)
}

type multiError []error

func (m multiError) Error() string {
	msgs := make([]string, len(m))
	for i, err := range m {
		msgs[i] = err.Error()
	}
	return strings.Join(msgs, "; ")
}

func (m multiError) Unwrap() []error { return m }

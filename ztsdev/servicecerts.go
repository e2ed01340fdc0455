package ztsdev

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/sia-agent/sia-agent/sdk"
)

// ServiceCertsDir is the state dir subdirectory of ready-made identities.
const ServiceCertsDir = "service-certs"

const (
	serviceCertValidity    = 30 * 24 * time.Hour
	serviceCertRenewBefore = 24 * time.Hour
)

// ServiceCertFiles returns where Options.ServiceCerts puts the identity of
// principal ("domain.service") in stateDir.
func ServiceCertFiles(stateDir, principal string) (certFile, keyFile string) {
	dir := filepath.Join(stateDir, ServiceCertsDir)
	return filepath.Join(dir, principal+".cert.pem"), filepath.Join(dir, principal+".key.pem")
}

// writeServiceCerts gives every configured service a key and identity
// certificate in the state dir, like the root token of `vault server -dev`:
// a client can authenticate before any cert provider has run. Existing
// ones are kept while they verify and are not about to expire.
func (s *Server) writeServiceCerts(cfg *Config) (written []string, err error) {
	if err := os.MkdirAll(filepath.Join(s.opts.StateDir, ServiceCertsDir), 0o700); err != nil {
		return nil, fmt.Errorf("creating service cert dir: %w", err)
	}
	now := time.Now()
	for _, d := range cfg.Domains {
		for _, svc := range d.Services {
			principal := d.Name + "." + svc.Name
			certFile, keyFile := ServiceCertFiles(s.opts.StateDir, principal)
			if s.serviceCertUsable(certFile, keyFile, principal, now) {
				continue
			}
			certPEM, keyPEM, err := s.MintCert(CertSpec{Principal: principal, Validity: serviceCertValidity})
			if err != nil {
				return written, err
			}
			if err := sdk.WriteFileAtomic(keyFile, keyPEM, 0o600); err != nil {
				return written, err
			}
			if err := sdk.WriteFileAtomic(certFile, certPEM, 0o644); err != nil {
				return written, err
			}
			written = append(written, principal)
		}
	}
	return written, nil
}

func (s *Server) serviceCertUsable(certFile, keyFile, principal string, now time.Time) bool {
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil || pair.Leaf == nil {
		return false
	}
	leaf := pair.Leaf
	if leaf.Subject.CommonName != principal || now.Add(serviceCertRenewBefore).After(leaf.NotAfter) {
		return false
	}
	pool := x509.NewCertPool()
	pool.AddCert(s.keys.caCert)
	_, err = leaf.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	return err == nil
}

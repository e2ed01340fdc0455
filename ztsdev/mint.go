package ztsdev

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// CertSpec describes a certificate to mint directly with the dev CA,
// without going through the API: for tests and tools that need a client
// identity before any cert provider has run.
type CertSpec struct {
	// Principal is "domain.service". Required.
	Principal string
	// Role, as "domain:role.name", mints a role certificate for Principal
	// (CN = Role, SAN URI athenz://principal/<Principal>) instead of an
	// identity certificate.
	Role string
	// Provider and InstanceID, together, add the SAN URI
	// athenz://instanceid/<Provider>/<InstanceID> to an identity
	// certificate and store a cert record, so that the instance can
	// refresh as if it had registered.
	Provider   string
	InstanceID string
	// Validity defaults to one hour.
	Validity time.Duration
}

// MintCert generates an ECDSA P-256 key and a certificate for spec signed
// by the dev CA, and returns both PEM-encoded. Config membership is not
// consulted.
func (s *Server) MintCert(spec CertSpec) (certPEM, keyPEM []byte, err error) {
	principal := strings.ToLower(spec.Principal)
	if _, _, ok := splitServiceName(principal); !ok || !isServiceName(principal) {
		return nil, nil, fmt.Errorf("minting cert: principal %q is not domain.service", spec.Principal)
	}
	if (spec.Provider == "") != (spec.InstanceID == "") {
		return nil, nil, errors.New("minting cert: Provider and InstanceID go together")
	}
	validity := spec.Validity
	if validity <= 0 {
		validity = time.Hour
	}

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("minting cert: generating key: %w", err)
	}
	csr, usage, err := mintCSR(key, principal, spec)
	if err != nil {
		return nil, nil, fmt.Errorf("minting cert: %w", err)
	}
	now := time.Now()
	cert, certStr, err := s.keys.issue(csr, usage, validity, now)
	if err != nil {
		return nil, nil, fmt.Errorf("minting cert: %w", err)
	}
	if spec.InstanceID != "" && spec.Role == "" {
		rec := &certRecord{
			Provider: strings.ToLower(spec.Provider), InstanceID: spec.InstanceID, Service: principal,
			CurrentSerial: cert.SerialNumber.String(), Expiry: cert.NotAfter, Updated: now,
		}
		if err := s.records.update(rec.key(), func(*certRecord) (*certRecord, error) { return rec, nil }); err != nil {
			return nil, nil, fmt.Errorf("minting cert: storing cert record: %w", err)
		}
	}
	keyPEM, err = marshalKeyPEM(key)
	if err != nil {
		return nil, nil, fmt.Errorf("minting cert: %w", err)
	}
	return []byte(certStr), keyPEM, nil
}

// mintCSR is the request MintCert issues from: for the principal, or for
// spec's role on its behalf, with spec's instance ID if any.
func mintCSR(key *ecdsa.PrivateKey, principal string, spec CertSpec) (*x509.CertificateRequest, certUsage, error) {
	tmpl := &x509.CertificateRequest{Subject: pkix.Name{CommonName: principal}}
	usage := usageClientServer
	if spec.Role != "" {
		if _, _, ok := splitRoleName(strings.ToLower(spec.Role)); !ok {
			return nil, 0, fmt.Errorf("role %q is not domain:role.name", spec.Role)
		}
		tmpl.Subject.CommonName = strings.ToLower(spec.Role)
		tmpl.URIs = append(tmpl.URIs, &url.URL{Scheme: "athenz", Host: "principal", Path: "/" + principal})
		usage = usageClient
	}
	if spec.InstanceID != "" {
		tmpl.URIs = append(tmpl.URIs, &url.URL{Scheme: "athenz", Host: "instanceid", Path: "/" + spec.Provider + "/" + spec.InstanceID})
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		return nil, 0, fmt.Errorf("creating CSR: %w", err)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, 0, fmt.Errorf("parsing CSR: %w", err)
	}
	return csr, usage, nil
}

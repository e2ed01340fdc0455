package ztsdev

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// certUsage selects the extended key usages of an issued certificate.
type certUsage int

const (
	// usageClientServer is what ZTS issues for identity certificates.
	usageClientServer certUsage = iota
	// usageClient is what ZTS issues for role certificates.
	usageClient
)

func (u certUsage) extKeyUsage() []x509.ExtKeyUsage {
	if u == usageClient {
		return []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	return []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth}
}

// parseCSR decodes and verifies a PEM PKCS#10 request.
func parseCSR(csrPEM string) (*x509.CertificateRequest, error) {
	block, _ := pem.Decode([]byte(csrPEM))
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	if block.Type != "CERTIFICATE REQUEST" && block.Type != "NEW CERTIFICATE REQUEST" {
		return nil, fmt.Errorf("PEM block is %q, want CERTIFICATE REQUEST", block.Type)
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, err
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("checking CSR signature: %w", err)
	}
	return csr, nil
}

// issue signs a certificate for csr with the ZTS profile
// (Crypto.generateX509Certificate): subject and every SAN copied from the
// CSR, CA:false, digitalSignature|keyEncipherment, and the usage's EKUs.
// SAN URIs must survive: refresh needs athenz://instanceid/... and role
// certificate principals come from athenz://principal/....
func (km *keyMaterial) issue(csr *x509.CertificateRequest, usage certUsage, validity time.Duration, now time.Time) (*x509.Certificate, string, error) {
	serial, err := newSerial()
	if err != nil {
		return nil, "", err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		RawSubject:            csr.RawSubject,
		NotBefore:             now,
		NotAfter:              now.Add(validity),
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:           usage.extKeyUsage(),
		DNSNames:              csr.DNSNames,
		IPAddresses:           csr.IPAddresses,
		EmailAddresses:        csr.EmailAddresses,
		URIs:                  csr.URIs,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, km.caCert, csr.PublicKey, km.caKey)
	if err != nil {
		return nil, "", fmt.Errorf("signing certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, "", fmt.Errorf("parsing issued certificate: %w", err)
	}
	return cert, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), nil
}

// serialLimit keeps serials positive and within the 20 octets RFC 5280
// allows, like ZTS's random 160-bit serials.
var serialLimit = new(big.Int).Lsh(big.NewInt(1), 159)

func newSerial() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, serialLimit)
	if err != nil {
		return nil, fmt.Errorf("generating serial number: %w", err)
	}
	return n.Add(n, big.NewInt(1)), nil
}

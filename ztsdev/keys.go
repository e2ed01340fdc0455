package ztsdev

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/sia-agent/sia-agent/sdk"
)

// Files in the state directory. Private keys are 0600.
const (
	CAFileName         = "ca.pem"
	caKeyFileName      = "ca.key.pem"
	serverCertFileName = "server.pem"
	serverKeyFileName  = "server.key.pem"
	signingKeyFileName = "signing.key.pem"
	athenzConfFileName = "athenz.conf"
	recordsFileName    = "certrecords.json"
)

const (
	caValidity     = 10 * 365 * 24 * time.Hour
	serverValidity = 365 * 24 * time.Hour
	// serverRenewBefore regenerates the server cert at start when it would
	// expire within this window, so a long-lived state dir keeps working.
	serverRenewBefore = 7 * 24 * time.Hour
)

// keyMaterial is everything generated on first start and reused after.
// It is immutable once loaded.
type keyMaterial struct {
	caCert     *x509.Certificate
	caKey      *ecdsa.PrivateKey
	caPEM      []byte
	caFile     string
	serverCert tls.Certificate
	signingKey *ecdsa.PrivateKey
	// signingKeyTime is when the signing key was created (its file's
	// mtime): the "modified" time of the athenzJWK config.
	signingKeyTime time.Time
}

// loadOrCreateKeys loads the CA, the server certificate and the token
// signing key from dir, generating whatever is missing. hosts are the names
// the server certificate must cover.
func loadOrCreateKeys(dir string, hosts []string, now time.Time) (created []string, km *keyMaterial, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("creating state dir: %w", err)
	}
	km = &keyMaterial{caFile: filepath.Join(dir, CAFileName)}

	caNew, err := km.loadOrCreateCA(dir, now)
	if err != nil {
		return nil, nil, err
	}
	if caNew {
		created = append(created, CAFileName)
	}
	serverNew, err := km.loadOrCreateServerCert(dir, hosts, now, caNew)
	if err != nil {
		return nil, nil, err
	}
	if serverNew {
		created = append(created, serverCertFileName)
	}
	signingNew, err := km.loadOrCreateSigningKey(dir)
	if err != nil {
		return nil, nil, err
	}
	if signingNew {
		created = append(created, signingKeyFileName)
	}
	return created, km, nil
}

func (km *keyMaterial) loadOrCreateCA(dir string, now time.Time) (created bool, err error) {
	certPath, keyPath := filepath.Join(dir, CAFileName), filepath.Join(dir, caKeyFileName)
	certPEM, certErr := os.ReadFile(certPath)
	keyPEM, keyErr := os.ReadFile(keyPath)
	switch {
	case certErr == nil && keyErr == nil:
		cert, err := parseCertPEM(certPEM)
		if err != nil {
			return false, fmt.Errorf("loading CA cert %s: %w", certPath, err)
		}
		key, err := parseECKeyPEM(keyPEM)
		if err != nil {
			return false, fmt.Errorf("loading CA key %s: %w", keyPath, err)
		}
		if !key.PublicKey.Equal(cert.PublicKey) {
			return false, fmt.Errorf("CA key %s does not match CA cert %s", keyPath, certPath)
		}
		km.caCert, km.caKey, km.caPEM = cert, key, certPEM
		return false, nil
	case errors.Is(certErr, fs.ErrNotExist) && errors.Is(keyErr, fs.ErrNotExist):
	default:
		// Regenerating half a CA would silently invalidate every
		// credential issued so far; make the operator decide.
		return false, fmt.Errorf("state dir %s is inconsistent: need both %s and %s or neither (%w; %w)",
			dir, CAFileName, caKeyFileName, certErr, keyErr)
	}
	return true, km.createCA(certPath, keyPath, now)
}

// createCA makes a new CA and writes its key and certificate.
func (km *keyMaterial) createCA(certPath, keyPath string, now time.Time) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("generating CA key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "zts-dev CA", Organization: []string{"zts-dev"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(caValidity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return fmt.Errorf("creating CA cert: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return fmt.Errorf("parsing new CA cert: %w", err)
	}
	keyPEM, err := marshalKeyPEM(key)
	if err != nil {
		return err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	// Key first: a cert without its key would be reported as inconsistent.
	if err := sdk.WriteFileAtomic(keyPath, keyPEM, 0o600); err != nil {
		return err
	}
	if err := sdk.WriteFileAtomic(certPath, certPEM, 0o644); err != nil {
		return err
	}
	km.caCert, km.caKey, km.caPEM = cert, key, certPEM
	return nil
}

func (km *keyMaterial) loadOrCreateServerCert(dir string, hosts []string, now time.Time, force bool) (created bool, err error) {
	certPath, keyPath := filepath.Join(dir, serverCertFileName), filepath.Join(dir, serverKeyFileName)
	if !force {
		if pair, err := tls.LoadX509KeyPair(certPath, keyPath); err == nil && km.serverCertUsable(pair, hosts, now) {
			km.serverCert = pair
			return false, nil
		}
	}

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return false, fmt.Errorf("generating server key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return false, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "zts-dev", Organization: []string{"zts-dev"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(serverValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, km.caCert, &key.PublicKey, km.caKey)
	if err != nil {
		return false, fmt.Errorf("creating server cert: %w", err)
	}
	keyPEM, err := marshalKeyPEM(key)
	if err != nil {
		return false, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := sdk.WriteFileAtomic(keyPath, keyPEM, 0o600); err != nil {
		return false, err
	}
	if err := sdk.WriteFileAtomic(certPath, certPEM, 0o644); err != nil {
		return false, err
	}
	km.serverCert, err = tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return false, fmt.Errorf("loading new server cert: %w", err)
	}
	return true, nil
}

// serverCertUsable reports whether a stored server cert is signed by the
// current CA, covers every host and is not about to expire.
func (km *keyMaterial) serverCertUsable(pair tls.Certificate, hosts []string, now time.Time) bool {
	leaf := pair.Leaf
	if leaf == nil || now.Add(serverRenewBefore).After(leaf.NotAfter) {
		return false
	}
	if leaf.CheckSignatureFrom(km.caCert) != nil {
		return false
	}
	for _, h := range hosts {
		if leaf.VerifyHostname(h) != nil {
			return false
		}
	}
	return true
}

func (km *keyMaterial) loadOrCreateSigningKey(dir string) (created bool, err error) {
	path := filepath.Join(dir, signingKeyFileName)
	keyPEM, err := os.ReadFile(path)
	if err == nil {
		key, err := parseECKeyPEM(keyPEM)
		if err != nil {
			return false, fmt.Errorf("loading signing key %s: %w", path, err)
		}
		fi, err := os.Stat(path)
		if err != nil {
			return false, fmt.Errorf("reading signing key time: %w", err)
		}
		km.signingKey, km.signingKeyTime = key, fi.ModTime()
		return false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("reading signing key: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return false, fmt.Errorf("generating signing key: %w", err)
	}
	keyPEM, err = marshalKeyPEM(key)
	if err != nil {
		return false, err
	}
	if err := sdk.WriteFileAtomic(path, keyPEM, 0o600); err != nil {
		return false, err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return false, fmt.Errorf("reading signing key time: %w", err)
	}
	km.signingKey, km.signingKeyTime = key, fi.ModTime()
	return true, nil
}

// serverHosts is the set of names the server certificate covers: loopback
// always, plus the configured or listen host.
func serverHosts(extra ...string) []string {
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	for _, h := range extra {
		if h != "" && !slices.Contains(hosts, h) {
			hosts = append(hosts, h)
		}
	}
	return hosts
}

func marshalKeyPEM(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encoding private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func parseECKeyPEM(data []byte) (*ecdsa.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	var key any
	var err error
	switch block.Type {
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	}
	if err != nil {
		return nil, err
	}
	ec, ok := key.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("key is %T, want ECDSA", key)
	}
	return ec, nil
}

func parseCertPEM(data []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("no CERTIFICATE PEM block")
	}
	return x509.ParseCertificate(block.Bytes)
}

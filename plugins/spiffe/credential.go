package spiffe

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/sia-agent/sia-agent/plugins/internal/pemkey"
)

// credential is a key and its certificate chain, as both APIs serve them.
type credential struct {
	name   string              // "identity" or <domain>:role.<role>
	chain  []*x509.Certificate // the leaf, then the intermediates that issued it
	key    crypto.Signer
	keyDER []byte // PKCS#8, as the Workload API carries it
	// id is the certificate's SPIFFE ID; zero when it has none.
	id spiffeid.ID
	// notSVID says why the certificate is no X.509-SVID, which the
	// Workload API does not serve; nil when it is one.
	notSVID error
}

func (c *credential) leaf() *x509.Certificate { return c.chain[0] }

// chainDER is the chain as the Workload API carries it: DER certificates
// one after the other, the leaf first.
func (c *credential) chainDER() []byte {
	var b []byte
	for _, cert := range c.chain {
		b = append(b, cert.Raw...)
	}
	return b
}

// chainPEM and keyPEM are what Envoy reads.
func (c *credential) chainPEM() []byte { return certsPEM(c.chain) }
func (c *credential) keyPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: c.keyDER})
}

// same reports whether c and o are the same key and certificate.
func (c *credential) same(o *credential) bool {
	return c != nil && o != nil && bytes.Equal(c.leaf().Raw, o.leaf().Raw) && bytes.Equal(c.keyDER, o.keyDER)
}

// errMismatch is a key beside a certificate that is not for it.
var errMismatch = errors.New("the certificate is not for the key beside it")

// readAttempts bounds the reads of a pair that changes under the reader:
// a generation removed between resolving and reading, or plain files
// replaced between the two reads.
const readAttempts = 3

// loadPair reads a key and its certificate as one pair: through the
// directory the key's name resolves to, where the cert provider switches
// both at once (docs/cert.md, Files), or, for plain files (mode existing,
// another tool), both names, checked to match and read again when not.
func loadPair(name, keyFile, certFile string, bundle []*x509.Certificate) (*credential, error) {
	var err error
	for range readAttempts {
		var keyPEM, certPEM []byte
		if keyPEM, certPEM, err = readPair(keyFile, certFile); err == nil {
			var key crypto.Signer
			if key, err = pemkey.Parse(keyPEM); err != nil {
				return nil, fmt.Errorf("reading the key %s: %w", keyFile, err)
			}
			var c *credential
			if c, err = newCredential(name, key, certPEM, bundle); err == nil {
				return c, nil
			}
		}
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, errMismatch) {
			break
		}
	}
	return nil, pairError(keyFile, certFile, err)
}

func pairError(keyFile, certFile string, err error) error {
	var pathErr *fs.PathError
	if errors.As(err, &pathErr) {
		return err // it names the file
	}
	return fmt.Errorf("reading %s and %s: %w", keyFile, certFile, err)
}

// readPair reads the key and the certificate from one generation.
func readPair(keyFile, certFile string) (keyPEM, certPEM []byte, err error) {
	fi, err := os.Lstat(keyFile)
	if err != nil {
		return nil, nil, err
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		resolved, err := filepath.EvalSymlinks(keyFile)
		if err != nil {
			return nil, nil, err
		}
		inGen := filepath.Join(filepath.Dir(resolved), filepath.Base(certFile))
		if _, err := os.Lstat(inGen); err == nil {
			keyFile, certFile = resolved, inGen
		}
	}
	if keyPEM, err = os.ReadFile(keyFile); err != nil {
		return nil, nil, err
	}
	certPEM, err = os.ReadFile(certFile)
	return keyPEM, certPEM, err
}

// loadCert reads a certificate issued for key, which the caller read
// elsewhere: a role certificate without a key file of its own is for the
// identity key.
func loadCert(name, certFile string, key crypto.Signer, bundle []*x509.Certificate) (*credential, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, err
	}
	c, err := newCredential(name, key, certPEM, bundle)
	if errors.Is(err, errMismatch) {
		return nil, fmt.Errorf("%s is not for the identity key, which changed: the cert provider is replacing it", certFile)
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", certFile, err)
	}
	return c, nil
}

// newCredential checks that certPEM is for key and chains to bundle, and
// completes the chain with the bundle's intermediates.
func newCredential(name string, key crypto.Signer, certPEM []byte, bundle []*x509.Certificate) (*credential, error) {
	certs, err := parseCerts(certPEM)
	if err != nil {
		return nil, err
	}
	leaf := certs[0]
	if pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(leaf.PublicKey) {
		return nil, errMismatch
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encoding the key: %w", err)
	}
	c := &credential{name: name, chain: withIntermediates(certs, bundle), key: key, keyDER: keyDER}
	if err := verify(c.chain, bundle); err != nil {
		return nil, err
	}
	c.id, c.notSVID = svidID(leaf)
	return c, nil
}

// withIntermediates appends to certs the certificates of bundle, other than
// self-signed roots, that issued the last one, and those that issued them.
func withIntermediates(certs, bundle []*x509.Certificate) []*x509.Certificate {
	chain := slices.Clone(certs)
	for range bundle {
		last := chain[len(chain)-1]
		i := slices.IndexFunc(bundle, func(ca *x509.Certificate) bool {
			return !selfSigned(ca) && !slices.ContainsFunc(chain, ca.Equal) &&
				bytes.Equal(ca.RawSubject, last.RawIssuer) && last.CheckSignatureFrom(ca) == nil
		})
		if i < 0 {
			break
		}
		chain = append(chain, bundle[i])
	}
	return chain
}

func selfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawSubject, c.RawIssuer) && c.CheckSignatureFrom(c) == nil
}

// verify checks that chain leads to a certificate of bundle. It checks the
// chain as of the leaf's start of validity: whether it expired is for the
// APIs to ask when they serve it.
func verify(chain, bundle []*x509.Certificate) error {
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	for _, c := range bundle {
		roots.AddCert(c)
	}
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	_, err := chain[0].Verify(x509.VerifyOptions{
		Roots: roots, Intermediates: inter, CurrentTime: chain[0].NotBefore,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil {
		return fmt.Errorf("the certificate does not chain to the CA bundle: %w", err)
	}
	return nil
}

// svidID returns the certificate's SPIFFE ID and, when the certificate is
// not an X.509-SVID (the SPIFFE X509-SVID standard, sections 2 and 4),
// why not.
func svidID(leaf *x509.Certificate) (spiffeid.ID, error) {
	var id spiffeid.ID
	var spiffeURIs int
	for _, u := range leaf.URIs {
		if strings.EqualFold(u.Scheme, "spiffe") {
			spiffeURIs++
			id, _ = spiffeid.FromURI(u)
		}
	}
	if spiffeURIs != 1 {
		id = spiffeid.ID{}
	}
	switch {
	case len(leaf.URIs) != 1:
		return id, fmt.Errorf("it has %d URI SANs (%s), and an X.509-SVID has exactly one, its SPIFFE ID: set the cert provider's identity.x509_svid", len(leaf.URIs), uriList(leaf))
	case id.IsZero():
		_, err := spiffeid.FromURI(leaf.URIs[0])
		return id, fmt.Errorf("its URI SAN %s is not a SPIFFE ID: %w", leaf.URIs[0], err)
	case leaf.IsCA:
		return id, errors.New("it is a CA certificate")
	case leaf.KeyUsage&x509.KeyUsageDigitalSignature == 0:
		return id, errors.New("its key usage lacks digitalSignature")
	case leaf.KeyUsage&(x509.KeyUsageCertSign|x509.KeyUsageCRLSign) != 0:
		return id, errors.New("its key usage allows signing certificates or CRLs")
	}
	return id, nil
}

func uriList(leaf *x509.Certificate) string {
	s := make([]string, len(leaf.URIs))
	for i, u := range leaf.URIs {
		s[i] = u.String()
	}
	return strings.Join(s, ", ")
}

// parseCerts returns the certificates of a PEM file, in order.
func parseCerts(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parsing a certificate: %w", err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("no PEM certificate found")
	}
	return certs, nil
}

// loadBundle reads the CA bundle.
func loadBundle(file string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	certs, err := parseCerts(data)
	if err != nil {
		return nil, fmt.Errorf("reading the CA bundle %s: %w", file, err)
	}
	return certs, nil
}

func certsPEM(certs []*x509.Certificate) []byte {
	var b []byte
	for _, c := range certs {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return b
}

// earliestExpiry is when the first of certs expires.
func earliestExpiry(certs []*x509.Certificate) time.Time {
	var t time.Time
	for _, c := range certs {
		if t.IsZero() || c.NotAfter.Before(t) {
			t = c.NotAfter
		}
	}
	return t
}

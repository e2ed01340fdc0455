package cert

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"

	"github.com/sia-agent/sia-agent/plugins/internal/pemkey"
)

// privateKey is a key with the PEM it is written as, so that the provider
// can tell whether the key file on disk already holds it.
type privateKey struct {
	signer crypto.Signer
	pem    []byte
}

// generateKey returns a new key of the configured type and size.
func generateKey(kc KeyConfig) (*privateKey, error) {
	var signer crypto.Signer
	var err error
	switch kc.Type {
	case keyRSA:
		signer, err = rsa.GenerateKey(rand.Reader, kc.Bits)
	case keyECDSA:
		signer, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		err = fmt.Errorf("unknown key type %q", kc.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("generating %s key: %w", kc.Type, err)
	}
	return newPrivateKey(signer)
}

// newPrivateKey encodes signer as k8s-athenz-sia and the Athenz tools do:
// PKCS#1 ("RSA PRIVATE KEY") for RSA, SEC 1 ("EC PRIVATE KEY") for ECDSA.
func newPrivateKey(signer crypto.Signer) (*privateKey, error) {
	var block *pem.Block
	switch k := signer.(type) {
	case *rsa.PrivateKey:
		block = &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}
	case *ecdsa.PrivateKey:
		der, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			return nil, fmt.Errorf("encoding ECDSA key: %w", err)
		}
		block = &pem.Block{Type: "EC PRIVATE KEY", Bytes: der}
	default:
		der, err := x509.MarshalPKCS8PrivateKey(signer)
		if err != nil {
			return nil, fmt.Errorf("encoding %T key: %w", signer, err)
		}
		block = &pem.Block{Type: "PRIVATE KEY", Bytes: der}
	}
	return &privateKey{signer: signer, pem: pem.EncodeToMemory(block)}, nil
}

// parseKey parses the first private key in a PEM file: PKCS#1, SEC 1 or
// PKCS#8. The PEM is kept as read, so that an unchanged key is never
// rewritten.
func parseKey(data []byte) (*privateKey, error) {
	signer, err := pemkey.Parse(data)
	if err != nil {
		return nil, err
	}
	return &privateKey{signer: signer, pem: data}, nil
}

// fits reports whether k is of the type and size kc asks for.
func (k *privateKey) fits(kc KeyConfig) bool {
	switch key := k.signer.(type) {
	case *rsa.PrivateKey:
		return kc.Type == keyRSA && key.N.BitLen() == kc.Bits
	case *ecdsa.PrivateKey:
		return kc.Type == keyECDSA && key.Curve == elliptic.P256()
	}
	return false
}

// matches reports whether cert was issued for k.
func (k *privateKey) matches(cert *x509.Certificate) bool {
	pub, ok := k.signer.Public().(interface{ Equal(crypto.PublicKey) bool })
	return ok && cert != nil && pub.Equal(cert.PublicKey)
}

// samePEM reports whether k is written exactly as data.
func (k *privateKey) samePEM(data []byte) bool { return k != nil && bytes.Equal(k.pem, data) }

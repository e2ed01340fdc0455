package tlsfiles

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// writePair writes a self-signed certificate named cn and its key, each by
// rename as the cert provider does, and returns the certificate's PEM.
func writePair(t *testing.T, certFile, keyFile, cn string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	replace(t, keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	replace(t, certFile, certPEM)
	return certPEM
}

func replace(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path+".tmp", data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
}

func commonName(t *testing.T, c *tls.Certificate) string {
	t.Helper()
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	return leaf.Subject.CommonName
}

func files(t *testing.T) (certFile, keyFile string) {
	dir := t.TempDir()
	return filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
}

func TestKeyPairReloadsAndKeepsTheLastGoodPair(t *testing.T) {
	certFile, keyFile := files(t)
	writePair(t, certFile, keyFile, "first")
	w, err := keyPair(0, certFile, keyFile) // looks at the files at every Get
	if err != nil {
		t.Fatal(err)
	}
	first := w.Get()
	if cn := commonName(t, first); cn != "first" {
		t.Fatalf("loaded %q", cn)
	}
	if w.Get() != first {
		t.Error("an unchanged pair was loaded again")
	}
	writePair(t, certFile, keyFile, "second")
	if cn := commonName(t, w.Get()); cn != "second" {
		t.Errorf("after rotation %q, want second", cn)
	}
	// A half-written pair, or none, keeps the last good one.
	replace(t, keyFile, []byte("garbage"))
	if cn := commonName(t, w.Get()); cn != "second" {
		t.Errorf("with a broken key %q, want the last good pair", cn)
	}
	if err := os.Remove(certFile); err != nil {
		t.Fatal(err)
	}
	if cn := commonName(t, w.Get()); cn != "second" {
		t.Errorf("with the certificate gone %q, want the last good pair", cn)
	}
}

// Files are looked at no more than once per Recheck, however many
// handshakes ask.
func TestKeyPairLooksAtItsFilesOncePerRecheck(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		certFile, keyFile := files(t)
		writePair(t, certFile, keyFile, "first")
		w, err := KeyPair(certFile, keyFile)
		if err != nil {
			t.Fatal(err)
		}
		writePair(t, certFile, keyFile, "second")
		if cn := commonName(t, w.Get()); cn != "first" {
			t.Errorf("within Recheck: %q, want the pair loaded first", cn)
		}
		time.Sleep(Recheck)
		if cn := commonName(t, w.Get()); cn != "second" {
			t.Errorf("after Recheck: %q, want second", cn)
		}
	})
}

func TestKeyPairErrorsNameTheFiles(t *testing.T) {
	certFile, keyFile := files(t)
	_, err := KeyPair(certFile, keyFile)
	if err == nil || !strings.Contains(err.Error(), "loading TLS key pair "+certFile+", "+keyFile) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing files: %v", err)
	}
	writePair(t, certFile, keyFile, "x")
	replace(t, keyFile, []byte("garbage"))
	if _, err := KeyPair(certFile, keyFile); err == nil || !strings.Contains(err.Error(), keyFile) {
		t.Errorf("broken key: %v", err)
	}
}

func TestCAPoolHoldsOnlyTheBundle(t *testing.T) {
	certFile, keyFile := files(t)
	ca := writePair(t, certFile, keyFile, "ca")
	w, err := CAPool(certFile)
	if err != nil {
		t.Fatal(err)
	}
	want := x509.NewCertPool()
	want.AppendCertsFromPEM(ca)
	if !w.Get().Equal(want) {
		t.Error("the pool is not the bundle's CA alone")
	}
	replace(t, certFile, []byte("no PEM here"))
	if _, err := CAPool(certFile); err == nil || !strings.Contains(err.Error(), "no PEM certificate in "+certFile) {
		t.Errorf("a bundle without certificates: %v", err)
	}
}

func TestServerConfigFollowsTheClientCAs(t *testing.T) {
	certFile, keyFile := files(t)
	writePair(t, certFile, keyFile, "server")
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	replace(t, caFile, writePair(t, filepath.Join(t.TempDir(), "c"), filepath.Join(t.TempDir(), "k"), "client CA"))
	s, err := NewServer(certFile, keyFile, caFile, "h2", "http/1.1")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := s.Config().GetConfigForClient(nil)
	if err != nil || !s.MTLS() || cfg.ClientAuth != tls.RequireAndVerifyClientCert || cfg.ClientCAs == nil || len(cfg.NextProtos) != 2 {
		t.Fatalf("mTLS config %+v, %v", cfg, err)
	}
	if again, _ := s.Config().GetConfigForClient(nil); again != cfg {
		t.Error("the configuration was built again with unchanged client CAs")
	}
	plain, err := NewServer(certFile, keyFile, "")
	if err != nil {
		t.Fatal(err)
	}
	if cfg, _ := plain.Config().GetConfigForClient(nil); plain.MTLS() || cfg.ClientAuth != tls.NoClientCert || cfg.NextProtos != nil {
		t.Errorf("without client CAs: %+v", cfg)
	}
	if c, _ := cfg.GetCertificate(nil); commonName(t, c) != "server" {
		t.Error("the server does not present its certificate")
	}
}

func TestIdentityWaitsForItsFiles(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		certFile, keyFile := files(t)
		if _, err := NewIdentity(certFile, keyFile, false); err == nil {
			t.Fatal("an identity that must exist does not, and no error")
		}
		id, err := NewIdentity(certFile, keyFile, true)
		if err != nil {
			t.Fatal(err)
		}
		var noID *NoIdentityError
		if _, err := id.Get(); !errors.As(err, &noID) || noID.KeyFile != keyFile || id.Ready() || noID.Outcome() != "NO_IDENTITY" ||
			!strings.HasPrefix(err.Error(), "no identity yet: waiting for "+keyFile+": ") {
			t.Fatalf("before the files exist: %v", err)
		}
		writePair(t, certFile, keyFile, "agent")
		time.Sleep(Recheck)
		c, err := id.Get()
		if err != nil || !id.Ready() || commonName(t, c) != "agent" {
			t.Fatalf("once they exist: %v", err)
		}
	})
}

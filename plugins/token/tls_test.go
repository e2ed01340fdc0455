package token

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testCA signs certificates for the TLS tests.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue writes a leaf certificate and its key into dir as <name>.pem and
// <name>.key.pem.
func (ca *testCA) issue(t *testing.T, dir, name string, serial int64, usage x509.ExtKeyUsage) (certFile, keyFile string) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key.pem")
	writeFile(t, certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	writeFile(t, keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	return certFile, keyFile
}

// writeFile replaces path by rename, as the cert provider does.
func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func (ca *testCA) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

func (ca *testCA) clientCert(t *testing.T, dir, name string, serial int64) tls.Certificate {
	t.Helper()
	c, err := tls.LoadX509KeyPair(ca.issue(t, dir, name, serial, x509.ExtKeyUsageClientAuth))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestMTLSTrustsOnlyTheClientCAAndReloads(t *testing.T) {
	z := startZTS(t, "")
	dir := t.TempDir()
	serverCA, clientCA, otherCA := newTestCA(t, "server CA"), newTestCA(t, "client CA"), newTestCA(t, "other CA")
	certFile, keyFile := serverCA.issue(t, dir, "server", 10, x509.ExtKeyUsageServerAuth)
	caFile := filepath.Join(dir, "client-ca.pem")
	writeFile(t, caFile, clientCA.pem)
	good := clientCA.clientCert(t, dir, "good-client", 20)
	other := otherCA.clientCert(t, dir, "other-client", 30)

	s := start(t, z.config(fmt.Sprintf("server:\n  tls: {cert_file: %s, key_file: %s, client_ca_file: %s}\n", certFile, keyFile, caFile)))
	url := "https://" + s.p.Addr().String() + "/"
	client := func(certs ...tls.Certificate) *http.Client {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: serverCA.pool(), Certificates: certs}, ForceAttemptHTTP2: true}
		t.Cleanup(tr.CloseIdleConnections)
		return &http.Client{Transport: tr}
	}

	resp, err := client(good).Get(url)
	if err != nil {
		t.Fatalf("client with a certificate from the client CA: %v", err)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Errorf("protocol %s, want HTTP/2 as k8s-athenz-sia negotiates", resp.Proto)
	}
	for name, c := range map[string]*http.Client{"no certificate": client(), "another CA": client(other)} {
		if resp, err := c.Get(url); err == nil {
			resp.Body.Close()
			t.Errorf("%s: got %s, want a refused handshake", name, resp.Status)
		}
	}
	// The client CA pool is the file's CAs and nothing else: no system roots.
	if cfg, _ := s.p.server.tls.Config().GetConfigForClient(nil); !cfg.ClientCAs.Equal(clientCA.pool()) {
		t.Error("the client CA pool holds more than the configured CA")
	}

	// New server certificate and client CA on disk: new handshakes use them.
	serverCA.issue(t, dir, "server", 11, x509.ExtKeyUsageServerAuth)
	writeFile(t, caFile, otherCA.pem)
	waitFor(t, 10*time.Second, "the server to present the new certificate and trust the new CA", func() bool {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: serverCA.pool(), Certificates: []tls.Certificate{other}}}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr}).Get(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.TLS.PeerCertificates[0].SerialNumber.Int64() == 11
	})
}

func TestIdentityReloadedWhenTheCertProviderRewritesIt(t *testing.T) {
	t.Parallel()
	z := startZTS(t, "")
	cfg := DefaultConfig()
	cfg.Endpoint, cfg.CAFile, cfg.CertFile, cfg.KeyFile = z.URL, z.CAFile, z.certFile, z.keyFile
	c, err := newZTSClient(&cfg, nil, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	k := Key{Kind: roleToken, Domain: "sia.demo", Roles: "reader"}
	tok, err := c.fetch(t.Context(), k)
	if err != nil || !strings.Contains(tok.Raw, ";p=sia.demo.agent;") {
		t.Fatalf("as sia.demo.agent: %v %v", tok, err)
	}
	// The cert provider replaces the files with another identity.
	cert, key := z.ServiceCertFiles(t, "sia.demo.client")
	for src, dst := range map[string]string{cert: z.certFile, key: z.keyFile} {
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, dst, data)
	}
	waitFor(t, 10*time.Second, "calls as the new identity", func() bool {
		tok, err := c.fetch(t.Context(), Key{Kind: roleToken, Domain: "sia.demo", Roles: "writer"})
		return err == nil && strings.Contains(tok.Raw, ";p=sia.demo.client;")
	})
}

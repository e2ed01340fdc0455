package spiffe

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/spiffe/go-spiffe/v2/workloadapi"

	"github.com/sia-agent/sia-agent/sdk"
	"github.com/sia-agent/sia-agent/sdk/sdktest"
)

const wait = 10 * time.Second

// ca is a test CA: a root, and an intermediate that signs the leaves, as a
// ZTS whose signer is an intermediate would.
type ca struct {
	root, inter       *x509.Certificate
	rootKey, interKey *ecdsa.PrivateKey
}

func newCA(t *testing.T) *ca {
	t.Helper()
	c := &ca{rootKey: newKey(t), interKey: newKey(t)}
	c.root = sign(t, &x509.Certificate{
		Subject: pkix.Name{CommonName: "Test Root"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}, nil, c.rootKey.Public(), c.rootKey)
	c.inter = sign(t, &x509.Certificate{
		Subject: pkix.Name{CommonName: "Test Intermediate"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}, c.root, c.interKey.Public(), c.rootKey)
	return c
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func sign(t *testing.T, tmpl, parent *x509.Certificate, pub crypto.PublicKey, key crypto.Signer) *x509.Certificate {
	t.Helper()
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber = serial
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore = time.Now().Add(-time.Minute)
	}
	if tmpl.NotAfter.IsZero() {
		tmpl.NotAfter = time.Now().Add(time.Hour)
	}
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// leaf issues a certificate for key with the given URI SANs, as ZTS does:
// digitalSignature, CN cn.
func (c *ca) leaf(t *testing.T, key *ecdsa.PrivateKey, cn string, uris ...string) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: cn},
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
	}
	for _, u := range uris {
		parsed, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		tmpl.URIs = append(tmpl.URIs, parsed)
	}
	return sign(t, tmpl, c.inter, key.Public(), c.interKey)
}

// bundlePEM is the CA bundle as ZTS hands it out: the intermediate and
// the root.
func (c *ca) bundlePEM() []byte { return certsPEM([]*x509.Certificate{c.inter, c.root}) }

func keyPEM(t *testing.T, k *ecdsa.PrivateKey) []byte {
	t.Helper()
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
}

func certPEM(c *x509.Certificate) []byte { return certsPEM([]*x509.Certificate{c}) }

// files is a directory laid out as the cert provider writes it.
type files struct {
	t   *testing.T
	dir string
	gen int
}

func (f *files) path(name string) string { return filepath.Join(f.dir, name) }

// writePair writes a key and certificate as the cert provider does: a new
// generation directory, switched to by the rename of the data link, the
// names links into it.
func (f *files) writePair(keyName, certName string, keyData, certData []byte) {
	f.t.Helper()
	f.gen++
	dir := filepath.Dir(f.path(keyName))
	prefix := ".." + filepath.Base(keyName)
	gen := fmt.Sprintf("%s.gen-%d", prefix, f.gen)
	must(f.t, os.MkdirAll(filepath.Join(dir, gen), 0o755))
	must(f.t, os.WriteFile(filepath.Join(dir, gen, filepath.Base(keyName)), keyData, 0o600))
	must(f.t, os.WriteFile(filepath.Join(dir, gen, filepath.Base(certName)), certData, 0o644))
	tmp := filepath.Join(dir, prefix+".data.tmp")
	must(f.t, os.Symlink(gen, tmp))
	must(f.t, os.Rename(tmp, filepath.Join(dir, prefix+".data")))
	for _, name := range []string{keyName, certName} {
		link := f.path(name)
		if _, err := os.Lstat(link); err != nil {
			must(f.t, os.Symlink(filepath.Join(prefix+".data", filepath.Base(name)), link))
		}
	}
}

// writeFile replaces a file by rename, as sdk.WriteFileAtomic does.
func (f *files) writeFile(name string, data []byte) {
	f.t.Helper()
	must(f.t, os.MkdirAll(filepath.Dir(f.path(name)), 0o755))
	must(f.t, sdk.WriteFileAtomic(f.path(name), data, 0o644))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// fixture is a CA, an identity sia.demo.agent and its files.
type fixture struct {
	*files
	ca      *ca
	key     *ecdsa.PrivateKey
	id      *x509.Certificate
	sockDir string
}

const (
	agentID  = "spiffe://sia.demo/sa/agent"
	readerID = "spiffe://sia.demo/ra/reader"
)

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{files: &files{t: t, dir: t.TempDir()}, ca: newCA(t), key: newKey(t)}
	// A directory of its own, with a name short enough for sun_path
	// whatever the test's name.
	dir, err := os.MkdirTemp("", "spiffe")
	must(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	f.sockDir = dir
	return f
}

// writeIdentity writes the CA bundle and a new identity certificate for
// key (a new key when key is nil) with uris.
func (f *fixture) writeIdentity(key *ecdsa.PrivateKey, uris ...string) *x509.Certificate {
	f.t.Helper()
	if key != nil {
		f.key = key
	}
	if len(uris) == 0 {
		uris = []string{agentID}
	}
	f.writeFile("ca.cert.pem", f.ca.bundlePEM())
	f.id = f.ca.leaf(f.t, f.key, "sia.demo.agent", uris...)
	f.writePair("service.key.pem", "service.cert.pem", keyPEM(f.t, f.key), certPEM(f.id))
	return f.id
}

// writeRole writes the role certificate of sia.demo:role.reader for the
// identity key, without a key file of its own.
func (f *fixture) writeRole() *x509.Certificate {
	f.t.Helper()
	c := f.ca.leaf(f.t, f.key, "sia.demo:role.reader", readerID)
	f.writeFile("rolecerts/sia.demo:role.reader.cert.pem", certPEM(c))
	return c
}

// config is the provider's config for the fixture, with extra lines.
func (f *fixture) config(extra string) string {
	return fmt.Sprintf("socket: %s\nfiles:\n  dir: %s\npoll_interval: 10ms\n%s", f.socket(), f.dir, extra)
}

// socket is short enough for sun_path wherever the temp dir is.
func (f *fixture) socket() string {
	return filepath.Join(f.sockDir, "api.sock")
}

// run is a started provider under the test harness.
type run struct {
	p   *Provider
	h   *sdktest.Harness
	log *logLines
}

// start runs the provider with config through Init and Start.
func start(t *testing.T, config string) *run {
	t.Helper()
	r := setup(t, config)
	if err := r.h.Init(); err != nil {
		t.Fatalf("Init: %v", err)
	}
	if err := r.h.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	return r
}

func setup(t *testing.T, config string) *run {
	t.Helper()
	r := &run{p: &Provider{}}
	r.h = sdktest.New(t, r.p, "spiffe", config)
	r.log = captureLog(t, r.h)
	return r
}

// client is a go-spiffe Workload API client of the socket.
func client(t *testing.T, socket string) *workloadapi.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c, err := workloadapi.New(ctx, workloadapi.WithAddr("unix://"+socket))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// logLines captures a provider's log, so that a test can wait for a line.
type logLines struct {
	t       *testing.T
	mu      sync.Mutex
	lines   []string
	changed chan struct{}
}

func captureLog(t *testing.T, h *sdktest.Harness) *logLines {
	l := &logLines{t: t, changed: make(chan struct{})}
	h.Runtime.Logger = hclog.New(&hclog.LoggerOptions{Name: "spiffe", Level: hclog.Trace, Output: l})
	return l
}

func (l *logLines) Write(b []byte) (int, error) {
	line := strings.TrimSuffix(string(b), "\n")
	l.t.Log(line)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, line)
	close(l.changed)
	l.changed = make(chan struct{})
	return len(b), nil
}

// wait waits for a line containing every one of substrs, and returns it.
func (l *logLines) wait(substrs ...string) string {
	l.t.Helper()
	deadline := time.After(wait)
	for from := 0; ; {
		l.mu.Lock()
		for ; from < len(l.lines); from++ {
			if containsAll(l.lines[from], substrs) {
				line := l.lines[from]
				l.mu.Unlock()
				return line
			}
		}
		changed := l.changed
		l.mu.Unlock()
		select {
		case <-changed:
		case <-deadline:
			l.t.Fatalf("no log line containing %q within %v", substrs, wait)
		}
	}
}

func containsAll(s string, substrs []string) bool {
	for _, sub := range substrs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

func (l *logLines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// waitFor polls cond until it holds, for state that has no event to wait
// on (a metric), and fails the test after wait.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(wait)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("timed out after %v waiting for %s", wait, what)
		}
	}
}

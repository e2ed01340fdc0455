// Package ztsdevtest runs a zts-dev server inside a test: on 127.0.0.1 with
// a free port, a temporary state dir and a config the test can rewrite, plus
// helpers to mint client identities and build official ZTS clients.
package ztsdevtest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/AthenZ/athenz/clients/go/zts"
	"github.com/hashicorp/go-hclog"

	"github.com/sia-agent/sia-agent/ztsdev"
)

// Instance is a running in-process zts-dev.
type Instance struct {
	Server     *ztsdev.Server
	URL        string // https://127.0.0.1:PORT/zts/v1
	CAFile     string // PEM bundle of the dev CA
	StateDir   string
	ConfigFile string
}

// Start runs zts-dev with configYAML (empty means the built-in demo data
// set) until the test ends. Set ZTSDEV_LOG=debug to see its logs; the
// default shows warnings and errors only.
func Start(t testing.TB, configYAML string) *Instance {
	t.Helper()
	if configYAML == "" {
		configYAML = string(ztsdev.DemoConfig())
	}
	dir := t.TempDir()
	inst := &Instance{
		StateDir:   filepath.Join(dir, "state"),
		ConfigFile: filepath.Join(dir, "zts-dev.yaml"),
	}
	if err := os.WriteFile(inst.ConfigFile, []byte(configYAML), 0o600); err != nil {
		t.Fatalf("ztsdevtest: writing config: %v", err)
	}

	level := hclog.LevelFromString(os.Getenv("ZTSDEV_LOG"))
	if level == hclog.NoLevel {
		level = hclog.Warn
	}
	srv, err := ztsdev.New(ztsdev.Options{
		ConfigFile: inst.ConfigFile,
		StateDir:   inst.StateDir,
		Listen:     "127.0.0.1:0",
		Logger:     hclog.New(&hclog.LoggerOptions{Name: "zts-dev", Level: level, Output: testWriter{t}}),
	})
	if err != nil {
		t.Fatalf("ztsdevtest: starting zts-dev: %v", err)
	}
	inst.Server, inst.URL, inst.CAFile = srv, srv.URL(), srv.CAFile()

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ztsdevtest: zts-dev stopped with error: %v", err)
		}
	})
	return inst
}

// Reconfigure replaces the config with configYAML and reloads it before
// returning, as SIGHUP does for the binary. Fault rules that did not change
// keep their remaining counts.
func (i *Instance) Reconfigure(t testing.TB, configYAML string) {
	t.Helper()
	if err := os.WriteFile(i.ConfigFile, []byte(configYAML), 0o600); err != nil {
		t.Fatalf("ztsdevtest: writing config: %v", err)
	}
	if err := i.Server.Reload(); err != nil {
		t.Fatalf("ztsdevtest: reloading config: %v", err)
	}
}

// CAPool is a pool holding the dev CA.
func (i *Instance) CAPool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(i.Server.CACertPEM())
	return pool
}

// MintCert mints a key and certificate signed by the dev CA (see
// ztsdev.CertSpec) and returns them PEM-encoded.
func (i *Instance) MintCert(t testing.TB, spec ztsdev.CertSpec) (certPEM, keyPEM []byte) {
	t.Helper()
	certPEM, keyPEM, err := i.Server.MintCert(spec)
	if err != nil {
		t.Fatalf("ztsdevtest: %v", err)
	}
	return certPEM, keyPEM
}

// ServiceCertFiles mints an identity certificate for principal
// ("domain.service") and writes it and its key (0600) into a temporary
// directory, as a cert provider would have.
func (i *Instance) ServiceCertFiles(t testing.TB, principal string) (certFile, keyFile string) {
	t.Helper()
	certPEM, keyPEM := i.MintCert(t, ztsdev.CertSpec{Principal: principal})
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "service.cert.pem"), filepath.Join(dir, "service.key.pem")
	if err := os.WriteFile(certFile, certPEM, 0o644); err != nil {
		t.Fatalf("ztsdevtest: writing cert: %v", err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatalf("ztsdevtest: writing key: %v", err)
	}
	return certFile, keyFile
}

// TLSConfig trusts the dev CA and, unless principal is empty, presents a
// freshly minted identity certificate for principal.
func (i *Instance) TLSConfig(t testing.TB, principal string) *tls.Config {
	t.Helper()
	cfg := &tls.Config{RootCAs: i.CAPool(), MinVersion: tls.VersionTLS12}
	if principal != "" {
		certPEM, keyPEM := i.MintCert(t, ztsdev.CertSpec{Principal: principal})
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatalf("ztsdevtest: loading minted cert: %v", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg
}

// Client is the official ZTS client for i, authenticated as principal
// (none if empty).
func (i *Instance) Client(t testing.TB, principal string) zts.ZTSClient {
	t.Helper()
	return i.ClientWithTLS(t, i.TLSConfig(t, principal))
}

// ClientWithTLS is the official ZTS client for i over cfg.
func (i *Instance) ClientWithTLS(t testing.TB, cfg *tls.Config) zts.ZTSClient {
	t.Helper()
	// Tests and benchmarks call concurrently; the default of two idle
	// connections per host would turn that into a TLS handshake per call.
	tr := &http.Transport{TLSClientConfig: cfg, MaxIdleConnsPerHost: 64}
	t.Cleanup(tr.CloseIdleConnections)
	return zts.NewClient(i.URL, tr)
}

// testWriter sends server logs to the test log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

package ztsdev_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/sia-agent/sia-agent/ztsdev"
	"github.com/sia-agent/sia-agent/ztsdev/ztsdevtest"
)

// TestStateDirReused checks that key material is generated once, with
// private keys readable by the owner only, and reused by the next start:
// the CA, the signing key, and the cert records that let an instance
// registered before a restart refresh after it.
func TestStateDirReused(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	start := func() (*ztsdev.Server, func()) {
		srv, err := ztsdev.New(ztsdev.Options{StateDir: dir, Listen: "127.0.0.1:0"})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- srv.Serve(ctx) }()
		return srv, func() {
			cancel()
			if err := <-done; err != nil {
				t.Error(err)
			}
		}
	}

	srv1, stop1 := start()
	inst1 := &ztsdevtest.Instance{Server: srv1, URL: srv1.URL(), CAFile: srv1.CAFile()}
	key := testKeys()
	ident, _, err := inst1.Client(t, "").PostInstanceRegisterInformation(registerInfo(t, key, "restart-1"))
	if err != nil {
		t.Fatal(err)
	}
	keys1 := publishedKeys(t, inst1.Client(t, ""))
	ca1 := srv1.CACertPEM()
	stop1()

	for _, f := range []string{"ca.key.pem", "server.key.pem", "signing.key.pem", "certrecords.json"} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", f, fi.Mode().Perm())
		}
	}
	for _, f := range []string{"ca.pem", "server.pem", "athenz.conf"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
		t.Errorf("state dir mode %v, want 0700", fi.Mode().Perm())
	}

	srv2, stop2 := start()
	defer stop2()
	if !bytes.Equal(srv2.CACertPEM(), ca1) {
		t.Error("CA regenerated on restart")
	}
	inst2 := &ztsdevtest.Instance{Server: srv2, URL: srv2.URL(), CAFile: srv2.CAFile()}
	keys2 := publishedKeys(t, inst2.Client(t, ""))
	if !keys1["0"].Equal(keys2["0"]) {
		t.Error("signing key regenerated on restart")
	}
	agent := clientWithCert(t, inst2, []byte(ident.X509Certificate), keyPEM(t, key))
	if _, err := agent.PostInstanceRefreshInformation(demoProvider, demoDomain, demoService, "restart-1",
		refreshInfo(t, key, "restart-1")); err != nil {
		t.Errorf("refresh after restart: %v", err)
	}
}

func TestInconsistentStateDir(t *testing.T) {
	dir := t.TempDir()
	srv, err := ztsdev.New(ztsdev.Options{StateDir: dir, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	srv.Close()
	if err := os.Remove(filepath.Join(dir, "ca.key.pem")); err != nil {
		t.Fatal(err)
	}
	if _, err := ztsdev.New(ztsdev.Options{StateDir: dir, Listen: "127.0.0.1:0"}); err == nil {
		t.Fatal("New succeeded with a CA cert but no CA key")
	}
}

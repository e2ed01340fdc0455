package cert

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/sia-agent/sia-agent/sdk"
	"github.com/sia-agent/sia-agent/ztsdev"
)

// writePair writes a freshly minted identity for sia.demo.agent as another
// tool would: key first, then certificate, each atomically.
func writePair(t *testing.T, e *env, dir string) {
	t.Helper()
	certPEM, keyPEM := e.zts.MintCert(t, ztsdev.CertSpec{Principal: "sia.demo.agent", Provider: "sys.auth.dev", InstanceID: "pod-9"})
	if err := sdk.WriteFileAtomic(filepath.Join(dir, "key.pem"), keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := sdk.WriteFileAtomic(filepath.Join(dir, "cert.pem"), certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
}

// In mode existing the identity is read, never written, and a replaced
// pair is picked up: the role certificates follow its key.
func TestExistingIdentity(t *testing.T) {
	e := newEnv(t)
	ext := t.TempDir()
	writePair(t, e, ext)
	cfg := fmt.Sprintf(`endpoint: %s
ca_file: %s
identity:
  mode: existing
files:
  dir: %s
  key: key.pem
  cert: cert.pem
role_certs:
  targets: [sia.demo:role.reader]
  dir: %s
refresh:
  interval: 50ms
  min_interval: 50ms
  retry_initial: 10ms
  retry_max: 10ms
`, e.zts.URL, e.zts.CAFile, ext, e.path("rolecerts"))
	_, h, _ := start(t, cfg)
	h.Host.WaitRecord(t, waitRecord, isRecord(identityName, sdk.ReasonIsGood, sdk.OutcomeSuccess))
	h.Host.WaitRecord(t, waitRecord, isRecord(reader, sdk.ReasonNew, sdk.OutcomeSuccess))
	loadPair(t, e.path(readerPEM), filepath.Join(ext, "key.pem"))
	if _, err := os.Stat(filepath.Join(ext, "ca.cert.pem")); err == nil {
		t.Error("mode existing wrote a CA bundle")
	}

	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	writePair(t, e, ext)
	h.Host.WaitRecord(t, waitRecord, isRecord(identityName, sdk.ReasonParamsChange, sdk.OutcomeSuccess))
	h.Host.WaitRecord(t, waitRecord, isRecord(reader, sdk.ReasonParamsChange, sdk.OutcomeSuccess))
	loadPair(t, e.path(readerPEM), filepath.Join(ext, "key.pem"))
	if n := e.zts.Server.Requests(ztsdev.OpRegister) + e.zts.Server.Requests(ztsdev.OpRefresh); n != 0 {
		t.Errorf("%d register or refresh calls in mode existing", n)
	}
}

func TestExistingIdentityMismatchKeepsCurrent(t *testing.T) {
	e := newEnv(t)
	ext := t.TempDir()
	writePair(t, e, ext)
	x := &existingFiles{keyFile: filepath.Join(ext, "key.pem"), certFile: filepath.Join(ext, "cert.pem")}
	first, changed, err := x.check()
	if err != nil || !changed {
		t.Fatalf("first load: changed %v, %v", changed, err)
	}
	if _, changed, err := x.check(); err != nil || changed {
		t.Fatalf("unchanged files: changed %v, %v", changed, err)
	}
	// Half-way through another tool's replacement: a new key, the old cert.
	_, keyPEM := e.zts.MintCert(t, ztsdev.CertSpec{Principal: "sia.demo.agent"})
	if err := sdk.WriteFileAtomic(x.keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	id, changed, err := x.check()
	if err == nil || changed || id != first {
		t.Fatalf("mismatched pair: got changed %v, %v; want an error and the previous identity", changed, err)
	}
}

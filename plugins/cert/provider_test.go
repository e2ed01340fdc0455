package cert

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sia-agent/sia-agent/sdk"
	"github.com/sia-agent/sia-agent/ztsdev"
)

const (
	reader    = "rolecert/sia.demo:role.reader"
	writer    = "rolecert/sia.demo:role.writer"
	nosuch    = "rolecert/nosuch.domain:role.x"
	readerPEM = "rolecerts/sia.demo:role.reader.cert.pem"
)

func TestRegisterWritesFiles(t *testing.T) {
	e := newEnv(t)
	_, h, _ := start(t, e.config("key:\n  type: rsa\nrole_certs:\n  targets: [sia.demo:role.reader]\n"))

	h.Host.WaitRecord(t, waitRecord, isRecord(identityName, sdk.ReasonNew, sdk.OutcomeSuccess))
	rec := h.Host.WaitRecord(t, waitRecord, isRecord(reader, sdk.ReasonNew, sdk.OutcomeSuccess))
	pair := loadPair(t, e.path("service.cert.pem"), e.path("service.key.pem"))
	if cn := pair.Leaf.Subject.CommonName; cn != "sia.demo.agent" {
		t.Errorf("identity CN %q", cn)
	}
	if !bytes.HasPrefix(readFile(t, e.path("service.key.pem")), []byte("-----BEGIN RSA PRIVATE KEY-----")) {
		t.Error("the default key is not a PKCS#1 RSA key")
	}
	role := loadPair(t, e.path(readerPEM), e.path("service.key.pem"))
	if cn := role.Leaf.Subject.CommonName; cn != "sia.demo:role.reader" {
		t.Errorf("role CN %q", cn)
	}
	if !rec.Expiry.Equal(role.Leaf.NotAfter) || rec.LastUpdate.IsZero() || !rec.NextUpdate.After(rec.LastUpdate) || rec.RPCDuration <= 0 {
		t.Errorf("record %+v: want expiry %v, last and next update and RPC duration", rec, role.Leaf.NotAfter)
	}
	for file, want := range map[string]os.FileMode{
		"service.key.pem": 0o600, "service.cert.pem": 0o644, "ca.cert.pem": 0o644, readerPEM: 0o644, "rolecerts": 0o755,
	} {
		if got := fileMode(t, e.path(file)); got != want {
			t.Errorf("%s: mode %v, want %v", file, got, want)
		}
	}
	if !bytes.Equal(readFile(t, e.path("ca.cert.pem")), e.zts.Server.CACertPEM()) {
		t.Error("ca.cert.pem is not the ZTS CA")
	}
	if n := e.zts.Server.Requests(ztsdev.OpRegister); n != 1 {
		t.Errorf("%d register calls, want 1", n)
	}
}

// A restart takes over what is on disk and still fresh: no ZTS call, and
// the first refresh is scheduled at half the lifetime.
func TestRestartReusesFreshCredentials(t *testing.T) {
	e := newEnv(t)
	cfg := e.config("role_certs:\n  targets: [sia.demo:role.reader]\n")
	_, first, _ := start(t, cfg)
	if err := first.Shutdown(); err != nil {
		t.Fatal(err)
	}
	key := readFile(t, e.path("service.key.pem"))

	_, h, log := start(t, cfg)
	h.Host.WaitRecord(t, waitRecord, isRecord(identityName, sdk.ReasonIsGood, sdk.OutcomeSuccess))
	h.Host.WaitRecord(t, waitRecord, isRecord(reader, sdk.ReasonIsGood, sdk.OutcomeSuccess))
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	line := log.lines[log.wait(0, "Will refresh key[")]
	if !strings.Contains(line, "roles[[sia.demo:role.reader]] within 1") { // ~10.8-12h of a 24h certificate
		t.Errorf("first refresh not at about half the lifetime: %s", line)
	}
	if n := e.zts.Server.Requests(ztsdev.OpRegister) + e.zts.Server.Requests(ztsdev.OpRefresh); n != 1 {
		t.Errorf("%d register and refresh calls, want the first run's 1", n)
	}
	if n := e.zts.Server.Requests(ztsdev.OpRoleCert); n != 1 {
		t.Errorf("%d role cert calls, want the first run's 1", n)
	}
	if !bytes.Equal(key, readFile(t, e.path("service.key.pem"))) {
		t.Error("the key file was rewritten")
	}
}

// Refreshes keep the key by default and present the current certificate
// every time (the idle connections made with the previous one are closed).
func TestRefreshKeepsKeyAndPresentsCurrentCert(t *testing.T) {
	e := newEnv(t)
	p, h, _ := start(t, e.config("role_certs:\n  targets: [sia.demo:role.reader]\n"))
	key := readFile(t, e.path("service.key.pem"))
	var serials []string
	for i := range 3 {
		forceDue(p)
		if err := p.round(context.Background(), p.retryPolicy(time.Second), false); err != nil {
			t.Fatalf("refresh %d: %v", i, err)
		}
		serials = append(serials, loadPair(t, e.path("service.cert.pem"), e.path("service.key.pem")).Leaf.SerialNumber.String())
		loadPair(t, e.path(readerPEM), e.path("service.key.pem"))
	}
	if !bytes.Equal(key, readFile(t, e.path("service.key.pem"))) {
		t.Error("the key changed, want it kept")
	}
	if n := e.zts.Server.Requests(ztsdev.OpRefresh); n != 3 {
		t.Errorf("%d refresh calls, want 3", n)
	}
	// ZTS moves the serial a refresh presented to prevSerial: the last
	// refresh must have presented the certificate the one before issued.
	var recs []struct{ CurrentSerial, PrevSerial string }
	if err := json.Unmarshal(readFile(t, filepath.Join(e.zts.StateDir, "certrecords.json")), &recs); err != nil || len(recs) != 1 {
		t.Fatalf("cert records %+v: %v", recs, err)
	}
	if recs[0].CurrentSerial != serials[2] || recs[0].PrevSerial != serials[1] {
		t.Errorf("cert record %+v, want current %s and previous %s", recs[0], serials[2], serials[1])
	}
	for _, reason := range []sdk.Reason{sdk.ReasonNew, sdk.ReasonExpires} {
		h.Host.WaitRecord(t, waitRecord, isRecord(identityName, reason, sdk.OutcomeSuccess))
	}
}

func TestRotateKey(t *testing.T) {
	e := newEnv(t)
	p, _, _ := start(t, e.config("key:\n  type: ecdsa\n  rotate: true\nrole_certs:\n  targets: [sia.demo:role.reader]\n  key_output: true\n"))
	key := readFile(t, e.path("service.key.pem"))
	forceDue(p)
	p.creds[1].due = time.Now().Add(time.Hour) // the role follows the key anyway
	if err := p.round(context.Background(), p.retryPolicy(time.Second), false); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(key, readFile(t, e.path("service.key.pem"))) {
		t.Error("the key did not change")
	}
	loadPair(t, e.path("service.cert.pem"), e.path("service.key.pem"))
	loadPair(t, e.path(readerPEM), e.path("service.key.pem"))
	loadPair(t, e.path(readerPEM), e.path("rolecerts/sia.demo:role.reader.key.pem"))
	if got := fileMode(t, e.path("rolecerts/sia.demo:role.reader.key.pem")); got != 0o600 {
		t.Errorf("role key mode %v", got)
	}
	if n := e.zts.Server.Requests(ztsdev.OpRoleCert); n != 2 {
		t.Errorf("%d role cert calls, want 2", n)
	}
}

// One role's failure does not keep the others from being written, and
// each has its own record. In refresh mode Init carries on.
func TestRoleCertPartialFailure(t *testing.T) {
	e := newEnv(t)
	_, h, log := start(t, e.config("role_certs:\n  targets: [sia.demo:role.reader, nosuch.domain:role.x, sia.demo:role.writer]\n"))
	h.Host.WaitRecord(t, waitRecord, isRecord(reader, sdk.ReasonNew, sdk.OutcomeSuccess))
	h.Host.WaitRecord(t, waitRecord, isRecord(writer, sdk.ReasonNew, sdk.OutcomeSuccess))
	rec := h.Host.WaitRecord(t, waitRecord, isRecord(nosuch, sdk.ReasonNew, "ZTS_ERROR_404"))
	if rec.Err == nil || !strings.Contains(rec.Err.Error(), "nosuch.domain:role.x") || !rec.NextUpdate.After(rec.Started) {
		t.Errorf("failure record %+v", rec)
	}
	loadPair(t, e.path(readerPEM), e.path("service.key.pem"))
	loadPair(t, e.path("rolecerts/sia.demo:role.writer.cert.pem"), e.path("service.key.pem"))
	if _, err := os.Stat(e.path("rolecerts/nosuch.domain:role.x.cert.pem")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a certificate for the failed role: %v", err)
	}
	log.wait(0, "Failed to fetch certificates at init; the refresh loop will keep trying")
	// Retries asked for the failed role only.
	if n, ok := e.zts.Server.Requests(ztsdev.OpRoleCert), log.count("Failed to refresh certificates: "); n != int64(2+ok+1) {
		t.Errorf("%d role cert calls for %d retries, want 2 + one per attempt", n, ok)
	}
}

// An intermediate bundle ZTS does not have fails the role certificates,
// each with its record, and writes none of them: a file without the
// bundle its readers expect would be worse than none. The identity is
// written all the same.
func TestRoleCertsWithoutTheirBundle(t *testing.T) {
	e := newEnv(t)
	_, h, _ := start(t, e.config("role_certs:\n  targets: [sia.demo:role.reader]\n  intermediate_bundle: nosuch\n"))
	rec := h.Host.WaitRecord(t, waitRecord, isRecord(reader, sdk.ReasonNew, "ZTS_ERROR_404"))
	if rec.Err == nil || !strings.Contains(rec.Err.Error(), "CA bundle nosuch") {
		t.Errorf("failure record %+v", rec)
	}
	if _, err := os.Stat(e.path(readerPEM)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a role certificate without its bundle: %v", err)
	}
	loadPair(t, e.path("service.cert.pem"), e.path("service.key.pem"))
}

func TestHoldsCerts(t *testing.T) {
	e := newEnv(t)
	ca, err := os.ReadFile(e.zts.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		data string
		want bool
	}{
		{string(ca), true},
		{string(ca) + string(ca) + "\n", true},
		{"", false},
		{"not PEM", false},
		{string(ca) + "trailing garbage", false},
		{"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", false},
		{"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", false},
	} {
		if got := holdsCerts([]byte(tc.data)); got != tc.want {
			t.Errorf("holdsCerts(%.40q) = %v, want %v", tc.data, got, tc.want)
		}
	}
}

func TestInitModeFailsOnMissingCredential(t *testing.T) {
	e := newEnv(t)
	_, h, _ := setup(t, e.config("role_certs:\n  targets: [sia.demo:role.reader, nosuch.domain:role.x]\n"))
	h.Runtime.Mode = sdk.ModeInit
	err := h.Init()
	if err == nil || !strings.Contains(err.Error(), "nosuch.domain:role.x") || !strings.Contains(err.Error(), "404") {
		t.Fatalf("Init: %v, want the failed role's 404", err)
	}
	loadPair(t, e.path(readerPEM), e.path("service.key.pem"))
}

// A refresh whose retries a cancelled run context stops: the loop reports
// the failure at once and schedules the next refresh; a tick after the
// cancellation is skipped.
func TestRetriesStopAndTicksSkipAfterCancel(t *testing.T) {
	e := newEnv(t)
	_, h, log := start(t, e.config(`role_certs:
  targets: [nosuch.domain:role.x]
refresh:
  interval: 100ms
  min_interval: 100ms
  jitter: 0
  retry_initial: 1h
  retry_max: 1h
  retry_max_elapsed: 2h
  init_max_elapsed: 10ms
`))
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	i := log.wait(0, "Failed to refresh certificates: ")
	h.CancelRun(errors.New("received signal: interrupt"))
	i = log.wait(i, "Failed to refresh certificates after multiple retries: retries stopped: ")
	i = log.wait(i, "Will refresh key[")
	log.wait(i, "Skipped to refresh key[")
	var recs []sdk.StatusRecord
	for _, r := range h.Host.Records() {
		if r.Credential == nosuch {
			recs = append(recs, r)
		}
	}
	// Init's, then the interrupted refresh's: no attempt after the cancel.
	if len(recs) != 2 || recs[1].Outcome != "ZTS_ERROR_404" {
		t.Errorf("records of %s: %+v, want Init's and one failed refresh", nosuch, recs)
	}
	if n := e.zts.Server.Requests(ztsdev.OpRoleCert); n != 2 {
		t.Errorf("%d role cert calls, want 2", n)
	}
}

// The refresh loop keeps scheduling after failures: it never stops on its
// own (specification case 116).
func TestRefreshLoopKeepsGoingAfterFailures(t *testing.T) {
	e := newEnv(t)
	_, h, log := start(t, e.config(`role_certs:
  targets: [sia.demo:role.reader, nosuch.domain:role.x]
refresh:
  interval: 50ms
  min_interval: 50ms
  retry_initial: 10ms
  retry_max: 10ms
  retry_max_elapsed: 30ms
  init_max_elapsed: 10ms
`))
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	i := 0
	for range 3 {
		i = log.wait(i, "Failed to refresh certificates after multiple retries: ")
		i = log.wait(i, "Will refresh key[")
	}
	h.Host.WaitRecord(t, waitRecord, isRecord(reader, sdk.ReasonExpires, sdk.OutcomeSuccess))
}

// A refresh that ZTS refuses because it no longer knows the instance
// registers again.
func TestRefreshFallsBackToRegister(t *testing.T) {
	e := newEnv(t)
	p, h, _ := start(t, e.config(""))
	admin := e.zts.Client(t, "sia.demo.agent")
	if err := admin.DeleteInstanceIdentity("sys.auth.dev", "sia.demo", "agent", "pod-1"); err != nil {
		t.Fatal(err)
	}
	forceDue(p)
	if err := p.round(context.Background(), p.retryPolicy(time.Second), false); err != nil {
		t.Fatal(err)
	}
	h.Host.WaitRecord(t, waitRecord, isRecord(identityName, sdk.ReasonExpires, sdk.OutcomeSuccess))
	if r, f := e.zts.Server.Requests(ztsdev.OpRegister), e.zts.Server.Requests(ztsdev.OpRefresh); r != 2 || f != 1 {
		t.Errorf("%d register and %d refresh calls, want 2 and 1", r, f)
	}
	loadPair(t, e.path("service.cert.pem"), e.path("service.key.pem"))
}

// A key and certificate on disk that do not match (left by an earlier
// version, which wrote them by two renames, or by hand) are replaced by a
// new registration.
func TestMismatchedPairOnDiskIsReplaced(t *testing.T) {
	e := newEnv(t)
	cfg := e.config("")
	_, first, _ := start(t, cfg)
	if err := first.Shutdown(); err != nil {
		t.Fatal(err)
	}
	other, err := generateKey(KeyConfig{Type: keyECDSA, Bits: 256})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.path("service.key.pem"), other.pem, 0o600); err != nil {
		t.Fatal(err)
	}
	_, h, log := start(t, cfg)
	log.wait(0, "do not match; registering")
	h.Host.WaitRecord(t, waitRecord, isRecord(identityName, sdk.ReasonNew, sdk.OutcomeSuccess))
	loadPair(t, e.path("service.cert.pem"), e.path("service.key.pem"))
	if !bytes.Equal(other.pem, readFile(t, e.path("service.key.pem"))) {
		t.Error("the key on disk was replaced, want it kept")
	}
}

func TestDeleteOnShutdown(t *testing.T) {
	e := newEnv(t)
	cfg := e.config("")
	cfg = strings.Replace(cfg, "identity:\n", "identity:\n  delete_on_shutdown: true\n", 1)
	_, h, log := start(t, cfg)
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	if err := h.Shutdown(); err != nil {
		t.Fatal(err)
	}
	log.wait(0, "Deleted the instance record at ZTS")
	if n := e.zts.Server.Requests(ztsdev.OpDelete); n != 1 {
		t.Errorf("%d delete calls, want 1", n)
	}
}

func TestTempFilesOfACrashAreRemoved(t *testing.T) {
	e := newEnv(t)
	stale := e.path(".service.key.pem.sia-tmp-123")
	if err := os.WriteFile(stale, []byte("half a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	start(t, e.config(""))
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale temporary file: %v", err)
	}
}

// With identity.x509_svid, zts-dev issues certificates whose only URI SAN
// is the SPIFFE ID, and they refresh. Certificates of the other form found
// on disk are requested anew, identity and role alike.
func TestX509SVIDCertificates(t *testing.T) {
	e := newEnv(t)
	roles := "role_certs:\n  targets: [sia.demo:role.reader]\n"
	_, first, _ := start(t, e.config(roles))
	first.Host.WaitRecord(t, waitRecord, isRecord(reader, sdk.ReasonNew, sdk.OutcomeSuccess))
	if err := first.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if n := len(loadPair(t, e.path("service.cert.pem"), e.path("service.key.pem")).Leaf.URIs); n != 2 {
		t.Fatalf("the default form has %d URI SANs, want 2", n)
	}

	svid := strings.Replace(e.config(roles), "  dns_suffix: zts.athenz.cloud\n", "  dns_suffix: zts.athenz.cloud\n  x509_svid: true\n", 1)
	p, h, _ := start(t, svid)
	h.Host.WaitRecord(t, waitRecord, isRecord(identityName, sdk.ReasonNew, sdk.OutcomeSuccess))
	h.Host.WaitRecord(t, waitRecord, isRecord(reader, sdk.ReasonNew, sdk.OutcomeSuccess))
	for file, want := range map[string]string{"service.cert.pem": "spiffe://sia.demo/sa/agent", readerPEM: "spiffe://sia.demo/ra/reader"} {
		leaf := loadPair(t, e.path(file), e.path("service.key.pem")).Leaf
		if got := uris(leaf.URIs); len(got) != 1 || got[0] != want {
			t.Errorf("%s: URI SANs %v, want only %s", file, got, want)
		}
	}

	// The DNS form of the instance id carries the refresh.
	forceDue(p)
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	h.Host.WaitRecord(t, waitRecord, isRecord(identityName, sdk.ReasonExpires, sdk.OutcomeSuccess))
	if n := e.zts.Server.Requests(ztsdev.OpRefresh); n != 1 {
		t.Errorf("%d refresh calls, want 1", n)
	}
}

// Copies named after the pair was written get it at the next start,
// without a call to ZTS; a copy equal to the pair is not rewritten.
func TestKeyAndCertCopies(t *testing.T) {
	e := newEnv(t)
	_, first, _ := start(t, e.config(""))
	if err := first.Shutdown(); err != nil {
		t.Fatal(err)
	}
	other := t.TempDir()
	cfg := e.config(fmt.Sprintf("files:\n  dir: %s\n  key_copies: [%s/k.pem]\n  cert_copies: [%s/c.pem, %s/d.pem]\n", e.dir, other, other, other))
	_, h, _ := start(t, cfg)
	h.Host.WaitRecord(t, waitRecord, isRecord(identityName, sdk.ReasonIsGood, sdk.OutcomeSuccess))
	if n := e.zts.Server.Requests(ztsdev.OpRegister) + e.zts.Server.Requests(ztsdev.OpRefresh); n != 1 {
		t.Errorf("%d register and refresh calls, want the first run's 1", n)
	}
	loadPair(t, filepath.Join(other, "c.pem"), filepath.Join(other, "k.pem"))
	if !bytes.Equal(readFile(t, filepath.Join(other, "d.pem")), readFile(t, e.path("service.cert.pem"))) {
		t.Error("d.pem is not the certificate")
	}
	if fi, err := os.Stat(filepath.Join(other, "k.pem")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key copy: %v, %v", fi, err)
	}
}

func TestCopiesNeedFilesOfTheirOwn(t *testing.T) {
	e := newEnv(t)
	cfg, err := sdk.ParseConfig("cfg.yaml", e.config("files:\n  dir: /d\n  key_copies: [/d/service.cert.pem]\n  cert_copies: [/x/c.pem, /x/c.pem]\n"))
	if err != nil {
		t.Fatal(err)
	}
	err = (&Provider{}).Validate(t.Context(), cfg)
	for _, want := range []string{"files.key_copies[0]: /d/service.cert.pem is written already", "files.cert_copies[1]: /x/c.pem is written already"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate: %v, want %q", err, want)
		}
	}
}

package e2e

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sia-agent/sia-agent/internal/e2e"
	"github.com/sia-agent/sia-agent/sdk"
	"github.com/sia-agent/sia-agent/ztsdev"
)

// certEnv is a zts-dev serving the demo data set, the attestation file of
// its dev provider and an output directory for the cert provider.
type certEnv struct {
	zts         *e2e.ZTS
	attestation string
	dir         string
}

func newCertEnv(t *testing.T) *certEnv {
	t.Helper()
	env := &certEnv{zts: e2e.StartZTS(t, bins, string(ztsdev.DemoConfig())), dir: t.TempDir()}
	env.attestation = e2e.WriteFile(t, t.TempDir(), "token", "dev-attestation-secret\n")
	return env
}

func (env *certEnv) path(name string) string { return filepath.Join(env.dir, name) }

// certConfig is the cert provider's config for sia.demo.agent with role
// certificates for targets; refresh holds the refresh block's lines.
// Unless refresh says otherwise, Init waits up to a minute for its first
// attempt: the tests look at what it fetched, and on a loaded machine a
// ZTS that answers may take longer than the default wait.
func (env *certEnv) certConfig(targets, refresh string) string {
	if !strings.Contains(refresh, "first_attempt_timeout:") {
		if refresh != "" && !strings.HasSuffix(refresh, "\n") {
			refresh += "\n"
		}
		refresh += "first_attempt_timeout: 1m\n"
	}
	return fmt.Sprintf(`endpoint: %s
ca_file: %s
identity:
  provider: sys.auth.dev
  domain: sia.demo
  service: agent
  instance_id: pod-1
  attestation_file: %s
  dns_suffix: zts.athenz.cloud
key:
  type: ecdsa
files:
  dir: %s
role_certs:
  targets: %s
  key_output: true
refresh:
%s`, env.zts.URL, env.zts.CAFile, env.attestation, env.dir, targets, indent(refresh, "  "))
}

// certPipeline is the specification's pipeline with the real cert
// provider first and test providers standing in for the rest; extra adds
// config lines to a stand-in.
func certPipeline(t *testing.T, agentExtra, certConfig string, extra map[string]string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("providers:\n  - name: certificate\n    plugin: cert\n    config:\n")
	b.WriteString(indent(certConfig, "      "))
	goroutines := map[string]string{
		"token":       "[token server, token refresh timer, memory reporter]",
		"metrics":     "[metrics server]",
		"healthcheck": "[health check server]",
	}
	for _, name := range seedOrder[1:] {
		fmt.Fprintf(&b, "  - name: %s\n    plugin: sia-plugin-test\n    config:\n      goroutines: %s\n", name, goroutines[name])
		if e := extra[name]; e != "" {
			b.WriteString(indent(e, "      "))
		}
	}
	return pipelineWith(t, agentExtra, b.String())
}

func indent(text, prefix string) string {
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		b.WriteString(prefix + line + "\n")
	}
	return b.String()
}

// certLine is how a line the cert provider logs appears in the agent's log.
func certLine(msg string) string { return "sia-agent.certificate: " + msg }

// Refresh settings that make a refresh come a second after the last and
// fail fast (116) or retry slowly (117, 118).
const (
	refreshFastRetries = "interval: 1s\nmin_interval: 500ms\nretry_initial: 100ms\nretry_max: 200ms\nretry_max_elapsed: 500ms\ninit_max_elapsed: 200ms\n"
	refreshSlowRetries = "interval: 1s\nmin_interval: 500ms\nretry_initial: 30s\nretry_max: 30s\nretry_max_elapsed: 5m\ninit_max_elapsed: 200ms\n"
)

// Case 105: SIGINT before the cert refresh timer goroutine. The cert
// provider's Start completes; the later providers are skipped.
func TestCase105SignalBeforeCertRefreshTimer(t *testing.T) {
	t.Parallel()
	env := newCertEnv(t)
	file := certPipeline(t, "", env.certConfig("[sia.demo:role.reader]", refreshFastRetries), nil)
	p := runAgent(t, file, faults("certificate:before cert refresh timer goroutine=signal"))
	code := p.Exit(t, waitExit)
	assertRow(t, p, seedOrder, row{succeeded: seedOrder[:1], skipped: seedOrder[1:], exit: 0}, code)
	p.WaitLog(t, "Received signal: interrupt", 0)
	p.WaitLog(t, "Shutdown completed!", 0)
	// Init fetched everything; the goroutine was created and scheduled.
	p.WaitLog(t, certLine("Will refresh key["), 0)
	checkPair(t, env.path("service.cert.pem"), env.path("service.key.pem"))
	checkPair(t, env.path("rolecerts/sia.demo:role.reader.cert.pem"), env.path("service.key.pem"))
}

// Case 116: a refresh whose retries all fail (a role in an unknown domain)
// logs "after multiple retries" and schedules the next refresh; the agent
// does not exit. The test then stops it.
func TestCase116CertRefreshRetryError(t *testing.T) {
	t.Parallel()
	env := newCertEnv(t)
	file := certPipeline(t, "", env.certConfig("[sia.demo:role.reader, invalid:role.invalid]", refreshFastRetries), nil)
	p := runAgent(t, file, nil)
	waitAllStarted(t, p)
	from := len(p.Log.Lines())
	for range 2 { // and again: the loop goes on
		i, err := p.Log.WaitFrom(from, certLine("Failed to refresh certificates after multiple retries: requesting role certificate invalid:role.invalid"), waitLine)
		if err != nil {
			t.Fatalf("%v\n%s", err, p.Log)
		}
		if from, err = p.Log.WaitFrom(i, certLine("Will refresh key["), waitLine); err != nil {
			t.Fatalf("%v\n%s", err, p.Log)
		}
	}
	select {
	case <-p.Done():
		t.Fatalf("the agent exited:\n%s", p.Log)
	default: // NO exit
	}
	code := stop(t, p)
	assertRow(t, p, seedOrder, row{succeeded: seedOrder, exit: 0}, code)
}

// Case 117: SIGINT while a refresh waits to retry stops the retries at
// once; the agent shuts down and exits 0.
func TestCase117SignalDuringCertRefreshRetry(t *testing.T) {
	t.Parallel()
	env := newCertEnv(t)
	file := certPipeline(t, "", env.certConfig("[sia.demo:role.reader, invalid:role.invalid]", refreshSlowRetries), nil)
	p := runAgent(t, file, nil)
	waitAllStarted(t, p)
	from := len(p.Log.Lines())
	if _, err := p.Log.WaitFrom(from, certLine("Failed to refresh certificates: requesting role certificate invalid:role.invalid"), waitLine); err != nil {
		t.Fatalf("%v\n%s", err, p.Log)
	}
	code := stop(t, p) // the next retry is 15-45s away; the deadline covers it, the checks below do not
	assertRow(t, p, seedOrder, row{succeeded: seedOrder, exit: 0}, code)
	sig := p.Log.Index("Received signal: interrupt")
	stopped, err := p.Log.WaitFrom(sig, certLine("Failed to refresh certificates after multiple retries: retries stopped: "), 0)
	if err != nil {
		t.Fatal(err)
	}
	// The run context's cancellation stopped them, not the provider's
	// Shutdown (whose cause is "shutdown"). Plugin and agent lines reach
	// the log by different paths, so their order proves nothing.
	if line := p.Log.Lines()[stopped]; !strings.Contains(line, "(received signal: interrupt)") {
		t.Errorf("the retries were not stopped by the signal's cancellation: %s", line)
	}
	if n := countFrom(p.Log, from, certLine("Failed to refresh certificates: ")); n != 1 {
		t.Errorf("%d attempts failed after the start, want 1: the signal came during the first retry wait", n)
	}
}

// Case 118: as 117, and the refresh interval that elapses while the other
// providers shut down is skipped: the token stand-in holds its Shutdown
// until the cert provider logs the skip.
func TestCase118CertRefreshSkippedAfterSignal(t *testing.T) {
	t.Parallel()
	env := newCertEnv(t)
	fifo := filepath.Join(t.TempDir(), "release")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	file := certPipeline(t, "", env.certConfig("[sia.demo:role.reader, invalid:role.invalid]", refreshSlowRetries),
		map[string]string{"token": "shutdown_wait_fifo: " + fifo})
	p := runAgent(t, file, nil)
	waitAllStarted(t, p)
	from := len(p.Log.Lines())
	if _, err := p.Log.WaitFrom(from, certLine("Failed to refresh certificates: requesting role certificate invalid:role.invalid"), waitLine); err != nil {
		t.Fatalf("%v\n%s", err, p.Log)
	}
	p.Signal(t, syscall.SIGINT)
	sig := p.WaitLog(t, "Received signal: interrupt", waitLine)
	stopped, err := p.Log.WaitFrom(sig, certLine("Failed to refresh certificates after multiple retries: retries stopped: "), waitLine)
	if err != nil {
		t.Fatalf("%v\n%s", err, p.Log)
	}
	p.WaitLog(t, "sia-agent.token: Shutdown called", waitLine) // and held there
	skipped, err := p.Log.WaitFrom(stopped, certLine("Skipped to refresh key["), waitLine)
	if err != nil {
		t.Fatalf("%v\n%s", err, p.Log)
	}
	releaseFIFO(t, fifo)
	code := p.Exit(t, waitExit)
	assertRow(t, p, seedOrder, row{succeeded: seedOrder, exit: 0}, code)
	if i := p.Log.Index("Initiating shutdown of certificate ..."); skipped > i {
		t.Errorf("the skip (line %d) came after the cert provider's Shutdown began (line %d)", skipped, i)
	}
	if _, err := p.Log.WaitFrom(skipped, certLine("Will refresh key["), 0); err != nil {
		t.Errorf("no refresh scheduled after the skip: %v", err)
	}
	// Nothing was refreshed after the signal.
	for _, s := range []string{"Failed to refresh certificates: ", "Updated identity certificate", "Updated role certificate"} {
		if n := countFrom(p.Log, sig, certLine(s)); n != 0 {
			t.Errorf("%d lines %q after the signal", n, s)
		}
	}
}

// One role's failure leaves the others written, each credential with its
// own record in the agent's status report.
func TestCertRoleCertPartialFailure(t *testing.T) {
	t.Parallel()
	env := newCertEnv(t)
	status := filepath.Join(t.TempDir(), "status.json")
	file := certPipeline(t, "  status_file: "+status+"\n",
		env.certConfig("[sia.demo:role.reader, invalid:role.invalid, sia.demo:role.writer]", refreshFastRetries), nil)
	p := runAgent(t, file, nil)
	waitAllStarted(t, p)
	checkPair(t, env.path("rolecerts/sia.demo:role.reader.cert.pem"), env.path("service.key.pem"))
	checkPair(t, env.path("rolecerts/sia.demo:role.writer.cert.pem"), env.path("rolecerts/sia.demo:role.writer.key.pem"))
	if _, err := os.Stat(env.path("rolecerts/invalid:role.invalid.cert.pem")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a certificate for the failed role: %v", err)
	}
	code := stop(t, p)
	assertRow(t, p, seedOrder, row{succeeded: seedOrder, exit: 0}, code)

	var rep sdk.StatusReport
	if err := json.Unmarshal(readFile(t, status), &rep); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"identity":                      sdk.OutcomeSuccess,
		"rolecert/sia.demo:role.reader": sdk.OutcomeSuccess,
		"rolecert/sia.demo:role.writer": sdk.OutcomeSuccess,
		"rolecert/invalid:role.invalid": "ZTS_ERROR_404",
	}
	for _, c := range rep.Credentials {
		if c.Provider != "certificate" {
			continue
		}
		if c.UpdateOutcome != want[c.Credential] || c.Kind != "x509" || c.NextUpdateTS == 0 {
			t.Errorf("%s: outcome %s, kind %q, next update %d; want %s", c.Credential, c.UpdateOutcome, c.Kind, c.NextUpdateTS, want[c.Credential])
		}
		// The reason crosses the wire as an enum and reads as its word.
		if !slices.Contains([]string{"NEW", "EXPIRES", "PARAMS_CHANGE", "FORCE_REFRESH"}, c.UpdateReason) {
			t.Errorf("%s: update reason %q", c.Credential, c.UpdateReason)
		}
		delete(want, c.Credential)
	}
	if len(want) != 0 {
		t.Errorf("no status of %v in %+v", want, rep.Credentials)
	}
}

// An identity managed elsewhere: the provider reads it, asks for role
// certificates with it, and follows when it is replaced.
func TestCertExistingIdentity(t *testing.T) {
	t.Parallel()
	env := newCertEnv(t)
	ext := t.TempDir()
	keyFile, certFile := filepath.Join(ext, "key.pem"), filepath.Join(ext, "cert.pem")
	first := mintIdentity(t, env.zts, keyFile, certFile)
	file := certPipeline(t, "", fmt.Sprintf(`endpoint: %s
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
  interval: 500ms
  min_interval: 500ms
`, env.zts.URL, env.zts.CAFile, ext, env.path("rolecerts")), nil)
	p := runAgent(t, file, nil)
	waitAllStarted(t, p)
	role := env.path("rolecerts/sia.demo:role.reader.cert.pem")
	checkPair(t, role, keyFile)

	second := mintIdentity(t, env.zts, keyFile, certFile)
	i := p.WaitLog(t, "serial="+second, waitLine) // "Loaded identity certificate"
	if _, err := p.Log.WaitFrom(i, certLine("Updated role certificate"), waitLine); err != nil {
		t.Fatalf("%v\n%s", err, p.Log)
	}
	checkPair(t, role, keyFile)
	code := stop(t, p)
	assertRow(t, p, seedOrder, row{succeeded: seedOrder, exit: 0}, code)
	if first == second {
		t.Fatal("the replacement has the same serial")
	}
	if p.Log.Index("Updated identity certificate") >= 0 {
		t.Error("mode existing wrote the identity")
	}
}

// The kill -9 loop: the agent (and with it the plugin, by its parent-death
// signal) is killed at varying points while the cert provider refreshes
// many times a second. Every key/certificate pair on disk must parse and
// match after every kill; temporary files a kill leaves are removed by the
// next start.
func TestCertKill9DuringRefreshes(t *testing.T) {
	t.Parallel()
	env := newCertEnv(t)
	cfg := env.certConfig("[sia.demo:role.reader, sia.demo:role.writer, sia.demo:role.everyone, sia.demo:role.short-lived]",
		"interval: 50ms\nmin_interval: 20ms\njitter: 0.5\nretry_initial: 20ms\nretry_max: 50ms\n")
	file := pipeline(t, "providers:\n  - name: certificate\n    plugin: cert\n    config:\n"+indent(cfg, "      "))
	pairs := [][2]string{
		{"service.cert.pem", "service.key.pem"},
		{"rolecerts/sia.demo:role.reader.cert.pem", "service.key.pem"},
		{"rolecerts/sia.demo:role.reader.cert.pem", "rolecerts/sia.demo:role.reader.key.pem"},
		{"rolecerts/sia.demo:role.writer.cert.pem", "rolecerts/sia.demo:role.writer.key.pem"},
		{"rolecerts/sia.demo:role.everyone.cert.pem", "rolecerts/sia.demo:role.everyone.key.pem"},
		{"rolecerts/sia.demo:role.short-lived.cert.pem", "service.key.pem"},
	}
	const iterations = 20
	withTemps := 0
	for i := range iterations {
		p := runAgent(t, file, nil)
		p.WaitLog(t, certLine("Will refresh key["), waitLine)
		// A varying number of refreshes, then a kill at a random moment
		// within the next one: the point is to land anywhere.
		n := 1 + i%3
		from := 0
		for range n {
			j, err := p.Log.WaitFrom(from, certLine("Updated role certificate"), waitLine)
			if err != nil {
				t.Fatalf("iteration %d: %v\n%s", i, err, p.Log)
			}
			from = j + 1
		}
		time.Sleep(time.Duration(mrand.IntN(40)) * time.Millisecond) // where to kill, not synchronization
		plugins := children(t, p.Cmd.Process.Pid)
		if err := p.Cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		p.Exit(t, waitExit)
		for _, pid := range plugins {
			waitGone(t, pid)
		}
		for _, pair := range pairs {
			if _, err := tls.LoadX509KeyPair(env.path(pair[0]), env.path(pair[1])); err != nil {
				t.Fatalf("iteration %d: pair %s: %v", i, pair, err)
			}
		}
		if len(temps(t, env.dir)) > 0 {
			withTemps++
		}
	}
	t.Logf("%d of %d kills left a temporary file behind (killed mid-write)", withTemps, iterations)

	// A clean start removes what the kills left, and a clean stop leaves
	// nothing behind.
	p := runAgent(t, file, nil)
	p.WaitLog(t, certLine("Will refresh key["), waitLine)
	if code := stop(t, p); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if left := temps(t, env.dir); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// With key.rotate, a crash after the new key and certificate are on disk
// but before the switch to them leaves the old pair whole; the next start
// removes the unused generation and goes on rotating. A mismatched pair of
// plain files (what a crash between two renames left before pairs were
// switched as one) is repaired at the next start: it registers anew.
func TestCertRotationCrashIsRepaired(t *testing.T) {
	t.Parallel()
	env := newCertEnv(t)
	cfg := strings.Replace(env.certConfig("[sia.demo:role.reader]", "interval: 20ms\nmin_interval: 20ms\n"),
		"key:\n  type: ecdsa\n", "key:\n  type: ecdsa\n  rotate: true\n", 1)
	file := pipeline(t, "providers:\n  - name: certificate\n    plugin: cert\n    config:\n"+indent(cfg, "      "))

	p := runAgent(t, file, nil)
	p.WaitLog(t, certLine("Will refresh key["), waitLine)
	if code := stop(t, p); code != 0 {
		t.Fatalf("exit %d", code)
	}
	checkPair(t, env.path("service.cert.pem"), env.path("service.key.pem"))
	oldKey := readFile(t, env.path("service.key.pem"))

	// The refresh in the next Init rotates the key and crashes when the
	// new generation is complete, before the switch.
	p = runAgent(t, file, faults("certificate:before identity switch=crash"))
	if code := p.Exit(t, waitExit); code != 1 {
		t.Fatalf("exit %d, want 1 after the plugin crashed\n%s", code, p.Log)
	}
	checkPair(t, env.path("service.cert.pem"), env.path("service.key.pem"))
	if !bytes.Equal(oldKey, readFile(t, env.path("service.key.pem"))) {
		t.Fatal("the crash before the switch changed the key")
	}
	if gens := pairGenerations(t, env.path("service.key.pem")); len(gens) != 2 {
		t.Fatalf("generations %v, want the current one and the one the crash left", gens)
	}

	p = runAgent(t, file, nil)
	p.WaitLog(t, certLine("Updated identity certificate"), waitLine)
	p.WaitLog(t, certLine("Will refresh key["), waitLine)
	if code := stop(t, p); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if p.Log.Index("do not match") >= 0 {
		t.Error("the crash left a mismatched pair")
	}
	checkPair(t, env.path("service.cert.pem"), env.path("service.key.pem"))
	checkPair(t, env.path("rolecerts/sia.demo:role.reader.cert.pem"), env.path("rolecerts/sia.demo:role.reader.key.pem"))
	if gens := pairGenerations(t, env.path("service.key.pem")); len(gens) != 1 {
		t.Errorf("generations %v, want the current one", gens)
	}

	// Plain files, a new key beside the old certificate.
	if err := os.Remove(env.path("service.key.pem")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(env.path("service.key.pem"), newKeyPEM(t), 0o600); err != nil {
		t.Fatal(err)
	}
	p = runAgent(t, file, nil)
	p.WaitLog(t, certLine("The identity key and certificate on disk do not match; registering"), waitLine)
	p.WaitLog(t, certLine("Will refresh key["), waitLine)
	if code := stop(t, p); code != 0 {
		t.Fatalf("exit %d", code)
	}
	checkPair(t, env.path("service.cert.pem"), env.path("service.key.pem"))
	checkPair(t, env.path("rolecerts/sia.demo:role.reader.cert.pem"), env.path("rolecerts/sia.demo:role.reader.key.pem"))
}

// checkPair fails unless the certificate and key files parse and match.
func checkPair(t *testing.T, certFile, keyFile string) {
	t.Helper()
	if _, err := tls.LoadX509KeyPair(certFile, keyFile); err != nil {
		t.Errorf("pair %s, %s: %v", certFile, keyFile, err)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// countFrom counts the lines from index from on that contain substr.
func countFrom(log *e2e.Log, from int, substr string) int {
	n := 0
	for _, line := range log.Lines()[from:] {
		if strings.Contains(line, substr) {
			n++
		}
	}
	return n
}

// releaseFIFO opens a FIFO for writing, which lets a test provider waiting
// on it finish its Shutdown.
func releaseFIFO(t *testing.T, fifo string) {
	t.Helper()
	f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// children lists the child processes of pid (Linux).
func children(t *testing.T, pid int) []int {
	t.Helper()
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, task := range tasks {
		data, err := os.ReadFile(task)
		if err != nil {
			continue // the thread ended
		}
		for _, f := range strings.Fields(string(data)) {
			if n, err := strconv.Atoi(f); err == nil {
				pids = append(pids, n)
			}
		}
	}
	return pids
}

// waitGone waits until process pid no longer runs (or is a zombie).
func waitGone(t *testing.T, pid int) {
	t.Helper()
	if err := e2e.WaitExit(pid, waitExit); err != nil {
		t.Fatalf("after its parent was killed: %v", err)
	}
}

// temps lists the temporary files of atomic writes below dir.
func temps(t *testing.T, dir string) []string {
	t.Helper()
	var found []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && strings.Contains(d.Name(), ".sia-tmp-") {
			found = append(found, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// mintIdentity writes a new key and an identity certificate for
// sia.demo.agent signed by zts-dev's CA, as a tool managing the identity
// elsewhere would (key first, each atomically), and returns its serial.
func mintIdentity(t *testing.T, zts *e2e.ZTS, keyFile, certFile string) string {
	t.Helper()
	state := filepath.Join(filepath.Dir(zts.Config), "state")
	caCert, _, err := loadPEMCert(filepath.Join(state, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	caKeyBlock, _ := pem.Decode(readFile(t, filepath.Join(state, "ca.key.pem")))
	if caKeyBlock == nil {
		t.Fatal("no CA key")
	}
	caKey, err := parseAnyKey(caKeyBlock)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "sia.demo.agent"},
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, key.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := sdk.WriteFileAtomic(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := sdk.WriteFileAtomic(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return serial.String()
}

func loadPEMCert(path string) (*x509.Certificate, []byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, nil, fmt.Errorf("%s: no PEM", path)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	return cert, data, err
}

func parseAnyKey(block *pem.Block) (any, error) {
	if k, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	return x509.ParseECPrivateKey(block.Bytes)
}

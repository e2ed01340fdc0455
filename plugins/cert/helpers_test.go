package cert

import (
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/sia-agent/sia-agent/sdk"
	"github.com/sia-agent/sia-agent/sdk/sdktest"
	"github.com/sia-agent/sia-agent/ztsdev/ztsdevtest"
)

// env is a zts-dev with the demo data set, an attestation file and an
// output directory.
type env struct {
	zts         *ztsdevtest.Instance
	dir         string
	attestation string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{zts: ztsdevtest.Start(t, ""), dir: t.TempDir()}
	// Answering a request proves the server's goroutines are all up, so
	// that the harness's leak check, which snapshots goroutines next, does
	// not count them.
	if _, err := e.zts.Client(t, "").GetStatus(); err != nil {
		t.Fatal(err)
	}
	e.attestation = filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(e.attestation, []byte("dev-attestation-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return e
}

// config is a register-mode configuration for sia.demo.agent writing into
// e.dir, followed by extra (top-level YAML keys, which replace the
// defaults' blocks of the same name).
func (e *env) config(extra string) string {
	return e.configFor(e.zts.URL, e.zts.CAFile, extra)
}

// configFor is config for the ZTS at endpoint, verified with caFile.
func (e *env) configFor(endpoint, caFile, extra string) string {
	blocks := map[string]string{
		"identity": fmt.Sprintf(`identity:
  provider: sys.auth.dev
  domain: sia.demo
  service: agent
  instance_id: pod-1
  attestation_file: %s
  dns_suffix: zts.athenz.cloud
`, e.attestation),
		"key":   "key:\n  type: ecdsa\n",
		"files": fmt.Sprintf("files:\n  dir: %s\n", e.dir),
		"refresh": `refresh:
  min_interval: 50ms
  retry_initial: 20ms
  retry_max: 50ms
  init_max_elapsed: 200ms
`,
	}
	for _, block := range strings.SplitAfter(extra, "\n") {
		if name, _, ok := strings.Cut(block, ":"); ok && block[0] != ' ' {
			delete(blocks, name)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "endpoint: %s\nca_file: %s\n", endpoint, caFile)
	for _, name := range []string{"identity", "key", "files", "refresh"} {
		b.WriteString(blocks[name])
	}
	b.WriteString(extra)
	return b.String()
}

func (e *env) path(name string) string { return filepath.Join(e.dir, name) }

// setup validates configYAML and returns a provider ready for Init, with
// its log captured.
func setup(t *testing.T, configYAML string) (*Provider, *sdktest.Harness, *logLines) {
	t.Helper()
	p := New()
	h := sdktest.New(t, p, "certificate", configYAML)
	return p, h, captureLog(t, h)
}

// start is setup and a successful Init, whose first attempt (refresh
// mode) it waits for: the tests go on from what that attempt fetched, as
// Init would have waited for it with a ZTS that answers in time.
func start(t *testing.T, configYAML string) (*Provider, *sdktest.Harness, *logLines) {
	t.Helper()
	p, h, l := setup(t, configYAML)
	if err := h.Init(); err != nil {
		t.Fatalf("Init: %v", err)
	}
	if p.firstDone != nil {
		select {
		case <-p.firstDone:
		case <-time.After(waitRecord):
			t.Fatalf("Init's first attempt did not end within %v", waitRecord)
		}
	}
	return p, h, l
}

// loadPair loads a key/certificate pair from disk: it fails unless both
// parse and match.
func loadPair(t *testing.T, certFile, keyFile string) tls.Certificate {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatalf("key/cert pair %s, %s: %v", keyFile, certFile, err)
	}
	return pair
}

func fileMode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// isRecord matches the status record of credential with outcome.
func isRecord(credential string, reason sdk.Reason, outcome string) func(sdk.StatusRecord) bool {
	return func(r sdk.StatusRecord) bool {
		return r.Credential == credential && r.Reason == reason && (outcome == "" || r.Outcome == outcome)
	}
}

const waitRecord = 10 * time.Second

// logLines captures a provider's log, so that a test can wait for a line.
type logLines struct {
	t       *testing.T
	mu      sync.Mutex
	lines   []string
	changed chan struct{}
}

// captureLog makes h's provider log into the returned logLines (and the
// test log).
func captureLog(t *testing.T, h *sdktest.Harness) *logLines {
	l := &logLines{t: t, changed: make(chan struct{})}
	h.Runtime.Logger = hclog.New(&hclog.LoggerOptions{Name: "certificate", Level: hclog.Trace, Output: l})
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

// wait waits for a line containing substr at or after index from, and
// returns its index.
func (l *logLines) wait(from int, substr string) int {
	l.t.Helper()
	deadline := time.After(waitRecord)
	for {
		l.mu.Lock()
		for i := from; i < len(l.lines); i++ {
			if strings.Contains(l.lines[i], substr) {
				l.mu.Unlock()
				return i
			}
		}
		from = max(from, len(l.lines))
		changed := l.changed
		l.mu.Unlock()
		select {
		case <-changed:
		case <-deadline:
			l.t.Fatalf("no log line containing %q within %v", substr, waitRecord)
		}
	}
}

// all returns the lines so far.
func (l *logLines) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

// count counts the lines containing substr.
func (l *logLines) count(substr string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, line := range l.lines {
		if strings.Contains(line, substr) {
			n++
		}
	}
	return n
}

// forceDue makes every credential of p due, so that the next round
// updates all of them.
func forceDue(p *Provider) {
	for _, c := range p.creds {
		c.due = time.Now().Add(-time.Second)
	}
}

// readFile reads a file or fails the test.
func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

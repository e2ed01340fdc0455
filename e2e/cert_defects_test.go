package e2e

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sia-agent/sia-agent/internal/e2e"
)

// kills is how many times TestRolePairNeverMismatched kills the agent. The
// default keeps `make test` short; a thorough run:
//
//	go test -race -timeout 60m -run TestRolePairNeverMismatched ./e2e/ -args -kills=1000
var kills = flag.Int("kills", 50, "kill -9 iterations of TestRolePairNeverMismatched")

// certOnlyPipeline is a pipeline of the cert provider alone with cfg.
func certOnlyPipeline(t *testing.T, cfg string) string {
	t.Helper()
	return pipeline(t, "providers:\n  - name: certificate\n    plugin: cert\n    config:\n"+indent(cfg, "      "))
}

// ztsRecords is how many instances zts-dev has registered.
func ztsRecords(t *testing.T, zts *e2e.ZTS) int {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(filepath.Dir(zts.Config), "state", "certrecords.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	var recs []json.RawMessage
	if err := json.Unmarshal(data, &recs); err != nil {
		t.Fatal(err)
	}
	return len(recs)
}

// newKeyPEM is a new EC key in PEM.
func newKeyPEM(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
}

// A key planted at the identity key's path, world-readable or as a
// symbolic link to a world-readable file, is refused: the agent exits 1
// with an error naming the file, nothing is registered with ZTS, and the
// planted file is left as it was, unused.
func TestPlantedKeyIsRefused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		link bool
		want string
	}{
		{"world-readable key", false, "lets others than its owner read or write it"},
		{"symbolic link to a world-readable key", true, "is a symbolic link to "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := newCertEnv(t)
			keyFile := env.path("service.key.pem")
			planted := keyFile
			if tc.link {
				planted = filepath.Join(t.TempDir(), "planted.key.pem")
				if err := os.Symlink(planted, keyFile); err != nil {
					t.Fatal(err)
				}
			}
			keyPEM := newKeyPEM(t)
			if err := os.WriteFile(planted, keyPEM, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(planted, 0o644); err != nil {
				t.Fatal(err)
			}
			before, err := os.Lstat(keyFile)
			if err != nil {
				t.Fatal(err)
			}

			p := runAgent(t, certOnlyPipeline(t, env.certConfig("[sia.demo:role.reader]", refreshFastRetries)), nil)
			if code := p.Exit(t, waitExit); code != 1 {
				t.Fatalf("exit %d, want 1\n%s", code, p.Log)
			}
			i := p.WaitLog(t, "Error initializing certificate: ", 0)
			if line := p.Log.Lines()[i]; !strings.Contains(line, keyFile) || !strings.Contains(line, tc.want) {
				t.Errorf("the error does not name %s and say %q: %s", keyFile, tc.want, line)
			}
			if n := ztsRecords(t, env.zts); n != 0 {
				t.Errorf("%d instances registered with ZTS", n)
			}
			after, err := os.Lstat(keyFile)
			if err != nil {
				t.Fatal(err)
			}
			if !os.SameFile(before, after) || after.Mode() != before.Mode() {
				t.Errorf("%s was replaced or changed: %v, was %v", keyFile, after.Mode(), before.Mode())
			}
			fi, err := os.Stat(planted)
			if err != nil {
				t.Fatal(err)
			}
			if got := readFile(t, planted); !bytes.Equal(got, keyPEM) || fi.Mode().Perm() != 0o644 {
				t.Errorf("the planted key was changed (mode %v)", fi.Mode().Perm())
			}
			for _, f := range []string{"service.cert.pem", "rolecerts/sia.demo:role.reader.cert.pem"} {
				if _, err := os.Lstat(env.path(f)); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("%s was written: %v", f, err)
				}
			}
		})
	}
}

// pairGenerations lists the generation directories of the pair whose key
// is keyFile.
func pairGenerations(t *testing.T, keyFile string) []string {
	t.Helper()
	gens, err := filepath.Glob(filepath.Join(filepath.Dir(keyFile), ".."+filepath.Base(keyFile)+".gen-*"))
	if err != nil {
		t.Fatal(err)
	}
	return gens
}

// keyPair is a key file and its certificate file, by the names readers use.
type keyPair struct{ key, cert string }

// pairReader checks key/certificate pairs as a careful reader would: it
// resolves the key's name to the directory it is in, reads the key and the
// certificate from that directory and compares their public keys. A file
// that vanished under it (an old generation removed) is read again.
type pairReader struct {
	pairs []keyPair

	mu         sync.Mutex
	mismatches []string
	seen       map[string]bool // pairs read whole at least once
	checks     atomic.Int64
	retries    atomic.Int64
}

// check reads one pair, retrying while files vanish. It returns an error
// only for a pair that cannot be read at all, such as one not written yet.
func (r *pairReader) check(p keyPair) error {
	if _, err := os.Lstat(p.key); err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		keyPEM, certPEM, err := readThroughResolved(p)
		if errors.Is(err, fs.ErrNotExist) && attempt < 100 {
			r.retries.Add(1)
			continue
		}
		if err != nil {
			return err
		}
		err = pairMatches(keyPEM, certPEM)
		r.mu.Lock()
		if err != nil {
			r.mismatches = append(r.mismatches, fmt.Sprintf("%s: %v", p.key, err))
		}
		r.seen[p.key] = true
		r.mu.Unlock()
		r.checks.Add(1)
		return nil
	}
}

// run checks every pair over and over until stop is closed. Pairs not
// written yet (before the first start) are skipped.
func (r *pairReader) run(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	pace := time.NewTicker(2 * time.Millisecond) // leaves the agent its share of the two cores
	defer pace.Stop()
	for {
		for _, p := range r.pairs {
			_ = r.check(p)
		}
		select {
		case <-stop:
			return
		case <-pace.C:
		}
	}
}

// wasSeen reports whether the pair was read whole before.
func (r *pairReader) wasSeen(p keyPair) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seen[p.key]
}

func (r *pairReader) failures() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.mismatches...)
}

// readThroughResolved reads a pair through the directory the key's name
// resolves to, so that both files come from the same generation.
func readThroughResolved(p keyPair) (keyPEM, certPEM []byte, err error) {
	resolved, err := filepath.EvalSymlinks(p.key)
	if err != nil {
		return nil, nil, err
	}
	dir := filepath.Dir(resolved)
	if keyPEM, err = os.ReadFile(filepath.Join(dir, filepath.Base(p.key))); err != nil {
		return nil, nil, err
	}
	if certPEM, err = os.ReadFile(filepath.Join(dir, filepath.Base(p.cert))); err != nil {
		return nil, nil, err
	}
	return keyPEM, certPEM, nil
}

// pairMatches parses a key and a certificate and compares public keys.
func pairMatches(keyPEM, certPEM []byte) error {
	kb, _ := pem.Decode(keyPEM)
	if kb == nil {
		return errors.New("no PEM key")
	}
	key, err := parseAnyKey(kb)
	if err != nil {
		return fmt.Errorf("parsing the key: %w", err)
	}
	cb, _ := pem.Decode(certPEM)
	if cb == nil {
		return errors.New("no PEM certificate")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return fmt.Errorf("parsing the certificate: %w", err)
	}
	pub, ok := key.(crypto.Signer)
	if !ok {
		return fmt.Errorf("a %T key", key)
	}
	if !pub.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(cert.PublicKey) {
		return fmt.Errorf("the certificate (serial %s) is not for the key", cert.SerialNumber)
	}
	return nil
}

// With key.rotate and role_certs.key_output every refresh changes every
// key: a reader checking the pairs all along, and the files after each of
// many kill -9s of the agent during refreshes, never see a key beside a
// certificate that is not for it. Short-lived certificates and a short
// interval make refreshes many times a second.
func TestRolePairNeverMismatched(t *testing.T) {
	t.Parallel()
	env := newCertEnv(t)
	roles := []string{"reader", "writer", "everyone"}
	cfg := strings.Replace(env.certConfig("[sia.demo:role."+strings.Join(roles, ", sia.demo:role.")+"]",
		"interval: 50ms\nmin_interval: 20ms\njitter: 0.5\nretry_initial: 20ms\nretry_max: 50ms\n"),
		"key:\n  type: ecdsa\n", "key:\n  type: ecdsa\n  rotate: true\n", 1)
	cfg = strings.Replace(cfg, "  dns_suffix: zts.athenz.cloud\n", "  dns_suffix: zts.athenz.cloud\n  expiry: 1m\n", 1)
	cfg = strings.Replace(cfg, "  key_output: true\n", "  key_output: true\n  expiry: 1m\n", 1)
	file := certOnlyPipeline(t, cfg)

	r := &pairReader{pairs: []keyPair{{env.path("service.key.pem"), env.path("service.cert.pem")}}, seen: make(map[string]bool)}
	for _, role := range roles {
		base := env.path("rolecerts/sia.demo:role." + role)
		r.pairs = append(r.pairs, keyPair{base + ".key.pem", base + ".cert.pem"})
	}
	quit, done := make(chan struct{}), make(chan struct{})
	go r.run(quit, done)
	defer func() { close(quit); <-done }()

	for i := range *kills {
		p := runAgent(t, file, nil)
		// A varying number of role certificates written, then a kill at a
		// random moment within the next refresh.
		from := 0
		for range 1 + i%3 {
			j, err := p.Log.WaitFrom(from, certLine("Updated role certificate"), waitLine)
			if err != nil {
				t.Fatalf("kill %d: %v\n%s", i, err, p.Log)
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
		// What the crash left: every pair complete and matched, but those
		// a first run was killed before it wrote them.
		for _, pair := range r.pairs {
			if err := r.check(pair); err != nil && (r.wasSeen(pair) || !errors.Is(err, fs.ErrNotExist)) {
				t.Fatalf("kill %d: pair %s: %v", i, pair.key, err)
			}
		}
		if f := r.failures(); len(f) > 0 {
			t.Fatalf("kill %d: a reader saw %d mismatched pairs, first: %s", i, len(f), f[0])
		}
	}
	t.Logf("%d kills, %d pairs checked, %d reads retried after an old generation was removed", *kills, r.checks.Load(), r.retries.Load())

	// A clean run removes what the kills left: one generation per pair.
	p := runAgent(t, file, nil)
	p.WaitLog(t, certLine("Updated role certificate"), waitLine)
	if code := stop(t, p); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if left := temps(t, env.dir); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
	for _, pair := range r.pairs {
		if gens := pairGenerations(t, pair.key); len(gens) != 1 {
			t.Errorf("%s: %d generations left, want 1: %v", pair.key, len(gens), gens)
		}
	}
	if f := r.failures(); len(f) > 0 {
		t.Fatalf("a reader saw %d mismatched pairs, first: %s", len(f), f[0])
	}
}

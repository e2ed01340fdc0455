package cert

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/sia-agent/sia-agent/sdk"
)

func testPair(t *testing.T) pairFiles {
	t.Helper()
	dir := t.TempDir()
	return pairFiles{key: filepath.Join(dir, "service.key.pem"), cert: filepath.Join(dir, "service.cert.pem"), log: hclog.NewNullLogger()}
}

// generations lists the pair's generation directories.
func generations(t *testing.T, p pairFiles) []string {
	t.Helper()
	entries, err := os.ReadDir(p.dir())
	if err != nil {
		t.Fatal(err)
	}
	var gens []string
	for _, e := range entries {
		if p.isGeneration(e.Name()) {
			gens = append(gens, e.Name())
		}
	}
	return gens
}

// readResolved reads a pair as a careful reader does: both files from the
// directory the key's name resolves to.
func readResolved(p pairFiles) (keyPEM, certPEM []byte, err error) {
	resolved, err := filepath.EvalSymlinks(p.key)
	if err != nil {
		return nil, nil, err
	}
	dir := filepath.Dir(resolved)
	if keyPEM, err = os.ReadFile(filepath.Join(dir, filepath.Base(p.key))); err != nil {
		return nil, nil, err
	}
	certPEM, err = os.ReadFile(filepath.Join(dir, filepath.Base(p.cert)))
	return keyPEM, certPEM, err
}

func TestPairLayout(t *testing.T) {
	p := testPair(t)
	for i := range 3 {
		key, cert := fmt.Appendf(nil, "key %d", i), fmt.Appendf(nil, "cert %d", i)
		if err := p.write(key, cert, nil); err != nil {
			t.Fatal(err)
		}
		if got := readFile(t, p.key); !bytes.Equal(got, key) {
			t.Errorf("write %d: key %q", i, got)
		}
		if got := readFile(t, p.cert); !bytes.Equal(got, cert) {
			t.Errorf("write %d: cert %q", i, got)
		}
		if gens := generations(t, p); len(gens) != 1 {
			t.Errorf("write %d: generations %v, want the current one only", i, gens)
		}
	}
	for name, want := range map[string]string{
		p.key:        "..service.key.pem.data/service.key.pem",
		p.cert:       "..service.key.pem.data/service.cert.pem",
		p.dataLink(): generations(t, p)[0],
	} {
		if got, err := os.Readlink(name); err != nil || got != want {
			t.Errorf("%s links to %q (%v), want %q", name, got, err, want)
		}
	}
	gen := filepath.Join(p.dir(), generations(t, p)[0])
	for name, want := range map[string]os.FileMode{
		gen: 0o755 | fs.ModeDir, filepath.Join(gen, "service.key.pem"): 0o600, filepath.Join(gen, "service.cert.pem"): 0o644,
	} {
		if fi, err := os.Lstat(name); err != nil || fi.Mode() != want {
			t.Errorf("%s: %v (%v), want %v", name, fi.Mode(), err, want)
		}
	}
	keyPEM, certPEM, err := p.read(keyPolicy{})
	if err != nil || string(keyPEM) != "key 2" || string(certPEM) != "cert 2" {
		t.Errorf("read: %q, %q, %v", keyPEM, certPEM, err)
	}
}

// The certificate may be in another directory: its link is relative, so
// the pair holds wherever the two directories are mounted together.
func TestPairAcrossDirectories(t *testing.T) {
	root := t.TempDir()
	p := pairFiles{key: filepath.Join(root, "keys/k.pem"), cert: filepath.Join(root, "certs/c.pem"), log: hclog.NewNullLogger()}
	if err := p.write([]byte("key"), []byte("cert"), nil); err != nil {
		t.Fatal(err)
	}
	if got, err := os.Readlink(p.cert); err != nil || got != "../keys/..k.pem.data/c.pem" {
		t.Errorf("cert link %q, %v", got, err)
	}
	moved := filepath.Join(t.TempDir(), "moved")
	if err := os.Rename(root, moved); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(moved, "certs/c.pem")); string(got) != "cert" {
		t.Errorf("cert after a move: %q", got)
	}
}

// Plain files of an earlier layout become links to a generation holding
// what they held before anything else changes, so that a reader never sees
// the old key beside the new certificate, nor the reverse.
func TestPairMigratesPlainFiles(t *testing.T) {
	p := testPair(t)
	if err := os.WriteFile(p.key, []byte("old key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p.cert, []byte("old cert"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := p.link(); err != nil {
		t.Fatal(err)
	}
	if k, c := readFile(t, p.key), readFile(t, p.cert); string(k) != "old key" || string(c) != "old cert" {
		t.Errorf("after linking: %q, %q; want the plain files' content", k, c)
	}
	if !isLink(p.key, p.keyTarget()) {
		t.Error("the key's name is not a link")
	}
	if err := p.write([]byte("new key"), []byte("new cert"), nil); err != nil {
		t.Fatal(err)
	}
	if k, c := readFile(t, p.key), readFile(t, p.cert); string(k) != "new key" || string(c) != "new cert" {
		t.Errorf("after writing: %q, %q", k, c)
	}
}

// A reader that resolves the key's name and reads both files from there
// never sees files of two generations, however its reads interleave with
// the writes; a generation removed under it is read again.
func TestPairReaderNeverSeesAMix(t *testing.T) {
	p := testPair(t)
	if err := p.write([]byte("0"), []byte("0"), nil); err != nil {
		t.Fatal(err)
	}
	const writes = 100
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Go(func() {
		defer close(done)
		for i := 1; i <= writes; i++ {
			if err := p.write([]byte(fmt.Sprint(i)), []byte(fmt.Sprint(i)), nil); err != nil {
				t.Error(err)
				return
			}
		}
	})
	reads, retries := 0, 0
	for stop := false; !stop; {
		select {
		case <-done:
			stop = true
		default:
		}
		keyPEM, certPEM, err := readResolved(p)
		if errors.Is(err, fs.ErrNotExist) {
			retries++
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(keyPEM, certPEM) {
			t.Fatalf("read key %s beside cert %s", keyPEM, certPEM)
		}
		reads++
	}
	wg.Wait()
	t.Logf("%d reads, %d retried", reads, retries)
}

// A crash after a new generation is complete but before the switch leaves
// the old pair, whole; the next start removes the unused generation and
// temporary links.
func TestPairCrashBeforeSwitch(t *testing.T) {
	p := testPair(t)
	if err := p.write([]byte("old key"), []byte("old cert"), nil); err != nil {
		t.Fatal(err)
	}
	crash := errors.New("crash")
	if err := p.write([]byte("new key"), []byte("new cert"), func() error { return crash }); !errors.Is(err, crash) {
		t.Fatalf("write: %v", err)
	}
	if gens := generations(t, p); len(gens) != 1 {
		t.Errorf("a failed write left generations %v", gens)
	}
	// What a kill leaves: a complete generation and a temporary link.
	if _, err := p.newGeneration([]byte("new key"), []byte("new cert")); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(p.dir(), "."+filepath.Base(p.dataLink())+linkTemp)
	if err := os.Symlink("nowhere", tmp); err != nil {
		t.Fatal(err)
	}
	if k, c := readFile(t, p.key), readFile(t, p.cert); string(k) != "old key" || string(c) != "old cert" {
		t.Errorf("after the crash: %q, %q; want the old pair", k, c)
	}
	p.clean()
	if gens := generations(t, p); len(gens) != 1 {
		t.Errorf("after clean: generations %v, want the current one", gens)
	}
	if _, err := os.Lstat(tmp); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("temporary link left: %v", err)
	}
	if k := readFile(t, p.key); string(k) != "old key" {
		t.Errorf("after clean: %q", k)
	}
}

// Links the provider did not make are never followed to a key.
func TestPairForeignLinksAreRefused(t *testing.T) {
	planted := filepath.Join(t.TempDir(), "planted")
	if err := os.MkdirAll(planted, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(planted, "service.key.pem"), []byte("planted"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, plant := range map[string]func(p pairFiles) error{
		"key to elsewhere": func(p pairFiles) error { return os.Symlink(filepath.Join(planted, "service.key.pem"), p.key) },
		"data to elsewhere": func(p pairFiles) error {
			if err := os.Symlink(p.keyTarget(), p.key); err != nil {
				return err
			}
			return os.Symlink(planted, p.dataLink())
		},
		"generation a link": func(p pairFiles) error {
			if err := os.Symlink(p.keyTarget(), p.key); err != nil {
				return err
			}
			if err := os.Symlink(planted, filepath.Join(p.dir(), p.prefix()+genInfix+"1")); err != nil {
				return err
			}
			return os.Symlink(p.prefix()+genInfix+"1", p.dataLink())
		},
	} {
		t.Run(name, func(t *testing.T) {
			p := testPair(t)
			if err := plant(p); err != nil {
				t.Fatal(err)
			}
			_, _, err := p.read(keyPolicy{})
			var unsafe *unsafeKeyError
			if !errors.As(err, &unsafe) || !strings.Contains(err.Error(), p.key) {
				t.Fatalf("read: %v, want the link refused", err)
			}
			// Writing replaces the links, and writes nothing through them.
			if err := p.write([]byte("key"), []byte("cert"), nil); err != nil {
				t.Fatal(err)
			}
			if got := readFile(t, filepath.Join(planted, "service.key.pem")); string(got) != "planted" {
				t.Errorf("written through a link: %q", got)
			}
			if k, err := readResolvedKey(p); err != nil || k != "key" {
				t.Errorf("after the write: %q, %v", k, err)
			}
		})
	}
}

func readResolvedKey(p pairFiles) (string, error) {
	k, _, err := readResolved(p)
	return string(k), err
}

// files.combined and role_certs.combined_output: key and certificate in
// one file, 0600.
func TestCombinedOutput(t *testing.T) {
	e := newEnv(t)
	start(t, e.config("files:\n  dir: "+e.dir+"\n  combined: service.pem\nrole_certs:\n  targets: [sia.demo:role.reader]\n  combined_output: true\n"))
	for _, f := range []string{"service.pem", "rolecerts/sia.demo:role.reader.combined.pem"} {
		pair, err := tls.LoadX509KeyPair(e.path(f), e.path(f))
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if got := fileMode(t, e.path(f)); got != 0o600 {
			t.Errorf("%s: mode %v", f, got)
		}
		if f == "service.pem" && pair.Leaf.Subject.CommonName != "sia.demo.agent" {
			t.Errorf("%s: CN %s", f, pair.Leaf.Subject.CommonName)
		}
	}
}

// A stale temporary file of an atomic write next to a pair's names is
// removed too (files of the layout before the pairs).
func TestPairTempsOfAnEarlierLayoutAreRemoved(t *testing.T) {
	e := newEnv(t)
	stale := e.path(".service.cert.pem.sia-tmp-77")
	if err := os.WriteFile(stale, []byte("half a cert"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, h, _ := start(t, e.config(""))
	h.Host.WaitRecord(t, waitRecord, isRecord(identityName, sdk.ReasonNew, sdk.OutcomeSuccess))
	if _, err := os.Stat(stale); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("stale temporary file: %v", err)
	}
}

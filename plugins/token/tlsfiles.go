package token

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"time"
)

// statEvery limits how often reloaders look at their files: a handshake
// costs one stat at most once a second.
const statEvery = time.Second

// fileStamp tells whether a file changed: the cert provider replaces files
// by rename, which changes at least the modification time.
type fileStamp struct {
	mod  time.Time
	size int64
}

func stamp(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{mod: fi.ModTime(), size: fi.Size()}, nil
}

// watched is a value loaded from files and loaded again when one of them
// changes. A reload that fails keeps the previous value: a half-written
// pair must not take the identity away.
type watched[T any] struct {
	files []string
	load  func() (T, error)

	mu      sync.Mutex
	value   T
	stamps  []fileStamp
	checked time.Time
	gen     int // incremented on every reload
	lastErr error
}

func newWatched[T any](load func() (T, error), files ...string) (*watched[T], error) {
	w := &watched[T]{files: files, load: load}
	stamps, err := w.stampAll()
	if err != nil {
		return nil, err
	}
	v, err := load()
	if err != nil {
		return nil, err
	}
	w.value, w.stamps, w.checked = v, stamps, time.Now()
	return w, nil
}

func (w *watched[T]) stampAll() ([]fileStamp, error) {
	out := make([]fileStamp, len(w.files))
	for i, f := range w.files {
		s, err := stamp(f)
		if err != nil {
			return nil, err
		}
		out[i] = s
	}
	return out, nil
}

// get returns the current value and its generation, reloading it first if
// a file changed since the last look (at most once per statEvery).
func (w *watched[T]) get() (T, int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if now := time.Now(); now.Sub(w.checked) >= statEvery {
		w.checked = now
		w.refresh()
	}
	return w.value, w.gen
}

func (w *watched[T]) refresh() {
	stamps, err := w.stampAll()
	if err != nil {
		w.lastErr = err
		return
	}
	same := true
	for i := range stamps {
		same = same && stamps[i] == w.stamps[i]
	}
	if same {
		return
	}
	v, err := w.load()
	if err != nil {
		w.lastErr = err
		return
	}
	w.value, w.stamps, w.lastErr = v, stamps, nil
	w.gen++
}

// loadKeyPair watches a PEM certificate and key.
func loadKeyPair(certFile, keyFile string) (*watched[*tls.Certificate], error) {
	w, err := newWatched(func() (*tls.Certificate, error) {
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("loading key pair %s, %s: %w", certFile, keyFile, err)
		}
		return &pair, nil
	}, certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("loading key pair %s, %s: %w", certFile, keyFile, err)
	}
	return w, nil
}

// loadCAPool watches a PEM bundle of CA certificates. The pool holds only
// them: the system roots are deliberately not added.
func loadCAPool(file string) (*watched[*x509.CertPool], error) {
	w, err := newWatched(func() (*x509.CertPool, error) {
		pem, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, errors.New("no PEM certificate in " + file)
		}
		return pool, nil
	}, file)
	if err != nil {
		return nil, fmt.Errorf("loading CA bundle %s: %w", file, err)
	}
	return w, nil
}

// serverTLS is the token server's TLS configuration, rebuilt when its
// certificate or client CA files change.
type serverTLS struct {
	pair     *watched[*tls.Certificate]
	clientCA *watched[*x509.CertPool] // nil: no mTLS

	mu     sync.Mutex
	cfg    *tls.Config
	caGen  int
	hasCfg bool
}

func newServerTLS(c TLSConfig) (*serverTLS, error) {
	pair, err := loadKeyPair(c.CertFile, c.KeyFile)
	if err != nil {
		return nil, err
	}
	s := &serverTLS{pair: pair}
	if c.ClientCAFile != "" {
		if s.clientCA, err = loadCAPool(c.ClientCAFile); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// config is what the listener uses: every handshake asks configFor for
// the current configuration.
func (s *serverTLS) config() *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) { return s.configFor(), nil },
	}
}

func (s *serverTLS) configFor() *tls.Config {
	var pool *x509.CertPool
	gen := 0
	if s.clientCA != nil {
		pool, gen = s.clientCA.get()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.hasCfg || gen != s.caGen {
		cfg := &tls.Config{
			MinVersion: tls.VersionTLS12,
			NextProtos: []string{"h2", "http/1.1"},
			GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
				cert, _ := s.pair.get()
				return cert, nil
			},
		}
		if pool != nil {
			cfg.ClientAuth = tls.RequireAndVerifyClientCert
			cfg.ClientCAs = pool
		}
		s.cfg, s.caGen, s.hasCfg = cfg, gen, true
	}
	return s.cfg
}

// identity is the key pair the ZTS client authenticates with. In refresh
// mode its files may not exist yet at Init (the cert provider writes them
// once ZTS answers it): until they do, get fails with a noIdentityError,
// and the files are looked for again at most once per statEvery. Once
// loaded, the pair is reloaded when its files change.
type identity struct {
	certFile, keyFile string

	mu      sync.Mutex
	pair    *watched[*tls.Certificate] // nil until the files could be loaded
	checked time.Time
	lastErr error
}

// newIdentity loads the pair. When the files do not exist and wait is
// set, it returns an identity that waits for them; any other failure is
// an error.
func newIdentity(certFile, keyFile string, wait bool) (*identity, error) {
	id := &identity{certFile: certFile, keyFile: keyFile}
	pair, err := loadKeyPair(certFile, keyFile)
	switch {
	case err == nil:
		id.pair = pair
	case wait && errors.Is(err, fs.ErrNotExist):
		id.checked, id.lastErr = time.Now(), err
	default:
		return nil, err
	}
	return id, nil
}

// get returns the current certificate and its generation.
func (id *identity) get() (*tls.Certificate, int, error) {
	id.mu.Lock()
	pair := id.pair
	if pair == nil {
		if now := time.Now(); now.Sub(id.checked) >= statEvery {
			id.checked = now
			id.pair, id.lastErr = loadKeyPair(id.certFile, id.keyFile)
			pair = id.pair
		}
	}
	err := id.lastErr
	id.mu.Unlock()
	if pair == nil {
		return nil, 0, &noIdentityError{keyFile: id.keyFile, err: err}
	}
	cert, gen := pair.get()
	return cert, gen, nil
}

// ready reports whether the identity has been loaded.
func (id *identity) ready() bool {
	id.mu.Lock()
	defer id.mu.Unlock()
	return id.pair != nil
}

// noIdentityError is a fetch before the identity files exist.
type noIdentityError struct {
	keyFile string
	err     error
}

func (e *noIdentityError) Error() string {
	return "no identity yet: waiting for " + e.keyFile + ": " + e.err.Error()
}

func (e *noIdentityError) Unwrap() error { return e.err }

// Outcome classifies the error for status records.
func (e *noIdentityError) Outcome() string { return "NO_IDENTITY" }

// Package tlsfiles loads TLS material from PEM files and loads it again
// when the files change: the cert provider rotates the very files the
// other providers serve and authenticate with, and none of them needs a
// restart to pick up the new ones.
package tlsfiles

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// Recheck limits how often a Watched looks at its files: a handshake costs
// at most one stat a second.
const Recheck = time.Second

// stamp tells whether a file changed: the cert provider replaces files by
// rename, which changes at least the modification time.
type stamp struct {
	mod  time.Time
	size int64
}

func stampOf(path string) (stamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return stamp{}, err
	}
	return stamp{mod: fi.ModTime(), size: fi.Size()}, nil
}

// Watched is a value loaded from files, and loaded again when one of them
// changes. A reload that fails keeps the previous value: a pair caught
// between the writes of its certificate and its key must not take the
// identity away.
type Watched[T any] struct {
	files []string
	load  func() (T, error)
	every time.Duration

	mu      sync.Mutex
	value   T
	stamps  []stamp
	checked time.Time
}

// Watch loads the value and returns it watched; it fails if a file is
// missing or load fails.
func Watch[T any](load func() (T, error), files ...string) (*Watched[T], error) {
	return watch(Recheck, load, files...)
}

func watch[T any](every time.Duration, load func() (T, error), files ...string) (*Watched[T], error) {
	w := &Watched[T]{files: files, load: load, every: every}
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

func (w *Watched[T]) stampAll() ([]stamp, error) {
	out := make([]stamp, len(w.files))
	for i, f := range w.files {
		s, err := stampOf(f)
		if err != nil {
			return nil, err
		}
		out[i] = s
	}
	return out, nil
}

// Get returns the current value, loading it again first if a file changed
// since the last look (at most once per Recheck).
func (w *Watched[T]) Get() T {
	w.mu.Lock()
	defer w.mu.Unlock()
	if now := time.Now(); now.Sub(w.checked) >= w.every {
		w.checked = now
		w.reload()
	}
	return w.value
}

func (w *Watched[T]) reload() {
	stamps, err := w.stampAll()
	if err != nil {
		return
	}
	same := true
	for i := range stamps {
		same = same && stamps[i] == w.stamps[i]
	}
	if same {
		return
	}
	if v, err := w.load(); err == nil {
		w.value, w.stamps = v, stamps
	}
}

// KeyPair watches a PEM certificate and its key.
func KeyPair(certFile, keyFile string) (*Watched[*tls.Certificate], error) {
	return keyPair(Recheck, certFile, keyFile)
}

func keyPair(every time.Duration, certFile, keyFile string) (*Watched[*tls.Certificate], error) {
	w, err := watch(every, func() (*tls.Certificate, error) {
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, err
		}
		return &pair, nil
	}, certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("loading TLS key pair %s, %s: %w", certFile, keyFile, err)
	}
	return w, nil
}

// CAPool watches a PEM bundle of CA certificates. The pool holds only
// them: the system roots are deliberately not added.
func CAPool(file string) (*Watched[*x509.CertPool], error) {
	w, err := Watch(func() (*x509.CertPool, error) { return LoadCAPool(file) }, file)
	if err != nil {
		return nil, fmt.Errorf("loading CA bundle %s: %w", file, err)
	}
	return w, nil
}

// LoadCAPool reads a PEM bundle of CA certificates once.
func LoadCAPool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errors.New("no PEM certificate in " + file)
	}
	return pool, nil
}

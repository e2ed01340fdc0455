package tlsfiles

import (
	"crypto/tls"
	"errors"
	"io/fs"
	"sync"
	"time"
)

// Identity is the key pair a provider authenticates with. Its files may
// not exist yet (the cert provider writes them once ZTS answers it): until
// they do, Get fails with a *NoIdentityError, and the files are looked for
// again at most once per Recheck. Once loaded, the pair is reloaded when
// its files change.
type Identity struct {
	certFile, keyFile string

	mu      sync.Mutex
	pair    *Watched[*tls.Certificate] // nil until the files could be loaded
	checked time.Time
	lastErr error
}

// NewIdentity loads the pair. When its files do not exist and wait is
// set, it returns an Identity that waits for them; any other failure is an
// error.
func NewIdentity(certFile, keyFile string, wait bool) (*Identity, error) {
	id := &Identity{certFile: certFile, keyFile: keyFile}
	pair, err := KeyPair(certFile, keyFile)
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

// Get returns the current certificate.
func (id *Identity) Get() (*tls.Certificate, error) {
	id.mu.Lock()
	pair := id.pair
	if pair == nil {
		if now := time.Now(); now.Sub(id.checked) >= Recheck {
			id.checked = now
			id.pair, id.lastErr = KeyPair(id.certFile, id.keyFile)
			pair = id.pair
		}
	}
	err := id.lastErr
	id.mu.Unlock()
	if pair == nil {
		return nil, &NoIdentityError{KeyFile: id.keyFile, Err: err}
	}
	return pair.Get(), nil
}

// Ready reports whether the pair has been loaded.
func (id *Identity) Ready() bool {
	id.mu.Lock()
	defer id.mu.Unlock()
	return id.pair != nil
}

// NoIdentityError is the want of an identity whose files do not exist yet.
type NoIdentityError struct {
	KeyFile string
	Err     error
}

func (e *NoIdentityError) Error() string {
	return "no identity yet: waiting for " + e.KeyFile + ": " + e.Err.Error()
}

func (e *NoIdentityError) Unwrap() error { return e.Err }

// Outcome classifies the error for status records.
func (e *NoIdentityError) Outcome() string { return "NO_IDENTITY" }

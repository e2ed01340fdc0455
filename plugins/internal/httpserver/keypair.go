package httpserver

import (
	"crypto/tls"
	"fmt"
	"os"
	"sync"
	"time"
)

// keyPair is a TLS certificate and key read from files and read again when
// either file changes: the cert provider may rotate the very files the
// server uses, and a restart must not be needed to pick them up.
type keyPair struct {
	certFile, keyFile string

	mu      sync.Mutex
	cert    *tls.Certificate
	stamps  [2]stamp
	checked time.Time
}

// recheck limits how often a handshake looks at the files.
const recheck = time.Second

// stamp tells whether a file changed: files are replaced by rename, which
// changes the modification time at least.
type stamp struct {
	mod  time.Time
	size int64
}

func stampOf(path string) (stamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return stamp{}, err
	}
	return stamp{fi.ModTime(), fi.Size()}, nil
}

func loadKeyPair(certFile, keyFile string) (*keyPair, error) {
	k := &keyPair{certFile: certFile, keyFile: keyFile}
	if err := k.reload(time.Now()); err != nil {
		return nil, err
	}
	return k, nil
}

func (k *keyPair) reload(now time.Time) error {
	var stamps [2]stamp
	for i, f := range []string{k.certFile, k.keyFile} {
		s, err := stampOf(f)
		if err != nil {
			return fmt.Errorf("loading TLS key pair: %w", err)
		}
		stamps[i] = s
	}
	k.checked = now
	if k.cert != nil && stamps == k.stamps {
		return nil
	}
	pair, err := tls.LoadX509KeyPair(k.certFile, k.keyFile)
	if err != nil {
		return fmt.Errorf("loading TLS key pair %s, %s: %w", k.certFile, k.keyFile, err)
	}
	k.cert, k.stamps = &pair, stamps
	return nil
}

// get is the tls.Config's GetCertificate. A reload that fails, such as
// between the writes of a new certificate and its key, keeps the pair
// that worked.
func (k *keyPair) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if now := time.Now(); now.Sub(k.checked) >= recheck {
		_ = k.reload(now)
	}
	return k.cert, nil
}

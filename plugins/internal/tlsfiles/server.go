package tlsfiles

import (
	"crypto/tls"
	"crypto/x509"
	"sync"
)

// Server is the TLS configuration of a server whose certificate, and
// client CAs if it has them, are reloaded when their files change.
type Server struct {
	pair       *Watched[*tls.Certificate]
	clientCAs  *Watched[*x509.CertPool] // nil: no client certificates asked
	nextProtos []string

	mu   sync.Mutex
	cfg  *tls.Config
	pool *x509.CertPool // the client CAs cfg was built with
}

// NewServer loads the key pair and, unless clientCAFile is empty, the CAs
// whose client certificates the server requires (mTLS). nextProtos are
// the ALPN protocols offered, e.g. "h2", "http/1.1"; none means HTTP/1.1.
func NewServer(certFile, keyFile, clientCAFile string, nextProtos ...string) (*Server, error) {
	pair, err := KeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	s := &Server{pair: pair, nextProtos: nextProtos}
	if clientCAFile != "" {
		if s.clientCAs, err = CAPool(clientCAFile); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// MTLS reports whether the server requires client certificates.
func (s *Server) MTLS() bool { return s.clientCAs != nil }

// Config is what the listener uses: every handshake gets the current
// certificate and client CAs.
func (s *Server) Config() *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) { return s.current(), nil },
	}
}

// current returns the configuration of the next handshake, built again
// only when the client CAs changed: the certificate is asked for at every
// handshake anyway.
func (s *Server) current() *tls.Config {
	var pool *x509.CertPool
	if s.clientCAs != nil {
		pool = s.clientCAs.Get()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cfg == nil || pool != s.pool {
		cfg := &tls.Config{
			MinVersion: tls.VersionTLS12,
			NextProtos: s.nextProtos,
			GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
				return s.pair.Get(), nil
			},
		}
		if pool != nil {
			cfg.ClientAuth = tls.RequireAndVerifyClientCert
			cfg.ClientCAs = pool
		}
		s.cfg, s.pool = cfg, pool
	}
	return s.cfg
}

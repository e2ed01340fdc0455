package ztsdev

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/AthenZ/athenz/libs/go/zmssvctoken"
	"github.com/hashicorp/go-hclog"

	"github.com/sia-agent/sia-agent/sdk"
)

// DefaultListen is where zts-dev listens unless told otherwise.
const DefaultListen = "127.0.0.1:4443"

// shutdownTimeout bounds how long Serve waits for in-flight requests.
const shutdownTimeout = 10 * time.Second

// Options configure a Server.
type Options struct {
	// ConfigFile is the YAML data set. Empty means the built-in DemoConfig
	// (and nothing to reload).
	ConfigFile string
	// StateDir holds the CA, server certificate, signing key and cert
	// records; created on first start. Required.
	StateDir string
	// Listen is host:port; port 0 picks a free port. Default DefaultListen.
	Listen string
	// Logger receives structured logs. Default: discard.
	Logger hclog.Logger
	// WatchInterval, when positive, polls ConfigFile and reloads it when
	// its content changes.
	WatchInterval time.Duration
	// OnReload, if set, is called after every reload attempt with its
	// result, from the goroutine that reloaded.
	OnReload func(error)
	// ServiceCerts writes a key and identity certificate for every
	// configured service into StateDir (see ServiceCertFiles) at start.
	ServiceCerts bool
}

// Server is a running zts-dev instance. Its methods are safe for concurrent
// use.
type Server struct {
	opts    Options
	log     hclog.Logger
	keys    *keyMaterial
	records *recordStore
	ln      net.Listener
	host    string // advertised host of the listener
	port    int
	url     string
	httpSrv *http.Server
	state   atomic.Pointer[state]
	counts  map[string]*atomic.Int64 // per operation; the map itself is fixed

	// stop ends request contexts at shutdown, so injected latencies do not
	// hold Shutdown up.
	stop context.CancelCauseFunc

	reloadMu  sync.Mutex // serialises reloads; guards configSum
	configSum [32]byte
	closeOnce sync.Once
	served    atomic.Bool
}

// errShutdown is the cause of request contexts ended by shutdown.
var errShutdown = errors.New("zts-dev shutting down")

// New loads the config and key material and binds the listener, so that
// URL is known before Serve is called. Config problems are conf.Problems.
func New(opts Options) (_ *Server, err error) {
	if opts.StateDir == "" {
		return nil, errors.New("state dir is required")
	}
	opts.Listen = cmp.Or(opts.Listen, DefaultListen)
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	listenHost, _, err := net.SplitHostPort(opts.Listen)
	if err != nil {
		return nil, fmt.Errorf("parsing listen address %q: %w", opts.Listen, err)
	}

	s := &Server{opts: opts, log: opts.Logger, counts: make(map[string]*atomic.Int64)}
	for _, op := range Operations() {
		s.counts[op] = new(atomic.Int64)
	}
	cfg, sum, err := s.readConfig()
	if err != nil {
		return nil, err
	}
	s.configSum = sum
	s.host = advertisedHost(cmp.Or(cfg.Server.Hostname, listenHost))
	if err := s.openStateDir(); err != nil {
		return nil, err
	}

	ln, err := net.Listen("tcp", opts.Listen)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", opts.Listen, err)
	}
	defer func() {
		if err != nil {
			_ = ln.Close() // the error returned is the one that matters
		}
	}()
	s.ln = ln
	s.port = ln.Addr().(*net.TCPAddr).Port
	s.url = baseURL(s.host, s.port)

	st, err := newState(cfg, s.keys, s.host, s.port, nil)
	if err != nil {
		return nil, err
	}
	s.state.Store(st)
	if err := s.writeAthenzConf(); err != nil {
		return nil, err
	}
	if opts.ServiceCerts {
		written, err := s.writeServiceCerts(cfg)
		if err != nil {
			return nil, fmt.Errorf("writing service certs: %w", err)
		}
		if len(written) > 0 {
			s.log.Info("wrote service identities", "dir", filepath.Join(opts.StateDir, ServiceCertsDir), "principals", written)
		}
	}
	s.httpSrv = s.newHTTPServer()
	return s, nil
}

// openStateDir loads or creates the key material and opens the cert records.
func (s *Server) openStateDir() error {
	created, km, err := loadOrCreateKeys(s.opts.StateDir, serverHosts(s.host), time.Now())
	if err != nil {
		return fmt.Errorf("preparing key material in %s: %w", s.opts.StateDir, err)
	}
	if len(created) > 0 {
		s.log.Info("generated key material", "state_dir", s.opts.StateDir, "files", created)
	}
	if km.caFile, err = filepath.Abs(km.caFile); err != nil {
		return fmt.Errorf("resolving CA path: %w", err)
	}
	s.keys = km
	s.records, err = openRecordStore(filepath.Join(s.opts.StateDir, recordsFileName))
	return err
}

// newHTTPServer asks for, but does not require, a client certificate
// (Jetty's "want" in real ZTS), verified against the dev CA.
func (s *Server) newHTTPServer() *http.Server {
	baseCtx, stop := context.WithCancelCause(context.Background())
	s.stop = stop
	pool := x509.NewCertPool()
	pool.AddCert(s.keys.caCert)
	return &http.Server{
		Handler: s.routes(),
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{s.keys.serverCert},
			ClientAuth:   tls.VerifyClientCertIfGiven,
			ClientCAs:    pool,
			MinVersion:   tls.VersionTLS12,
		},
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       90 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return baseCtx },
		// TLS handshake failures and the like: noise unless debugging.
		ErrorLog: s.log.StandardLogger(&hclog.StandardLoggerOptions{ForceLevel: hclog.Debug}),
	}
}

// URL is the base URL clients use: https://<host>:<port>/zts/v1.
func (s *Server) URL() string { return s.url }

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// CAFile is the absolute path of the PEM CA bundle that verifies the server
// and every certificate it issues.
func (s *Server) CAFile() string { return s.keys.caFile }

// CACertPEM is the content of CAFile.
func (s *Server) CACertPEM() []byte { return append([]byte(nil), s.keys.caPEM...) }

// Issuer is the current iss of issued JWTs.
func (s *Server) Issuer() string { return s.state.Load().issuer }

// Requests reports how many requests the server received for op (one of
// Operations), faulted and refused ones included.
func (s *Server) Requests(op string) int64 {
	if c, ok := s.counts[op]; ok {
		return c.Load()
	}
	return 0
}

// Serve answers requests until ctx is done, then shuts down gracefully and
// returns nil. It can be called once.
func (s *Server) Serve(ctx context.Context) error {
	if !s.served.CompareAndSwap(false, true) {
		return errors.New("zts-dev: Serve called twice")
	}
	s.log.Info("listening", "url", s.url, "ca_file", s.keys.caFile, "state_dir", s.opts.StateDir)

	var wg sync.WaitGroup
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer func() {
		stopWatch()
		wg.Wait()
	}()
	if s.opts.WatchInterval > 0 && s.opts.ConfigFile != "" {
		wg.Go(func() { s.watch(watchCtx, s.opts.WatchInterval) })
	}

	errc := make(chan error, 1)
	go func() { errc <- s.httpSrv.ServeTLS(s.ln, "", "") }()

	select {
	case err := <-errc:
		s.stop(errShutdown)
		return fmt.Errorf("serving HTTPS: %w", err)
	case <-ctx.Done():
	}
	s.log.Info("shutting down")
	s.stop(errShutdown)
	shutCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	err := s.httpSrv.Shutdown(shutCtx)
	if serveErr := <-errc; !errors.Is(serveErr, http.ErrServerClosed) {
		err = errors.Join(err, serveErr)
	}
	if err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	s.log.Info("stopped")
	return nil
}

// Close releases the listener of a Server whose Serve was never called.
func (s *Server) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.stop(errShutdown)
		if !s.served.Load() {
			err = s.ln.Close()
		}
	})
	return err
}

// writeAthenzConf writes the athenz.conf that libs/go/athenzconf reads, so
// ZPE-style verifiers find the role token key by its k= id.
func (s *Server) writeAthenzConf() error {
	type publicKey struct {
		ID  string `json:"id"`
		Key string `json:"key"` // ybase64 of the PEM
	}
	pubPEM, err := publicKeyPEM(&s.keys.signingKey.PublicKey)
	if err != nil {
		return err
	}
	conf, err := json.Marshal(struct {
		ZTSURL        string      `json:"ztsUrl"`
		ZMSURL        string      `json:"zmsUrl"`
		ZTSPublicKeys []publicKey `json:"ztsPublicKeys"`
		ZMSPublicKeys []publicKey `json:"zmsPublicKeys"`
	}{
		ZTSURL:        "https://" + net.JoinHostPort(s.host, strconv.Itoa(s.port)) + "/",
		ZTSPublicKeys: []publicKey{{ID: s.state.Load().cfg.Server.KeyID, Key: new(zmssvctoken.YBase64).EncodeToString(pubPEM)}},
		ZMSPublicKeys: []publicKey{},
	})
	if err != nil {
		return fmt.Errorf("encoding athenz.conf: %w", err)
	}
	if err := sdk.WriteFileAtomic(filepath.Join(s.opts.StateDir, athenzConfFileName), append(conf, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing athenz.conf: %w", err)
	}
	return nil
}

// Package httpserver runs the HTTP server of a provider plugin the way the
// lifecycle specification asks: the address is bound in Start, so that a
// port in use fails Start instead of killing the process from a goroutine
// (k8s-athenz-sia's log.Fatal); the serving goroutine belongs to the
// provider's sdk.Group; Start returns once the server answers; Shutdown
// drains requests within a bound, then closes what is left.
package httpserver

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/sia-agent/sia-agent/plugins/internal/tlsfiles"
	"github.com/sia-agent/sia-agent/sdk"
	"github.com/sia-agent/sia-agent/sdk/conf"
)

// TLS is the optional `tls:` block of a server's configuration: with both
// files set the server speaks HTTPS only.
type TLS struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// Enabled reports whether TLS is configured.
func (t TLS) Enabled() bool { return t.CertFile != "" || t.KeyFile != "" }

// Validate checks that the block names both files or neither. It does
// not look at the files: another provider may write them before this one
// starts.
func (t TLS) Validate() error {
	var check conf.Checker
	switch {
	case t.CertFile != "" && t.KeyFile == "":
		check.Errorf("key_file", "required with tls.cert_file")
	case t.CertFile == "" && t.KeyFile != "":
		check.Errorf("cert_file", "required with tls.key_file")
	}
	return check.Err()
}

// Resolve returns t with relative paths made absolute against dir.
func (t TLS) Resolve(dir string) TLS {
	return TLS{CertFile: resolve(dir, t.CertFile), KeyFile: resolve(dir, t.KeyFile)}
}

func resolve(dir, path string) string {
	if path == "" || filepath.IsAbs(path) || dir == "" {
		return path
	}
	return filepath.Join(dir, path)
}

// CheckAddress says what is wrong with address, where a server is to
// listen, if anything.
func CheckAddress(address string) error {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("%q is not host:port (e.g. 127.0.0.1:9999)", address)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q: port %q is not a number from 0 to 65535", address, port)
	}
	if host != "" && net.ParseIP(host) == nil && host != "localhost" {
		// A name could resolve to anything, or to nothing at start.
		return fmt.Errorf("%q: listen on an IP address or localhost, not %q", address, host)
	}
	return nil
}

// Options configure a Server.
type Options struct {
	// Name is what the log calls the server, e.g. "metrics exporter server".
	Name string
	// Address is host:port; port 0 picks a free port (see Server.Addr).
	Address string
	TLS     TLS
	// TLSConfig, if set, is used instead of TLS's files: a server with
	// client CAs or HTTP/2 builds its own (see package tlsfiles).
	TLSConfig *tls.Config
	Handler   http.Handler
	// WriteTimeout bounds writing a response, handling included.
	WriteTimeout time.Duration
	// ReadHeaderTimeout, ReadTimeout and IdleTimeout replace the defaults
	// every server shares when set.
	ReadHeaderTimeout, ReadTimeout, IdleTimeout time.Duration
	// Drain, if set, replaces the default shutdown: no delay, and
	// ShutdownGrace to drain.
	Drain *Drain
	// LogFields are added to the "Starting <name>[<address>]" line.
	LogFields []any
	Logger    hclog.Logger
}

// Drain is how a server shuts down: it keeps serving for Delay (announced
// in the log, as k8s-athenz-sia's token server does, even when it is 0),
// so that clients routed away from the agent finish first, then drains
// in-flight requests for at most Timeout and closes what is left.
type Drain struct {
	Delay, Timeout time.Duration
}

// Timeouts every server shares unless its Options say otherwise: a slow or
// idle client cannot hold a connection for long.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	idleTimeout       = time.Minute
	maxHeaderBytes    = 64 << 10

	// ShutdownGrace bounds the drain of in-flight requests at Shutdown;
	// connections still open then are closed.
	ShutdownGrace = 5 * time.Second
)

// Server is a bound HTTP server.
type Server struct {
	opts    Options
	ln      net.Listener
	srv     *http.Server
	probe   string        // the URL WaitForServerReady asks
	probeTL *tls.Config   // nil without TLS
	done    chan struct{} // closed when the serving goroutine returns; nil before Serve
	stop    sync.Once     // the shutdown, whoever begins it
}

// Listen binds the address and, with TLS, loads the key pair, so that
// either failing is an error of Start. Nothing runs yet.
func Listen(opts Options) (*Server, error) {
	s, err := listen(opts)
	if err != nil {
		return nil, fmt.Errorf("starting the %s: %w", opts.Name, err)
	}
	return s, nil
}

func listen(opts Options) (*Server, error) {
	s := &Server{opts: opts}
	s.srv = &http.Server{
		Handler:           opts.Handler,
		ReadHeaderTimeout: cmp.Or(opts.ReadHeaderTimeout, readHeaderTimeout),
		ReadTimeout:       cmp.Or(opts.ReadTimeout, readTimeout),
		WriteTimeout:      opts.WriteTimeout,
		IdleTimeout:       cmp.Or(opts.IdleTimeout, idleTimeout),
		MaxHeaderBytes:    maxHeaderBytes,
		// Handshake failures and bad requests from scanners are not the
		// operator's errors.
		ErrorLog: opts.Logger.StandardLogger(&hclog.StandardLoggerOptions{ForceLevel: hclog.Debug}),
	}
	tlsConfig := opts.TLSConfig
	if tlsConfig == nil && opts.TLS.Enabled() {
		files, err := tlsfiles.NewServer(opts.TLS.CertFile, opts.TLS.KeyFile, "")
		if err != nil {
			return nil, err
		}
		tlsConfig = files.Config()
	}
	ln, err := net.Listen("tcp", opts.Address)
	if err != nil {
		return nil, err // it names the address
	}
	scheme := "http"
	if tlsConfig != nil {
		scheme = "https"
		ln = tls.NewListener(ln, tlsConfig)
		// The probe only asks whether the server answers; it sends
		// nothing secret, so it need not verify whom it reaches.
		s.probeTL = &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12} //nolint:gosec // readiness probe of our own listener
	}
	s.ln = ln
	s.probe = scheme + "://" + dialable(ln.Addr()) + "/"
	return s, nil
}

// Addr is the bound address, with the port the system picked for port 0.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// dialable returns addr with a wildcard host replaced by loopback.
func dialable(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok || !tcp.IP.IsUnspecified() {
		return addr.String()
	}
	ip := net.IPv4(127, 0, 0, 1)
	if tcp.IP.To4() == nil {
		ip = net.IPv6loopback
	}
	return net.JoinHostPort(ip.String(), strconv.Itoa(tcp.Port))
}

// Start is Listen then Serve: what a provider's Start does with its server.
// The server is returned whenever it was bound, even if Serve failed, so
// that the provider's Shutdown can stop it.
func Start(ctx context.Context, g *sdk.Group, goroutine string, opts Options) (*Server, error) {
	srv, err := Listen(opts)
	if err != nil {
		return nil, err
	}
	return srv, srv.Serve(ctx, g, goroutine)
}

// Serve creates the serving goroutine in g, named goroutine (which gives
// it the fault point "before <goroutine> goroutine"), logs
// "Starting <name>[<address>]" and waits until the server answers. The
// readiness probe asks for /, so the handler should answer / cheaply. If
// the goroutine cannot be created the listener is closed. The goroutine
// shuts the server down when g stops, or when Shutdown is called.
func (s *Server) Serve(ctx context.Context, g *sdk.Group, goroutine string) error {
	done := make(chan struct{})
	err := g.Go(ctx, goroutine, func(stop <-chan struct{}) {
		defer close(done)
		s.serve(stop)
	})
	if err != nil {
		_ = s.ln.Close()
		return err
	}
	s.done = done
	fields := append([]any{"tls", s.probeTL != nil}, s.opts.LogFields...)
	s.opts.Logger.Info(fmt.Sprintf("Starting %s[%s]", s.opts.Name, s.Addr()), fields...)
	return sdk.WaitForServerReady(s.probe, s.probeTL)
}

// serve serves until stop is closed or Shutdown is called, then logs
// "Stopped <name>" once the server is shut down.
func (s *Server) serve(stop <-chan struct{}) {
	served := make(chan error, 1)
	go func() { served <- s.srv.Serve(s.ln) }()
	select {
	case err := <-served:
		// Serve returns at once when Shutdown begins; anything else is a
		// failure of its own.
		if !errors.Is(err, http.ErrServerClosed) {
			s.opts.Logger.Error("The "+s.opts.Name+" stopped serving", "error", err)
			return
		}
		s.shutdown(context.Background()) // waits for the one under way
	case <-stop:
		s.shutdown(context.Background())
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			s.opts.Logger.Error("The "+s.opts.Name+" stopped serving", "error", err)
		}
	}
	s.opts.Logger.Info("Stopped " + s.opts.Name)
}

// Shutdown stops accepting connections and waits for in-flight requests,
// at most the drain timeout (ShutdownGrace by default) or until ctx is
// done, then closes the rest, and returns once the serving goroutine has
// logged "Stopped <name>". It does nothing for a nil Server or one that
// never served, so that a provider can call it whether or not its Start
// ran.
func (s *Server) Shutdown(ctx context.Context) {
	if s == nil || s.done == nil {
		return
	}
	s.shutdown(ctx)
	<-s.done
}

// shutdown runs the server's shutdown once, whoever asks first; later
// callers wait for it to end.
func (s *Server) shutdown(ctx context.Context) {
	s.stop.Do(func() {
		drain := Drain{Timeout: ShutdownGrace}
		if s.opts.Drain != nil {
			drain = *s.opts.Drain
			s.opts.Logger.Info(fmt.Sprintf("Delaying %s shutdown for %v to shutdown gracefully ...", s.opts.Name, drain.Delay))
			if drain.Delay > 0 {
				t := time.NewTimer(drain.Delay)
				<-t.C
			}
		}
		ctx, cancel := context.WithTimeout(ctx, drain.Timeout)
		defer cancel()
		if err := s.srv.Shutdown(ctx); err != nil {
			s.opts.Logger.Warn("Closing the "+s.opts.Name+" with requests in flight", "error", err)
			_ = s.srv.Close() // cuts the rest short; the Shutdown error is logged above
		}
	})
}

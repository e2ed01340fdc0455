package cert

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/AthenZ/athenz/clients/go/zts"
	"github.com/ardielle/ardielle-go/rdl"

	"github.com/sia-agent/sia-agent/sdk"
)

// ZTS operations, the operation label of the request metrics.
const (
	opRegister = "register"
	opRefresh  = "refresh"
	opDelete   = "delete"
	opRoleCert = "rolecert"
)

// ztsClient makes the official ZTS client's calls with the current
// identity as the TLS client certificate, bounded by a timeout and by the
// caller's context, and counts them.
type ztsClient struct {
	url       string
	timeout   time.Duration
	transport *http.Transport
	metrics   *metrics
}

// newZTSClient trusts caFile (the system roots when empty) and presents
// whatever identity current returns when ZTS asks for a certificate.
func newZTSClient(s *settings, current func() *tls.Certificate, m *metrics) (*ztsClient, error) {
	tlsConfig := &tls.Config{
		MinVersion: tls.VersionTLS12,
		// Asked at every handshake, so a new identity is presented as
		// soon as the connections made with the old one are closed.
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			if c := current(); c != nil {
				return c, nil
			}
			return &tls.Certificate{}, nil // none: register needs no client certificate
		},
	}
	if s.CAFile != "" {
		pem, err := os.ReadFile(s.CAFile)
		if err != nil {
			return nil, fmt.Errorf("reading ZTS CA bundle: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ZTS CA bundle %s holds no PEM certificate", s.CAFile)
		}
		tlsConfig.RootCAs = pool
	}
	return &ztsClient{
		url:     s.Endpoint,
		timeout: s.Timeout.Std(),
		transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			TLSClientConfig:       tlsConfig,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: s.Timeout.Std(),
			IdleConnTimeout:       90 * time.Second,
			MaxIdleConnsPerHost:   s.RoleCerts.Concurrency,
		},
		metrics: m,
	}, nil
}

// client returns the official client for one operation under ctx: when ctx
// is cancelled the request is abandoned at once.
func (z *ztsClient) client(ctx context.Context, op string) zts.ZTSClient {
	c := zts.NewClient(z.url, &callTransport{ctx: ctx, op: op, base: z.transport, metrics: z.metrics})
	c.Timeout = z.timeout
	return c
}

// closeIdle closes the kept-alive connections, so that the next request
// handshakes again and presents the current identity. k8s-athenz-sia does
// not, and goes on presenting the old certificate for up to 90 seconds;
// ZTS revokes an instance whose refresh presents a serial older than the
// previous one.
func (z *ztsClient) closeIdle() {
	if z != nil {
		z.transport.CloseIdleConnections()
	}
}

// callTransport ties a request to the caller's context and records it.
type callTransport struct {
	ctx     context.Context
	op      string
	base    http.RoundTripper
	metrics *metrics
}

func (t *callTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	// The official client builds requests without a context; the one it
	// passes carries the client timeout, which must be kept.
	ctx, cancel := context.WithCancelCause(req.Context())
	stop := context.AfterFunc(t.ctx, func() { cancel(context.Cause(t.ctx)) })
	release := func() { stop(); cancel(nil) }

	start := time.Now()
	resp, err := t.base.RoundTrip(req.WithContext(ctx))
	status := 0
	if err == nil {
		status = resp.StatusCode
	}
	t.metrics.Observe(t.op, status, err, time.Since(start))
	if err != nil {
		release()
		return nil, err
	}
	// The client reads the body after RoundTrip returns; the context
	// must live until it closes it.
	resp.Body = &releasingBody{ReadCloser: resp.Body, release: release}
	return resp, nil
}

type releasingBody struct {
	io.ReadCloser
	release func()
}

func (b *releasingBody) Close() error {
	err := b.ReadCloser.Close()
	b.release()
	return err
}

// ztsError is a failed ZTS call. Its outcome class names the HTTP status
// ZTS answered with, e.g. ZTS_ERROR_404.
type ztsError struct {
	op  string
	err error
}

func (e *ztsError) Error() string { return e.op + ": " + e.err.Error() }
func (e *ztsError) Unwrap() error { return e.err }

// Outcome implements the interface sdk.Outcome looks for.
func (e *ztsError) Outcome() string {
	if code := ztsStatus(e.err); code != 0 {
		return "ZTS_ERROR_" + strconv.Itoa(code)
	}
	return sdk.Outcome(e.err)
}

// ztsStatus is the HTTP status of a ZTS error answer, or 0.
func ztsStatus(err error) int {
	var re rdl.ResourceError
	if errors.As(err, &re) {
		return re.Code
	}
	var pre *rdl.ResourceError
	if errors.As(err, &pre) && pre != nil {
		return pre.Code
	}
	return 0
}

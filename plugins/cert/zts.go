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
	"strings"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

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

// ztsCall is the official client for one operation, and what its
// transport cut from an error answer.
type ztsCall struct {
	zts.ZTSClient
	transport *callTransport
}

// client returns the official client for one operation under ctx: when ctx
// is cancelled the request is abandoned at once.
func (z *ztsClient) client(ctx context.Context, op string) *ztsCall {
	t := &callTransport{ctx: ctx, op: op, base: z.transport, metrics: z.metrics}
	c := zts.NewClient(z.url, t)
	c.Timeout = z.timeout
	return &ztsCall{ZTSClient: c, transport: t}
}

// fail wraps err, the error of the call's method named method.
func (c *ztsCall) fail(method string, err error) *ztsError {
	return &ztsError{op: method, err: err, unread: c.transport.unread.Load()}
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
	// unread is how much of an error answer was not read: the bytes
	// beyond maxErrorBody, or -1 when their number is not known.
	unread atomic.Int64
}

// Bounds on an error answer (a proxy's error page can be megabytes): how
// much of it is read, and how much of that an error message shows.
const (
	maxErrorBody = 64 << 10
	maxErrorText = 200
)

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
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		// The official client reads an error answer whole into its
		// message.
		resp.Body = &cappedBody{ReadCloser: resp.Body, left: maxErrorBody, length: resp.ContentLength, unread: &t.unread}
	}
	return resp, nil
}

// cappedBody ends a body after a number of bytes, and records how many
// were left unread.
type cappedBody struct {
	io.ReadCloser
	left   int64
	length int64 // the Content-Length, or -1
	unread *atomic.Int64
}

func (b *cappedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// One more byte tells whether anything was cut.
		var one [1]byte
		if n, _ := b.ReadCloser.Read(one[:]); n > 0 {
			unread := int64(-1)
			if b.length > maxErrorBody {
				unread = b.length - maxErrorBody
			}
			b.unread.Store(unread)
		}
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	return n, err
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
	op     string
	err    error
	unread int64 // of the answer, as callTransport.unread
}

// Error shows the text of ZTS's answer cut to maxErrorText bytes.
func (e *ztsError) Error() string {
	var re rdl.ResourceError
	if errors.As(e.err, &re) {
		return fmt.Sprintf("%s: %d %s", e.op, re.Code, capText(re.Message, e.unread))
	}
	return e.op + ": " + e.err.Error()
}

func (e *ztsError) Unwrap() error { return e.err }

// capText makes the text of an answer fit on one short line: control
// characters become spaces, and beyond maxErrorText bytes it is cut, saying
// how much was cut. unread is how much the transport did not read (-1: an
// unknown amount).
func capText(s string, unread int64) string {
	s = strings.TrimSpace(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD")))
	if len(s) <= maxErrorText && unread == 0 {
		return s
	}
	keep := min(len(s), maxErrorText)
	for keep > 0 && keep < len(s) && !utf8.RuneStart(s[keep]) {
		keep--
	}
	cut := int64(len(s) - keep)
	if unread < 0 {
		return fmt.Sprintf("%s... (more than %d bytes cut)", s[:keep], cut)
	}
	return fmt.Sprintf("%s... (%d bytes cut)", s[:keep], cut+unread)
}

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

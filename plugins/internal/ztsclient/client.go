// Package ztsclient is how the providers call ZTS: the official client
// (github.com/AthenZ/athenz/clients/go/zts) over one transport that
// presents the provider's current identity, ties every call to its
// caller's context, counts and times it (package ztsmetrics), reads
// bounded answers and classifies what went wrong, both for status records
// and for the clients of the token server.
package ztsclient

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/AthenZ/athenz/clients/go/zts"

	"github.com/sia-agent/sia-agent/plugins/internal/tlsfiles"
	"github.com/sia-agent/sia-agent/plugins/internal/ztsmetrics"
	"github.com/sia-agent/sia-agent/sdk"
)

// Version is the agent's version in the User-Agent of every call; the
// release build sets it (-ldflags -X).
var Version = "dev"

// Config is a ZTS client's.
type Config struct {
	// Endpoint is ZTS's base URL, e.g. https://zts.example:4443/zts/v1.
	Endpoint string
	// CAFile is the PEM bundle that signs ZTS's certificate; empty means
	// the system roots.
	CAFile string
	// Identity returns the certificate to present, asked before every call
	// and at every handshake; nil presents none (ZTS refuses what needs
	// one). An error fails the calls that need an identity before they
	// are sent.
	Identity func() (*tls.Certificate, error)
	// Timeout bounds one call, until its answer is read; 0 leaves it to
	// the caller's context.
	Timeout time.Duration
	// MaxConnsPerHost bounds the connections to ZTS, and so the calls
	// under way at once, whatever asks for them; 0 is no bound.
	// MaxIdleConnsPerHost is how many are kept alive.
	MaxConnsPerHost, MaxIdleConnsPerHost int
	// HTTP2 lets calls share connections over HTTP/2. A provider that
	// must never present an old identity after switching to a new one
	// leaves it off: a connection in use cannot be closed.
	HTTP2 bool
	// Metrics counts the calls; nil counts nothing.
	Metrics *ztsmetrics.Metrics
	// Provider names the caller in the User-Agent:
	// "sia-agent/<version> (<provider>)".
	Provider string
	// OutcomePrefix begins the status record outcome of an error answer,
	// before its HTTP status: "ZTS_" unless set.
	OutcomePrefix string
	// Circuits gate every call with the endpoint's circuit, shared by
	// every provider of the agent; nil gates nothing. CircuitPolicy is
	// the circuit's, if this client's calls make it.
	Circuits      sdk.Circuits
	CircuitPolicy sdk.CircuitPolicy
}

// Client calls ZTS.
type Client struct {
	url           string
	timeout       time.Duration
	identity      func() (*tls.Certificate, error)
	transport     *http.Transport
	metrics       *ztsmetrics.Metrics
	userAgent     string
	outcomePrefix string
	gate          gate

	// presented is the certificate the pooled connections were made
	// with; see present.
	presented atomic.Pointer[tls.Certificate]
}

// New builds a client; it reads the CA bundle at once.
func New(c Config) (*Client, error) {
	identity := c.Identity
	if identity == nil {
		identity = func() (*tls.Certificate, error) { return nil, nil }
	}
	tlsConfig := &tls.Config{
		MinVersion: tls.VersionTLS12,
		// Asked at every handshake, so that a new identity is presented
		// as soon as the connections made with the old one are closed.
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			if cert, err := identity(); err == nil && cert != nil {
				return cert, nil
			}
			return &tls.Certificate{}, nil // none: ZTS refuses what needs one
		},
	}
	if c.CAFile != "" {
		pool, err := tlsfiles.LoadCAPool(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("loading the ZTS CA bundle: %w", err)
		}
		tlsConfig.RootCAs = pool
	}
	prefix := c.OutcomePrefix
	if prefix == "" {
		prefix = "ZTS_"
	}
	return &Client{
		url:      strings.TrimRight(c.Endpoint, "/"),
		timeout:  c.Timeout,
		identity: identity,
		transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			TLSClientConfig:       tlsConfig,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: c.Timeout,
			IdleConnTimeout:       90 * time.Second,
			MaxConnsPerHost:       c.MaxConnsPerHost,
			MaxIdleConnsPerHost:   c.MaxIdleConnsPerHost,
			ForceAttemptHTTP2:     c.HTTP2,
		},
		metrics:       c.Metrics,
		userAgent:     "sia-agent/" + Version + " (" + c.Provider + ")",
		outcomePrefix: prefix,
		gate:          gate{circuits: c.Circuits, endpoint: strings.TrimRight(c.Endpoint, "/"), policy: c.CircuitPolicy, timeout: c.Timeout},
	}, nil
}

// CloseIdle closes the kept-alive connections.
func (c *Client) CloseIdle() {
	if c != nil {
		c.transport.CloseIdleConnections()
	}
}

// present makes c.identity() the identity the next calls present. When it is not
// the one the kept-alive connections were made with, they are closed, so
// that the next call handshakes again with the new one: k8s-athenz-sia
// does not, and goes on presenting the old certificate for up to 90
// seconds, and ZTS revokes an instance whose refresh presents a serial
// older than the previous one.
func (c *Client) present() error {
	cert, err := c.identity()
	if err != nil {
		return err
	}
	if c.presented.Swap(cert) != cert {
		c.transport.CloseIdleConnections()
	}
	return nil
}

// Call is the official client for one operation, and what its transport
// saw of the answer.
type Call struct {
	zts.ZTSClient
	transport *callTransport
	client    *Client
}

// Call returns the official client for one operation under ctx: when ctx
// is done the request is abandoned at once. op is the operation label of
// the call's metrics.
func (c *Client) Call(ctx context.Context, op string) *Call {
	_ = c.present() // an identity that cannot be had presents none
	return c.call(ctx, op)
}

func (c *Client) call(ctx context.Context, op string) *Call {
	t := &callTransport{ctx: ctx, op: op, base: c.transport, metrics: c.metrics, userAgent: c.userAgent, gate: c.gate}
	zc := zts.NewClient(c.url, t)
	zc.Timeout = c.timeout
	return &Call{ZTSClient: zc, transport: t, client: c}
}

// Fail wraps err, returned by the call's method named method, with what
// the transport saw: the *Error it returns classifies the failure.
func (c *Call) Fail(method string, err error) *Error {
	e := &Error{Op: method, Err: err, prefix: c.client.outcomePrefix}
	seen := c.transport.seen()
	e.unread = seen.unread
	if code := statusOf(err); code != 0 {
		e.Status = code
		return e
	}
	// A call whose deadline passed or that was cancelled failed for that,
	// whatever the transport made of it meanwhile (an answer cut off reads
	// as an empty body).
	if ctxErr := c.transport.ctx.Err(); ctxErr != nil {
		if !errors.Is(err, ctxErr) {
			e.Err = fmt.Errorf("%w: %w", ctxErr, err)
		}
		return e
	}
	// A success whose body could not be decoded, as opposed to one that
	// could not be read.
	if seen.status >= 200 && seen.status <= 299 && seen.readErr == nil {
		e.Malformed = true
	}
	return e
}

package token

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sia-agent/sia-agent/plugins/internal/tlsfiles"
)

// fetcher gets one token from ZTS. The ZTS client implements it; tests
// substitute their own.
type fetcher interface {
	fetch(ctx context.Context, k Key) (*Token, error)
}

// ZTS operation names, as metrics and errors name them.
const (
	opRoleToken   = "roletoken"
	opAccessToken = "accesstoken"
)

// maxResponse bounds what is read of a ZTS answer.
const maxResponse = 1 << 20

// ztsClient speaks ZTS's two token calls over mTLS: GET /domain/{d}/token
// (role tokens) and POST /oauth2/token (access tokens).
type ztsClient struct {
	base      string // endpoint without a trailing slash
	client    *http.Client
	transport *http.Transport
	identity  *tlsfiles.Identity
	metrics   *metrics

	// presented is the certificate the pooled connections were made
	// with; see checkIdentity.
	presented atomic.Pointer[tls.Certificate]
}

// newZTSClient builds the ZTS client. With waitForIdentity (refresh mode)
// an identity whose files do not exist yet is waited for: the cert
// provider writes them once ZTS answers it, and until then every fetch
// fails with a noIdentityError.
func newZTSClient(c *Config, m *metrics, waitForIdentity bool) (*ztsClient, error) {
	identity, err := tlsfiles.NewIdentity(c.CertFile, c.KeyFile, waitForIdentity)
	if err != nil {
		return nil, fmt.Errorf("loading the identity to authenticate to ZTS with: %w", err)
	}
	tlsCfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			cert, err := identity.Get()
			if err != nil {
				return &tls.Certificate{}, nil // no certificate: ZTS refuses the call
			}
			return cert, nil
		},
	}
	if c.CAFile != "" {
		if tlsCfg.RootCAs, err = tlsfiles.LoadCAPool(c.CAFile); err != nil {
			return nil, fmt.Errorf("loading the ZTS CA bundle: %w", err)
		}
	}
	transport := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		TLSClientConfig:     tlsCfg,
		TLSHandshakeTimeout: 10 * time.Second,
		IdleConnTimeout:     90 * time.Second,
		// Bounds the ZTS calls under way at once, whatever asks for them:
		// a burst of distinct cache misses queues here instead of opening
		// a connection each.
		MaxConnsPerHost:     32,
		MaxIdleConnsPerHost: 32,
		ForceAttemptHTTP2:   true,
	}
	return &ztsClient{
		base:      strings.TrimRight(c.Endpoint, "/"),
		client:    &http.Client{Transport: transport},
		transport: transport,
		identity:  identity,
		metrics:   m,
	}, nil
}

// checkIdentity drops pooled connections once the identity files changed,
// so that the next calls authenticate with the new certificate. It fails
// while there is no identity yet.
func (c *ztsClient) checkIdentity() error {
	cert, err := c.identity.Get()
	if err != nil {
		return err
	}
	if c.presented.Swap(cert) != cert {
		c.transport.CloseIdleConnections()
	}
	return nil
}

func (c *ztsClient) close() { c.transport.CloseIdleConnections() }

func (c *ztsClient) fetch(ctx context.Context, k Key) (*Token, error) {
	if k.Kind == accessToken {
		return c.accessToken(ctx, k)
	}
	return c.roleToken(ctx, k)
}

func (c *ztsClient) roleToken(ctx context.Context, k Key) (*Token, error) {
	q := url.Values{}
	if k.Roles != "" {
		q.Set("role", k.Roles)
	}
	if k.MinExpiry > 0 {
		q.Set("minExpiryTime", strconv.Itoa(int(k.MinExpiry)))
	}
	if k.MaxExpiry > 0 {
		q.Set("maxExpiryTime", strconv.Itoa(int(k.MaxExpiry)))
	}
	if k.ProxyForPrincipal != "" {
		q.Set("proxyForPrincipal", k.ProxyForPrincipal)
	}
	u := c.base + "/domain/" + url.PathEscape(k.Domain) + "/token"
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("building the role token request: %w", err)
	}
	var resp struct {
		Token      string `json:"token"`
		ExpiryTime int64  `json:"expiryTime"`
	}
	fetched := time.Now()
	if err := c.do(req, opRoleToken, &resp); err != nil {
		return nil, err
	}
	expiry := time.Unix(resp.ExpiryTime, 0)
	if err := checkToken(opRoleToken, resp.Token, expiry, fetched); err != nil {
		return nil, err
	}
	e, err := checkRoleToken(resp.Token, k.Domain)
	if err != nil {
		return nil, &badResponseError{op: opRoleToken, reason: err.Error()}
	}
	// The token's own e= is what verifiers check.
	if e.Before(expiry) {
		expiry = e
	}
	return newToken(roleToken, resp.Token, "", expiry, fetched), nil
}

func (c *ztsClient) accessToken(ctx context.Context, k Key) (*Token, error) {
	form := url.Values{"grant_type": {"client_credentials"}}
	if k.Roles == "" {
		form.Set("scope", k.Domain+":domain")
	} else {
		scopes := strings.Split(k.Roles, ",")
		for i, r := range scopes {
			scopes[i] = k.Domain + ":role." + r
		}
		form.Set("scope", strings.Join(scopes, " "))
	}
	if k.MaxExpiry > 0 {
		form.Set("expires_in", strconv.Itoa(int(k.MaxExpiry)))
	}
	if k.ProxyForPrincipal != "" {
		form.Set("proxy_for_principal", k.ProxyForPrincipal)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/oauth2/token", strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("building the access token request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	var resp struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
		Scope       string `json:"scope"`
	}
	fetched := time.Now()
	if err := c.do(req, opAccessToken, &resp); err != nil {
		return nil, err
	}
	if resp.AccessToken == "" {
		return nil, &badResponseError{op: opAccessToken, reason: "empty token"}
	}
	// The JWT's exp is what verifiers check.
	expiry, err := jwtExpiry(resp.AccessToken)
	if err != nil {
		return nil, &badResponseError{op: opAccessToken, reason: "an access token that is not a JWT with an exp: " + err.Error()}
	}
	if err := checkToken(opAccessToken, resp.AccessToken, expiry, fetched); err != nil {
		return nil, err
	}
	return newToken(accessToken, resp.AccessToken, resp.Scope, expiry, fetched), nil
}

// do sends req and decodes a 200 answer into v.
func (c *ztsClient) do(req *http.Request, op string, v any) error {
	if err := c.checkIdentity(); err != nil {
		return err
	}
	req.Header.Set("User-Agent", "sia-plugin-token")
	start := time.Now()
	resp, err := c.client.Do(req)
	if err != nil {
		c.metrics.ztsCall(op, 0, err, time.Since(start))
		return &unreachableError{op: op, err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	c.metrics.ztsCall(op, resp.StatusCode, nil, time.Since(start))
	if err != nil {
		return &unreachableError{op: op, err: fmt.Errorf("reading the answer: %w", err)}
	}
	if resp.StatusCode != http.StatusOK {
		e := &ztsError{Op: op, Status: resp.StatusCode}
		var rdl struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(body, &rdl) == nil && rdl.Message != "" {
			e.Message = rdl.Message
		} else {
			e.Message = strings.TrimSpace(string(body))
		}
		if len(e.Message) > 200 {
			e.Message = e.Message[:200] + "..."
		}
		return e
	}
	if err := json.Unmarshal(body, v); err != nil {
		return &badResponseError{op: op, reason: "undecodable JSON: " + err.Error()}
	}
	return nil
}

// checkToken refuses what must never be cached: an empty token, or one
// that has already expired.
func checkToken(op, raw string, expiry, now time.Time) error {
	switch {
	case raw == "":
		return &badResponseError{op: op, reason: "empty token"}
	case !expiry.After(now):
		return &badResponseError{op: op, reason: "token without a future expiry"}
	}
	return nil
}

// ztsError is an answer from ZTS other than success. Message is ZTS's, for
// logs: clients are told only what the status means.
type ztsError struct {
	Op      string
	Status  int
	Message string
}

func (e *ztsError) Error() string {
	return fmt.Sprintf("ZTS answered %s with %d: %s", e.Op, e.Status, e.Message)
}

// Outcome classifies the error for status records.
func (e *ztsError) Outcome() string { return "ZTS_" + strconv.Itoa(e.Status) }

// unreachableError is a ZTS call that got no answer.
type unreachableError struct {
	op  string
	err error
}

func (e *unreachableError) Error() string { return "calling ZTS for " + e.op + ": " + e.err.Error() }
func (e *unreachableError) Unwrap() error { return e.err }

// Outcome classifies the error for status records.
func (e *unreachableError) Outcome() string {
	var ne net.Error
	switch {
	case errors.Is(e.err, context.Canceled):
		return "CANCELED"
	case errors.Is(e.err, context.DeadlineExceeded), errors.As(e.err, &ne) && ne.Timeout():
		return "TIMEOUT"
	}
	return "UNREACHABLE"
}

// badResponseError is a 200 from ZTS that holds no usable token.
type badResponseError struct {
	op, reason string
}

func (e *badResponseError) Error() string   { return "ZTS answered " + e.op + " with " + e.reason }
func (e *badResponseError) Outcome() string { return "MALFORMED_RESPONSE" }

// lateTokenError is a token with less than the expiry margin left: ZTS
// delivered it too late, or it aged while the request waited for another.
type lateTokenError struct {
	op     string
	expiry time.Time
	margin time.Duration
}

func (e *lateTokenError) Error() string {
	return fmt.Sprintf("the %s expires at %s, within the expiry margin (%v)", e.op, e.expiry.UTC().Format(time.RFC3339), e.margin)
}

// Outcome classifies the error for status records.
func (e *lateTokenError) Outcome() string { return "MALFORMED_RESPONSE" }

// tooManyMissesError is a cache miss beyond the on-demand rate.
type tooManyMissesError struct {
	rate  float64
	burst int
}

func (e *tooManyMissesError) Error() string {
	return fmt.Sprintf("on-demand fetches beyond cache.miss_rate (%g per second, bursts of %d)", e.rate, e.burst)
}

// Outcome classifies the error for status records.
func (e *tooManyMissesError) Outcome() string { return "RATE_LIMITED" }

package token

import (
	"context"
	"fmt"
	"time"

	"github.com/sia-agent/sia-agent/plugins/internal/tlsfiles"
	"github.com/sia-agent/sia-agent/plugins/internal/ztsclient"
	"github.com/sia-agent/sia-agent/plugins/internal/ztsmetrics"
	"github.com/sia-agent/sia-agent/sdk"
)

// fetcher gets one token from ZTS. The ZTS client implements it; tests,
// and a simulated ZTS, substitute their own.
type fetcher interface {
	fetch(ctx context.Context, k Key) (*Token, error)
	// hasIdentity reports whether there is an identity to fetch with:
	// without one, every fetch fails with a *tlsfiles.NoIdentityError.
	hasIdentity() bool
}

// ZTS operation names, as metrics and errors name them.
const (
	opRoleToken   = ztsclient.OpRoleToken
	opAccessToken = ztsclient.OpAccessToken
)

// ztsClient is the fetcher of the provider: the shared ZTS client, with
// the identity the cert provider writes, and the checks of what it
// answers that make a token fit to cache.
type ztsClient struct {
	client   *ztsclient.Client
	identity *tlsfiles.Identity
	openID   string // Config.OpenIDService
}

// newZTSClient builds the ZTS client. With waitForIdentity (refresh mode)
// an identity whose files do not exist yet is waited for: the cert
// provider writes them once ZTS answers it, and until then every fetch
// fails with a *tlsfiles.NoIdentityError.
// circuits (nil: none) hold the calls while ZTS fails.
func newZTSClient(c *Config, m *ztsmetrics.Metrics, waitForIdentity bool, circuits sdk.Circuits) (*ztsClient, error) {
	identity, err := tlsfiles.NewIdentity(c.CertFile, c.KeyFile, waitForIdentity)
	if err != nil {
		return nil, fmt.Errorf("loading the identity to authenticate to ZTS with: %w", err)
	}
	client, err := ztsclient.New(ztsclient.Config{
		Endpoint: c.Endpoint,
		CAFile:   c.CAFile,
		Identity: identity.Get,
		// Bounds the ZTS calls under way at once, whatever asks for them:
		// a burst of distinct cache misses queues here instead of opening
		// a connection each. Each fetch's context bounds its call
		// (zts_timeout).
		MaxConnsPerHost:     32,
		MaxIdleConnsPerHost: 32,
		HTTP2:               true,
		Metrics:             m,
		Provider:            "token",
		Circuits:            circuits,
		CircuitPolicy:       c.Circuit.Policy(),
	})
	if err != nil {
		return nil, err
	}
	return &ztsClient{client: client, identity: identity, openID: c.OpenIDService}, nil
}

func (c *ztsClient) close() { c.client.CloseIdle() }

func (c *ztsClient) hasIdentity() bool {
	_, err := c.identity.Get()
	return err == nil
}

func (c *ztsClient) fetch(ctx context.Context, k Key) (*Token, error) {
	r := ztsclient.TokenRequest{Domain: k.Domain, Roles: k.Roles, ProxyForPrincipal: k.ProxyForPrincipal, MinExpiry: k.MinExpiry, MaxExpiry: k.MaxExpiry}
	if k.Kind == accessToken {
		if k.ProxyForPrincipal == "" {
			r.OpenIDService = c.openID
		}
		return c.accessToken(ctx, r)
	}
	return c.roleToken(ctx, r)
}

func (c *ztsClient) roleToken(ctx context.Context, r ztsclient.TokenRequest) (*Token, error) {
	fetched := time.Now()
	resp, err := c.client.RoleToken(ctx, r)
	if err != nil {
		return nil, err
	}
	expiry := time.Unix(resp.ExpiryTime, 0)
	if err := checkToken(opRoleToken, resp.Token, expiry, fetched); err != nil {
		return nil, err
	}
	e, err := checkRoleToken(resp.Token, r.Domain)
	if err != nil {
		return nil, ztsclient.Malformed(opRoleToken, err.Error())
	}
	// The token's own e= is what verifiers check.
	if e.Before(expiry) {
		expiry = e
	}
	return newToken(roleToken, resp.Token, "", expiry, fetched), nil
}

func (c *ztsClient) accessToken(ctx context.Context, r ztsclient.TokenRequest) (*Token, error) {
	fetched := time.Now()
	resp, err := c.client.AccessToken(ctx, r)
	if err != nil {
		return nil, err
	}
	// The JWT's exp is what verifiers check.
	expiry, err := jwtExpiry(resp.Access_token)
	if err != nil {
		return nil, ztsclient.Malformed(opAccessToken, "an access token that is not a JWT with an exp: "+err.Error())
	}
	if err := checkToken(opAccessToken, resp.Access_token, expiry, fetched); err != nil {
		return nil, err
	}
	return newToken(accessToken, resp.Access_token, resp.Scope, expiry, fetched), nil
}

// checkToken refuses what must never be cached: an empty token, or one
// that has already expired.
func checkToken(op, raw string, expiry, now time.Time) error {
	switch {
	case raw == "":
		return ztsclient.Malformed(op, "empty token")
	case !expiry.After(now):
		return ztsclient.Malformed(op, "token without a future expiry")
	}
	return nil
}

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

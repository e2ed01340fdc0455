package ztsclient

import (
	"context"
	"net/url"
	"strconv"
	"strings"

	"github.com/AthenZ/athenz/clients/go/zts"
)

// The token calls' operation labels, as the metrics name them.
const (
	OpRoleToken   = "roletoken"
	OpAccessToken = "accesstoken"
)

// TokenRequest is what a token is asked for with.
type TokenRequest struct {
	Domain string
	// Roles is a comma-separated list of role names; empty asks for every
	// role the identity has in the domain.
	Roles             string
	ProxyForPrincipal string
	// MinExpiry and MaxExpiry bound the lifetime, in seconds; 0 leaves it
	// to ZTS. An access token takes MaxExpiry alone (expires_in).
	MinExpiry, MaxExpiry int32
	// OpenIDService, for an access token, adds `openid
	// <domain>:service.<OpenIDService>` to its scope, which asks ZTS for an
	// ID token for that service as well.
	OpenIDService string
}

// RoleToken is GET /domain/{domain}/token.
func (c *Client) RoleToken(ctx context.Context, r TokenRequest) (*zts.RoleToken, error) {
	return tokenCall(ctx, c, OpRoleToken, "GetRoleToken", func(call *Call) (*zts.RoleToken, error) {
		return call.GetRoleToken(zts.DomainName(r.Domain), zts.EntityList(r.Roles),
			optional(r.MinExpiry), optional(r.MaxExpiry), zts.EntityName(r.ProxyForPrincipal))
	})
}

// AccessToken is POST /oauth2/token, with the form Athenz's own clients
// send.
func (c *Client) AccessToken(ctx context.Context, r TokenRequest) (*zts.AccessTokenResponse, error) {
	form := accessTokenForm(r)
	return tokenCall(ctx, c, OpAccessToken, "PostAccessTokenRequest", func(call *Call) (*zts.AccessTokenResponse, error) {
		return call.PostAccessTokenRequest(zts.AccessTokenRequest(form))
	})
}

// accessTokenForm is the request body of an access token, byte for byte
// what athenzutils.GenerateAccessTokenRequestString makes of the same
// request. It is written out because that package links Kubernetes'
// client-go into the executable, whose package inits every process of the
// agent would run: 540 KiB more allocated at start in each, and 4 MB of
// binary.
func accessTokenForm(r TokenRequest) string {
	params := url.Values{"grant_type": {"client_credentials"}}
	if r.MaxExpiry > 0 {
		params.Set("expires_in", strconv.Itoa(int(r.MaxExpiry)))
	}
	scope := r.Domain + ":domain"
	if r.Roles != "" {
		roles := strings.Split(r.Roles, ",")
		for i, role := range roles {
			roles[i] = r.Domain + ":role." + role
		}
		scope = strings.Join(roles, " ")
	}
	if r.OpenIDService != "" {
		scope += " openid " + r.Domain + ":service." + r.OpenIDService
	}
	params.Set("scope", scope)
	if r.ProxyForPrincipal != "" {
		params.Set("proxy_for_principal", r.ProxyForPrincipal)
	}
	return params.Encode()
}

// tokenCall makes a call that needs the identity: none, and it is not
// sent. An answer of null is no token.
func tokenCall[T any](ctx context.Context, c *Client, op, method string, do func(*Call) (*T, error)) (*T, error) {
	if err := c.present(); err != nil {
		return nil, err
	}
	call := c.call(ctx, op)
	tok, err := do(call)
	switch {
	case err != nil:
		return nil, call.Fail(method, err)
	case tok == nil:
		return nil, Malformed(method, "an empty answer")
	}
	return tok, nil
}

// optional is a lifetime as the client takes it: nil for ZTS's default.
func optional(seconds int32) *int32 {
	if seconds <= 0 {
		return nil
	}
	return &seconds
}

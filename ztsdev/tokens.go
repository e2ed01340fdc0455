package ztsdev

import (
	"context"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/AthenZ/athenz/clients/go/zts"
	"github.com/google/uuid"
)

// roleToken is GetRoleToken: GET /domain/{domainName}/token.
func (s *Server) roleToken(_ context.Context, rq *request) (*response, *apiError) {
	const caller = "getRoleToken"
	p := rq.principal
	domain := strings.ToLower(rq.PathValue("domain"))
	if !isDomainName(domain) {
		return nil, badRequest("Invalid DomainName error: %q", domain)
	}
	q := rq.URL.Query()
	var requested []string
	if r := strings.ToLower(q.Get("role")); r != "" {
		if !isEntityList(r) {
			return nil, badRequest("Invalid EntityList error: role %q", r)
		}
		requested = strings.Split(r, ",")
	}
	minExpiry, e := int32Param(q, "minExpiryTime")
	if e != nil {
		return nil, e
	}
	maxExpiry, e := int32Param(q, "maxExpiryTime")
	if e != nil {
		return nil, e
	}
	proxyFor := strings.ToLower(q.Get("proxyForPrincipal"))
	if e := rq.st.checkProxy(p, proxyFor); e != nil {
		return nil, e
	}
	dom := rq.st.domains[domain]
	if dom == nil {
		return nil, notFound("%s: No such domain: %s", caller, domain)
	}
	roles, principalName, proxyUser, e := resolveRoles(rq, dom, caller, requested, proxyFor)
	if e != nil {
		return nil, e
	}

	timeout := tokenTimeout(&rq.st.cfg.Server, dom, roles, minExpiry, maxExpiry)
	tok := roleToken{
		domain:    domain,
		roles:     roles,
		complete:  requested == nil,
		principal: principalName,
		host:      rq.st.hostname,
		proxy:     proxyUser,
		issued:    rq.now.Unix(),
		expiry:    rq.now.Unix() + timeout,
		keyID:     rq.st.cfg.Server.KeyID,
		ip:        rq.clientIP(),
	}
	signed, err := tok.sign(s.keys.signingKey)
	if err != nil {
		return nil, serverError("%s: %v", caller, err)
	}
	return ok(&zts.RoleToken{Token: signed, ExpiryTime: tok.expiry}), nil
}

// accessToken is PostAccessTokenRequest: POST /oauth2/token.
func (s *Server) accessToken(_ context.Context, rq *request) (*response, *apiError) {
	const caller = "postAccessTokenRequest"
	req, scope, dom, e := accessTokenTarget(rq)
	if e != nil {
		return nil, e
	}
	openID := scope.openID && *rq.st.cfg.Server.OpenIDScope
	if req.proxyForPrincipal != "" && openID {
		return nil, badRequest("Proxy Principal cannot request id tokens")
	}
	roles, principalName, proxyUser, e := resolveRoles(rq, dom, caller, scope.roles, req.proxyForPrincipal)
	if e != nil {
		return nil, e
	}

	timeout := tokenTimeout(&rq.st.cfg.Server, dom, roles, 0, req.expiresIn)
	iat := rq.now.Unix()
	// zts-dev has one issuer, so openid_issuer=true changes nothing.
	issuer := rq.st.issuer
	claims := &accessClaims{
		Ver: 1, JTI: uuid.NewString(), Aud: scope.domain,
		ClientID: principalName, UID: principalName, Sub: principalName,
		IAT: iat, AuthTime: iat, Exp: iat + timeout, Iss: issuer,
		Scp: roles, Scope: strings.Join(roles, " "), Proxy: proxyUser,
		Cnf: confirmation(rq.principal, req.proxySpiffeURIs),
	}
	accessJWT, err := signJWT(rq.st.signers.access, claims)
	if err != nil {
		return nil, serverError("%s: %v", caller, err)
	}
	expiresIn := int32Seconds(timeout)
	resp := &zts.AccessTokenResponse{Access_token: accessJWT, Token_type: "Bearer", Expires_in: &expiresIn}

	if openID {
		if !isSimpleName(scope.service) {
			return nil, badRequest("Invalid SimpleName error: %q", scope.service)
		}
		id := &idClaims{
			Ver: 1, Aud: scope.domain + "." + scope.service, Sub: principalName, Iss: issuer,
			IAT: iat, AuthTime: iat, Exp: iat + min(timeout, int64(rq.st.cfg.Server.IDTokenMaxSecs)),
		}
		if resp.Id_token, err = signJWT(rq.st.signers.id, id); err != nil {
			return nil, serverError("%s: %v", caller, err)
		}
	}
	if scope.sendScope || (scope.roles != nil && len(scope.roles) != len(roles)) {
		resp.Scope = grantedScope(scope.domain, roles, openID)
	}
	return ok(resp), nil
}

// accessTokenTarget parses an access token request and checks what it
// asks for: its proxy principal, its scope's names, and the domain.
func accessTokenTarget(rq *request) (*accessTokenRequest, *tokenScope, *domainIndex, *apiError) {
	req, e := parseAccessTokenRequest(string(rq.body))
	if e != nil {
		return nil, nil, nil, e
	}
	if e := rq.st.checkProxy(rq.principal, req.proxyForPrincipal); e != nil {
		return nil, nil, nil, e
	}
	scope, e := parseScope(req.scope)
	if e != nil {
		return nil, nil, nil, e
	}
	if !isDomainName(scope.domain) {
		return nil, nil, nil, badRequest("Invalid DomainName error: %q", scope.domain)
	}
	for _, r := range scope.roles {
		if !isEntityName(r) {
			return nil, nil, nil, badRequest("Invalid EntityName error: %q", r)
		}
	}
	dom := rq.st.domains[scope.domain]
	if dom == nil {
		return nil, nil, nil, notFound("No such domain: %s", scope.domain)
	}
	if req.authzDetails != "" {
		return nil, nil, nil, badRequest("Authorization Details not valid for this request")
	}
	return req, scope, dom, nil
}

// confirmation is the token's cnf claim: binding to the client
// certificate (RFC 8705) is what lets resource servers insist the token
// arrive over the same mTLS identity. Nil without a certificate.
func confirmation(p *principal, proxySpiffeURIs []string) map[string]any {
	if p.cert == nil {
		return nil
	}
	cnf := map[string]any{"x5t#S256": certThumbprint(p.cert.Raw)}
	if len(proxySpiffeURIs) > 0 {
		cnf["proxy-principals#spiffe"] = proxySpiffeURIs
	}
	return cnf
}

// grantedScope is the scope a response names when it differs from the
// one asked for: the roles granted, and openid.
func grantedScope(domain string, roles []string, openID bool) string {
	items := make([]string, 0, len(roles)+1)
	for _, r := range roles {
		items = append(items, domain+roleSep+r)
	}
	if openID {
		items = append(items, "openid")
	}
	return strings.Join(items, " ")
}

// int32Seconds is a lifetime in seconds as ZTS's int32 fields carry it,
// capped at their largest.
func int32Seconds(secs int64) int32 {
	if secs >= math.MinInt32 && secs <= math.MaxInt32 {
		return int32(secs)
	}
	return math.MaxInt32
}

// resolveRoles finds the roles for a token request: the caller's, narrowed
// to those the proxied-for principal also has, and all of them within a
// role certificate's roles. It returns the token's principal and proxy.
func resolveRoles(rq *request, dom *domainIndex, caller string, requested []string, proxyFor string) (roles []string, principalName, proxyUser string, e *apiError) {
	p := rq.principal
	roles = dom.accessibleRoles(p.name, requested, rq.now)
	if len(roles) == 0 {
		return nil, "", "", forbidden("%s", tokenErrorMessage(caller, p.name, dom.Name, requested))
	}
	principalName = p.name
	if proxyFor != "" {
		roles = intersect(roles, dom.accessibleRoles(proxyFor, requested, rq.now))
		if len(roles) == 0 {
			return nil, "", "", forbidden("%s", tokenErrorMessage(caller, proxyFor, dom.Name, requested))
		}
		principalName, proxyUser = proxyFor, p.name
	}
	if !p.hasRoles(dom.Name, roles) {
		return nil, "", "", forbidden("%s: Role based Principal does not include all roles", caller)
	}
	return roles, principalName, proxyUser, nil
}

// checkProxy is validateProxyForPrincipalValue.
func (st *state) checkProxy(p *principal, proxyFor string) *apiError {
	if proxyFor == "" {
		return nil
	}
	if !isEntityName(proxyFor) {
		return badRequest("Invalid EntityName error: proxyForPrincipal %q", proxyFor)
	}
	if !st.isProxyUser(p.name) {
		return forbidden("Principal: %s not authorized for proxy access token request", p.name)
	}
	return nil
}

func tokenErrorMessage(caller, principal, domain string, requested []string) string {
	what := "the requested role(s)"
	if requested == nil {
		what = "any role"
	}
	return caller + ": principal " + principal + " is not included in " + what + " in domain " + domain
}

func intersect(a, b []string) []string {
	var out []string
	for _, x := range a {
		if slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

func int32Param(q url.Values, name string) (int, *apiError) {
	v := q.Get(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil {
		return 0, badRequest("Invalid Int32 error: %s %q", name, v)
	}
	return int(n), nil
}

// accessTokenDomain is the domain of a token request, for fault matching.
func accessTokenDomain(rq *request) string {
	req, e := parseAccessTokenRequest(string(rq.body))
	if e != nil {
		return ""
	}
	scope, e := parseScope(req.scope)
	if e != nil {
		return ""
	}
	return scope.domain
}

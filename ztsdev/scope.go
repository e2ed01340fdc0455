package ztsdev

import (
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// accessTokenRequest is the form body of POST /oauth2/token
// (AccessTokenRequest.java).
type accessTokenRequest struct {
	grantType           string
	scope               string
	expiresIn           int
	proxyForPrincipal   string
	authzDetails        string
	proxySpiffeURIs     []string
	openIDIssuer        bool
	clientAssertion     string
	clientAssertionType string
}

// parseAccessTokenRequest decodes the body the way ZTS does: '&'-separated
// pairs, each URL-decoded, unknown keys ignored, and scope, grant_type and
// principal lower-cased.
func parseAccessTokenRequest(body string) (*accessTokenRequest, *apiError) {
	req := &accessTokenRequest{}
	for _, comp := range strings.Split(body, "&") {
		rawKey, rawVal, found := strings.Cut(comp, "=")
		if !found {
			continue
		}
		key, err1 := url.QueryUnescape(rawKey)
		val, err2 := url.QueryUnescape(rawVal)
		if err1 != nil || err2 != nil {
			continue
		}
		req.set(key, val)
	}
	if e := req.check(); e != nil {
		return nil, e
	}
	return req, nil
}

// set records one pair of the body; ZTS ignores keys it does not know.
func (req *accessTokenRequest) set(key, val string) {
	switch key {
	case "grant_type":
		req.grantType = strings.ToLower(val)
	case "scope":
		req.scope = strings.ToLower(val)
	case "expires_in":
		// ZTSUtils.parseInt: anything unparsable is 0, the default.
		req.expiresIn, _ = strconv.Atoi(val)
	case "proxy_for_principal":
		req.proxyForPrincipal = strings.ToLower(val)
	case "authorization_details":
		req.authzDetails = val
	case "proxy_principal_spiffe_uris":
		for _, u := range strings.Split(strings.ToLower(val), ",") {
			if u = strings.TrimSpace(u); u != "" {
				req.proxySpiffeURIs = append(req.proxySpiffeURIs, u)
			}
		}
	case "openid_issuer":
		req.openIDIssuer, _ = strconv.ParseBool(val)
	case "client_assertion":
		req.clientAssertion = val
	case "client_assertion_type":
		req.clientAssertionType = strings.ToLower(val)
	}
}

// check refuses a request ZTS would, with its messages.
func (req *accessTokenRequest) check() *apiError {
	if req.grantType != "client_credentials" {
		return badRequest("Invalid grant request: %s", req.grantType)
	}
	if req.scope == "" {
		return badRequest("Invalid request: no scope provided")
	}
	for _, u := range req.proxySpiffeURIs {
		if !strings.HasPrefix(u, uriSpiffe) {
			return badRequest("Invalid spiffe uri specified: %s", u)
		}
		if _, err := url.Parse(u); err != nil {
			return badRequest("Invalid spiffe uri specified: %s", u)
		}
	}
	if req.clientAssertion != "" {
		// JWT client authentication needs registered service keys,
		// which zts-dev does not model.
		return badRequest("Invalid client assertion: not supported by zts-dev")
	}
	return nil
}

// tokenScope is AccessTokenScope: one domain, optional roles, optional
// openid with the audience service.
type tokenScope struct {
	domain    string
	roles     []string // nil means every role of the principal
	service   string
	openID    bool
	sendScope bool // "<domain>:domain" was asked for
}

func parseScope(scope string) (*tokenScope, *apiError) {
	ts := &tokenScope{}
	var roles []string
	for _, item := range strings.Split(scope, " ") {
		if e := ts.add(item, &roles); e != nil {
			return nil, e
		}
	}
	if ts.domain == "" {
		return nil, badRequest("No domains in scope")
	}
	if ts.openID && ts.service == "" {
		return nil, badRequest("No audience service name for openid scope")
	}
	// An explicit request for the whole domain overrides role names.
	if !ts.sendScope {
		ts.roles = roles
	}
	return ts, nil
}

// add takes one item of the scope; the role names it asks for go to
// roles, which apply unless the whole domain is asked for.
func (ts *tokenScope) add(item string, roles *[]string) *apiError {
	switch {
	case item == "openid":
		ts.openID = true
	case item == "groups", item == "roles":
		// ID-token-only scopes; meaningless here.
	case strings.Contains(item, ":service."):
		d, svc, _ := strings.Cut(item, ":service.")
		if e := ts.addDomain(d); e != nil {
			return e
		}
		if ts.service != "" && ts.service != svc {
			return badRequest("Multiple services in scope")
		}
		ts.service = svc
	case strings.HasSuffix(item, ":domain"):
		if e := ts.addDomain(strings.TrimSuffix(item, ":domain")); e != nil {
			return e
		}
		ts.sendScope = true
	case strings.Contains(item, roleSep):
		d, r, _ := strings.Cut(item, roleSep)
		if e := ts.addDomain(d); e != nil {
			return e
		}
		if !slices.Contains(*roles, r) {
			*roles = append(*roles, r)
		}
	case strings.Contains(item, ":group."):
		d, _, _ := strings.Cut(item, ":group.")
		return ts.addDomain(d)
	}
	return nil
}

// addDomain sets the scope's one domain.
func (ts *tokenScope) addDomain(d string) *apiError {
	switch {
	case d == "":
		return badRequest("empty domain name")
	case ts.domain != "" && ts.domain != d:
		return badRequest("Multiple domains in scope")
	}
	ts.domain = d
	return nil
}

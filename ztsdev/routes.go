package ztsdev

import (
	"context"
	"io"
	"net"
	"net/http"
	"time"
)

// maxBodyBytes bounds request bodies; CSRs and token requests are small.
const maxBodyBytes = 1 << 20

// request is what a handler sees: the HTTP request plus the config
// snapshot, body and caller resolved once by the middleware.
type request struct {
	*http.Request
	st        *state
	body      []byte
	principal *principal // nil when no (usable) client cert
	now       time.Time
}

// clientIP is the remote address without the port.
func (rq *request) clientIP() string {
	host, _, err := net.SplitHostPort(rq.RemoteAddr)
	if err != nil {
		return rq.RemoteAddr
	}
	return host
}

// response is a handler's success: status, JSON body (none for 204) and
// an optional Location header.
type response struct {
	status   int
	body     any
	location string
}

func ok(body any) *response { return &response{status: http.StatusOK, body: body} }

type handlerFunc func(ctx context.Context, rq *request) (*response, *apiError)

// route describes one operation.
type route struct {
	op string
	// auth requires an authenticated principal (401 otherwise), as the
	// RDL's authenticate does.
	auth bool
	// domain extracts, best effort, the domain a request is about, for
	// fault matching; nil for operations about no domain.
	domain func(rq *request) string
	h      handlerFunc
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	handle := func(pattern string, rt route) { mux.Handle(pattern, s.wrap(rt)) }
	pathDomain := func(rq *request) string { return rq.PathValue("domain") }

	handle("POST /zts/v1/instance", route{op: OpRegister, domain: registerDomain, h: s.register})
	handle("POST /zts/v1/instance/{provider}/{domain}/{service}/{instanceId}", route{op: OpRefresh, auth: true, domain: pathDomain, h: s.refresh})
	handle("DELETE /zts/v1/instance/{provider}/{domain}/{service}/{instanceId}", route{op: OpDelete, auth: true, domain: pathDomain, h: s.deleteInstance})
	handle("POST /zts/v1/rolecert", route{op: OpRoleCert, auth: true, domain: roleCertDomain, h: s.roleCert})
	handle("POST /zts/v1/domain/{domain}/role/{role}/token", route{op: OpRoleCert, auth: true, domain: pathDomain, h: s.roleCertLegacy})
	handle("GET /zts/v1/domain/{domain}/token", route{op: OpRoleToken, auth: true, domain: pathDomain, h: s.roleToken})
	handle("POST /zts/v1/oauth2/token", route{op: OpAccessToken, auth: true, domain: accessTokenDomain, h: s.accessToken})
	handle("GET /zts/v1/oauth2/keys", route{op: OpJWKS, h: s.jwks})
	handle("GET /zts/v1/.well-known/openid-configuration", route{op: OpOpenIDConfig, h: s.openIDConfig})
	handle("GET /zts/v1/.well-known/oauth-authorization-server", route{op: OpOAuthConfig, h: s.oauthConfig})
	// Real ZTS authenticates the next two; a dev server can let a
	// bootstrapping client fetch the CA and the role token key without
	// credentials.
	handle("GET /zts/v1/cacerts/{name}", route{op: OpCACerts, h: s.caCerts})
	handle("GET /zts/v1/domain/{domain}/service/{service}/publickey/{keyId}", route{op: OpPublicKey, domain: pathDomain, h: s.publicKey})
	handle("GET /zts/v1/status", route{op: OpStatus, h: s.status})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.finish(w, r, "", nil, nil, notFound("Not Found: %s %s", r.Method, r.URL.Path), time.Now())
	})
	return mux
}

// wrap is the middleware every operation runs through: count, snapshot
// the config, read the body, identify the caller, inject faults,
// authenticate, run the handler and write the response.
func (s *Server) wrap(rt route) http.Handler {
	counter := s.counts[rt.op]
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		counter.Add(1)
		rq := &request{Request: r, st: s.state.Load(), now: start}

		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
		if err != nil {
			s.finish(w, r, rt.op, nil, nil, badRequest("reading request body: %v", err), start)
			return
		}
		rq.body = body

		p, authErr := principalFromTLS(r.TLS)
		rq.principal = p

		// Extracting the domain may mean parsing a body or a CSR; only
		// fault matching needs it.
		var domain string
		if rt.domain != nil && len(rq.st.faults) > 0 {
			domain = rt.domain(rq)
		}
		if rule := selectFault(rq.st.faults, rt.op, domain); rule != nil {
			s.log.Info("injecting fault", "op", rt.op, "domain", domain, "rule", rule.ID,
				"status", rule.Status, "latency", rule.Latency)
			apiErr, err := rule.apply(r.Context())
			if err != nil {
				// The client is gone or we are shutting down;
				// nobody will read a considered answer.
				s.finish(w, r, rt.op, p, nil, newError(http.StatusServiceUnavailable, "%v", err), start)
				return
			}
			if apiErr != nil {
				s.finish(w, r, rt.op, p, nil, apiErr, start)
				return
			}
		}

		// Where no authentication is required, a certificate that names
		// no identity is simply no identity (p is nil).
		if rt.auth && authErr != nil {
			s.finish(w, r, rt.op, nil, nil, authErr, start)
			return
		}
		if rt.auth && p == nil {
			s.finish(w, r, rt.op, nil, nil, unauthorized("Invalid credentials"), start)
			return
		}

		resp, apiErr := rt.h(r.Context(), rq)
		s.finish(w, r, rt.op, rq.principal, resp, apiErr, start)
	})
}

// finish writes the response or error and logs the request. Tokens,
// certificates and keys are never logged.
func (s *Server) finish(w http.ResponseWriter, r *http.Request, op string, p *principal, resp *response, apiErr *apiError, start time.Time) {
	var status int
	var err error
	switch {
	case apiErr != nil:
		status = apiErr.Code
		err = writeError(w, apiErr)
	case resp.body == nil:
		status = resp.status
		w.WriteHeader(status)
	default:
		status = resp.status
		if resp.location != "" {
			w.Header().Set("Location", resp.location)
		}
		err = writeJSON(w, status, resp.body)
	}

	if !s.log.IsDebug() {
		return
	}
	who := ""
	if p != nil {
		who = p.name
	}
	fields := []any{"op", op, "method", r.Method, "path", r.URL.Path, "status", status,
		"principal", who, "duration", time.Since(start)}
	if apiErr != nil {
		fields = append(fields, "error", apiErr.Message)
	}
	if err != nil {
		fields = append(fields, "write_error", err)
	}
	s.log.Debug("request", fields...)
}

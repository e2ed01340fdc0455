package token

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/sia-agent/sia-agent/plugins/internal/httpserver"
	"github.com/sia-agent/sia-agent/plugins/internal/tlsfiles"
	"github.com/sia-agent/sia-agent/plugins/internal/ztsclient"
)

// server is the token server: k8s-athenz-sia's header mode and REST API
// (k8s-athenz-sia pkg/token/server.go) answered from the cache.
type server struct {
	cfg     *Config
	cache   *cache
	log     hclog.Logger
	metrics *metrics
	tls     *tlsfiles.Server // nil: plain HTTP

	roleHeader string // canonical, so that it can index a header map
	wantAT     bool
	wantRT     bool
	expiry     int32 // token_expiry in seconds: the default lifetime asked of ZTS
	margin     time.Duration
	// loopbackOnly: the server listens on a loopback address, so that
	// only requests addressed to a loopback name are answered (a web page
	// in a local browser cannot reach it by DNS rebinding).
	loopbackOnly bool
	maxBodyBytes int64

	// bufs holds response buffers, so that answering from the cache
	// allocates none: allocating them cost 0.6-1.2 µs a request in
	// BenchmarkServeHit (the garbage of a 1 KiB body each time), about 5%
	// of a header-mode request, which BenchmarkTokenServer's budget has
	// no room for.
	bufs sync.Pool
	// atBodies and rtBodies remember the keys of recent REST bodies.
	atBodies, rtBodies *bodyMemo
}

func newServer(cfg *Config, c *cache, log hclog.Logger, m *metrics) (*server, error) {
	s := &server{
		cfg:          cfg,
		cache:        c,
		log:          log,
		metrics:      m,
		roleHeader:   cfg.roleAuthHeader(),
		wantAT:       cfg.wants(typeAccessToken),
		wantRT:       cfg.wants(typeRoleToken),
		expiry:       int32(cfg.TokenExpiry.Std() / time.Second), //nolint:gosec // G115: Config.check bounds it to an int32
		margin:       cfg.Cache.ExpiryMargin.Std(),
		loopbackOnly: loopbackAddress(cfg.Address),
		maxBodyBytes: 64 << 10,
	}
	s.bufs.New = func() any { b := make([]byte, 0, 4096); return &b }
	rule := expiryRule{def: s.expiry, min: int32(cfg.Cache.MinTokenLifetime.Std() / time.Second)} //nolint:gosec // G115: Config.check bounds it to an int32
	s.atBodies, s.rtBodies = newBodyMemo(parseAccessTokenRequest, rule), newBodyMemo(parseRoleTokenRequest, rule)
	if t := cfg.Server.TLS; t.enabled() {
		// Loaded at Init, so that a missing file fails Init as before.
		tls, err := tlsfiles.NewServer(t.CertFile, t.KeyFile, t.ClientCAFile, "h2", "http/1.1")
		if err != nil {
			return nil, fmt.Errorf("loading the token server's TLS files: %w", err)
		}
		s.tls = tls
	}
	return s, nil
}

// options are the token server's for package httpserver: its own
// timeouts, TLS and shutdown delay, and k8s-athenz-sia's log lines
// ("Starting token provider server[<addr>]", "Delaying token provider
// server shutdown for <d> ...", "Stopped token provider server").
func (s *server) options() httpserver.Options {
	sc := s.cfg.Server
	o := httpserver.Options{
		Name:              "token provider server",
		Address:           s.cfg.Address,
		Handler:           s,
		ReadHeaderTimeout: sc.ReadHeaderTimeout.Std(),
		ReadTimeout:       sc.ReadTimeout.Std(),
		WriteTimeout:      sc.WriteTimeout.Std(),
		IdleTimeout:       sc.IdleTimeout.Std(),
		Drain:             &httpserver.Drain{Delay: sc.ShutdownDelay.Std(), Timeout: sc.ShutdownTimeout.Std()},
		LogFields:         []any{"header_mode", sc.HeaderMode, "rest_api", sc.RESTAPI, "mtls", s.tls != nil && s.tls.MTLS()},
		Logger:            s.log,
	}
	if s.tls != nil {
		o.TLSConfig = s.tls.Config()
	}
	return o
}

// ServeHTTP routes as k8s-athenz-sia does: the REST API's two endpoints
// when it is on, header mode for anything else when that is on, 404
// otherwise.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	mode, code := s.route(w, r)
	d := time.Since(start)
	s.metrics.request(mode, code, d)
	if s.log.IsDebug() {
		s.log.Debug("Answered request", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr, "mode", modeNames[mode], "code", code, "duration", d.String())
	}
}

func (s *server) route(w http.ResponseWriter, r *http.Request) (mode, code int) {
	if s.loopbackOnly && !loopbackHost(r.Host) {
		return modeOther, s.misdirected(w, r)
	}
	if s.cfg.Server.RESTAPI {
		switch mode = s.restMode(r.URL.Path); {
		case mode != modeOther && r.Method == http.MethodPost && !isJSON(first(r.Header["Content-Type"])):
			return mode, notJSON(w, r)
		case mode == modeAccessToken && r.Method == http.MethodPost:
			return mode, s.postAccessToken(w, r)
		case mode == modeRoleToken && r.Method == http.MethodPost:
			return mode, s.postRoleToken(w, r)
		case mode != modeOther && !s.cfg.Server.HeaderMode:
			w.Header().Set("Allow", http.MethodPost)
			return mode, writeError(w, http.StatusMethodNotAllowed, r.Method+" is not allowed here; use POST")
		}
	}
	if s.cfg.Server.HeaderMode {
		return modeHeader, s.headerMode(w, r)
	}
	return modeOther, writeError(w, http.StatusNotFound, "no such endpoint: the token server serves "+s.endpoints())
}

// misdirected refuses a request for a name other than loopback's: a web
// page that had its own name resolve to 127.0.0.1 (DNS rebinding).
func (s *server) misdirected(w http.ResponseWriter, r *http.Request) int {
	return writeError(w, http.StatusMisdirectedRequest, "Host "+strconv.Quote(truncate(r.Host, 256))+
		" is not a loopback name: the token server listens on "+s.cfg.Address+" and answers only requests for 127.0.0.1, ::1 or localhost")
}

// notJSON refuses a REST request that does not say it carries JSON: a
// web page can send text/plain or a form across sites without asking.
func notJSON(w http.ResponseWriter, r *http.Request) int {
	return writeError(w, http.StatusUnsupportedMediaType, "Content-Type "+strconv.Quote(truncate(first(r.Header["Content-Type"]), 256))+
		" is not application/json: send the request body as JSON with Content-Type: application/json")
}

// isJSON reports whether a Content-Type value is application/json, with
// or without parameters such as charset. It allocates nothing.
func isJSON(ct string) bool {
	mt, _, _ := strings.Cut(ct, ";")
	return strings.EqualFold(strings.TrimSpace(mt), "application/json")
}

// loopbackAddress reports whether a listen address is a loopback one.
func loopbackAddress(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// loopbackHost reports whether a request's Host names the loopback
// interface: localhost or a loopback address, with or without a port. An
// empty Host (HTTP/1.0) is let through: browsers always send one.
func loopbackHost(host string) bool {
	if host == "" {
		return true
	}
	h := host
	if h[0] == '[' { // [::1] or [::1]:port
		end := strings.IndexByte(h, ']')
		if end < 0 {
			return false
		}
		h = h[1:end]
	} else if i := strings.LastIndexByte(h, ':'); i >= 0 && strings.IndexByte(h, ':') == i {
		h = h[:i] // host:port; more than one colon is a bare IPv6 address
	}
	if strings.EqualFold(h, "localhost") || strings.EqualFold(h, "localhost.") {
		return true
	}
	ip, err := netip.ParseAddr(h)
	return err == nil && ip.Zone() == "" && ip.Unmap().IsLoopback()
}

// restMode returns the REST endpoint path names, if its token type is on.
func (s *server) restMode(path string) int {
	switch {
	case path == "/accesstoken" && s.wantAT:
		return modeAccessToken
	case path == "/roletoken" && s.wantRT:
		return modeRoleToken
	}
	return modeOther
}

func (s *server) endpoints() string {
	switch {
	case s.wantAT && s.wantRT:
		return "POST /accesstoken and POST /roletoken"
	case s.wantAT:
		return "POST /accesstoken"
	}
	return "POST /roletoken"
}

// Header values set on every JSON answer; shared, never modified.
var (
	jsonContentType = []string{"application/json; charset=utf-8"}
	noSniff         = []string{"nosniff"}
)

// writeError answers code with {"error": msg}, as k8s-athenz-sia's header
// mode does, and returns code.
func writeError(w http.ResponseWriter, code int, msg string) int {
	h := w.Header()
	h["Content-Type"] = jsonContentType
	h["X-Content-Type-Options"] = noSniff
	w.WriteHeader(code)
	b := append(append([]byte(`{"error":`), jsonString(msg)...), '}')
	_, _ = w.Write(b) //nolint:gosec // G705: JSON, escaped, with nosniff
	return code
}

// fetchFailed answers a request whose token could not be had, with the
// status that says why. ZTS's own messages and URLs stay in the log.
func (s *server) fetchFailed(w http.ResponseWriter, r *http.Request, k Key, err error) int {
	code, msg := failureStatus(err)
	if s.log.IsDebug() {
		s.log.Debug("Token unavailable", "credential", k.credential(), "code", code, "error", err, "remote", r.RemoteAddr)
	}
	if code == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "1")
	}
	return writeError(w, code, msg+": "+k.credential())
}

// failureStatus maps why a token could not be had to the status a client
// should see: ZTS's own answers as package ztsclient maps them, 502 for a
// token that is (nearly) expired, 429 beyond the on-demand rate, and 503
// while the agent has no identity yet or the wait for ZTS ran out.
func failureStatus(err error) (int, string) {
	if code, msg, ok := ztsclient.ClientStatus(err); ok {
		return code, msg
	}
	var (
		late   *lateTokenError
		noID   *tlsfiles.NoIdentityError
		misses *tooManyMissesError
	)
	switch {
	case errors.As(err, &late):
		return http.StatusBadGateway, "the token from ZTS expires within the expiry margin (" + late.margin.String() + ")"
	case errors.As(err, &noID):
		return http.StatusServiceUnavailable, "no identity yet: waiting for " + noID.KeyFile
	case errors.As(err, &misses):
		return http.StatusTooManyRequests, "too many tokens fetched on demand: at most " +
			strconv.FormatFloat(misses.rate, 'g', -1, 64) + " per second (cache.miss_rate); try again later"
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable, "ZTS did not answer in time"
	case errors.Is(err, context.Canceled):
		return http.StatusServiceUnavailable, "the request was cancelled before ZTS answered"
	}
	return http.StatusServiceUnavailable, "ZTS cannot be reached"
}

// writeOK answers 200 with a JSON body.
func writeOK(w http.ResponseWriter, body []byte) int {
	w.Header()["Content-Type"] = jsonContentType
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body) //nolint:gosec // G705: JSON made by the provider, served as application/json
	return http.StatusOK
}

package token

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sia-agent/sia-agent/plugins/internal/ztsclient"
	"github.com/sia-agent/sia-agent/sdk"
)

// serve answers one request with s, addressed to its loopback address.
// A POST says it carries JSON unless h says otherwise, as REST clients do.
func serve(s *server, method, target string, h http.Header, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	r.Host = s.cfg.Address
	if method == http.MethodPost {
		r.Header.Set("Content-Type", "application/json")
	}
	for k, v := range h {
		r.Header[k] = v
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	return w
}

// upstream is a fake ZTS that answers every call with err (or a token).
func upstream(err error) *fakeZTS {
	return newFakeZTS(func(ctx context.Context, k Key, n int) (*Token, error) {
		if err != nil {
			return nil, err
		}
		return fakeToken(k, n, time.Hour), nil
	})
}

func TestClientMistakesAre4xxWithAJSONError(t *testing.T) {
	t.Parallel()
	st, _ := testCache(t, upstream(nil), nil)
	s := testServer(t, st)
	big := `{"domain":"` + strings.Repeat("a", 70<<10) + `"}`
	cases := []struct {
		name, method, path string
		h                  http.Header
		body               string
		code               int
		want               string // exact body when it starts with {, else a substring
	}{
		{"no headers", "GET", "/", nil, "", 400, `{"error":"http headers not set: X-Athenz-Domain[] X-Athenz-Role[]."}`},
		{"no role header", "GET", "/", headers("d", ""), "", 400, `{"error":"http headers not set: X-Athenz-Domain[d] X-Athenz-Role[]."}`},
		{"bad domain header", "GET", "/", headers("bad domain", "r"), "", 400, `not a valid Athenz name`},
		{"bad role header", "GET", "/", headers("d", "r/../x"), "", 400, `not a valid Athenz name`},
		{"not JSON", "POST", "/roletoken", nil, "domain=d", 400, `invalid request body: invalid character`},
		{"empty body", "POST", "/accesstoken", nil, "", 400, `empty request body`},
		{"unknown field", "POST", "/accesstoken", nil, `{"domain":"d","foo":1}`, 400, `json: unknown field \"foo\"`},
		{"no domain", "POST", "/roletoken", nil, `{"role":"r"}`, 400, `domain is required`},
		{"trailing data", "POST", "/roletoken", nil, `{"domain":"d"} {}`, 400, `unexpected data after the JSON object`},
		{"negative expiry", "POST", "/accesstoken", nil, `{"domain":"d","expiry":-1}`, 400, `expiry must be between 0 and`},
		{"fractional expiry", "POST", "/accesstoken", nil, `{"domain":"d","expiry":1.5}`, 400, `cannot unmarshal number 1.5`},
		{"huge min_expiry", "POST", "/roletoken", nil, `{"domain":"d","min_expiry":4294967296}`, 400, `min_expiry must be between`},
		{"bad proxy", "POST", "/roletoken", nil, `{"domain":"d","proxy_for_principal":"a b"}`, 400, `proxy_for_principal \"a b\" is not`},
		{"body too large", "POST", "/roletoken", nil, big, 413, `request body larger than 65536 bytes`},
	}
	for _, c := range cases {
		w := serve(s, c.method, c.path, c.h, c.body)
		if w.Code != c.code {
			t.Errorf("%s: %d %s, want %d", c.name, w.Code, w.Body, c.code)
			continue
		}
		if ct := w.Header().Get("Content-Type"); ct != "application/json; charset=utf-8" {
			t.Errorf("%s: Content-Type %q", c.name, ct)
		}
		body := w.Body.String()
		if strings.HasPrefix(c.want, "{") && body != c.want || !strings.Contains(body, c.want) {
			t.Errorf("%s: body %s, want %s", c.name, body, c.want)
		}
	}
}

func TestRoutingWithoutHeaderMode(t *testing.T) {
	t.Parallel()
	st, _ := testCache(t, upstream(nil), func(c *Config) {
		c.Server.HeaderMode = false
		c.TokenTypes = []string{typeRoleToken}
	})
	s := testServer(t, st)
	cases := []struct {
		method, path string
		code         int
	}{
		{"POST", "/roletoken", 400}, // served: the empty body is the client's mistake
		{"POST", "/roletoken?x=1", 400},
		{"GET", "/roletoken", 405},
		{"POST", "/accesstoken", 404}, // access tokens are off
		{"GET", "/", 404},
		{"POST", "/roletoken/", 404},
	}
	for _, c := range cases {
		w := serve(s, c.method, c.path, headers("d", "r"), "")
		if w.Code != c.code {
			t.Errorf("%s %s: %d %s, want %d", c.method, c.path, w.Code, w.Body, c.code)
		}
		if c.code == 405 && w.Header().Get("Allow") != "POST" {
			t.Errorf("%s %s: Allow %q", c.method, c.path, w.Header().Get("Allow"))
		}
		if c.code == 404 && w.Body.String() != `{"error":"no such endpoint: the token server serves POST /roletoken"}` {
			t.Errorf("%s %s: body %s", c.method, c.path, w.Body)
		}
	}
}

// With header mode on, it takes every request that is not the REST API's,
// whatever its path and method, as in k8s-athenz-sia.
func TestHeaderModeTakesAnyPath(t *testing.T) {
	t.Parallel()
	st, _ := testCache(t, upstream(nil), nil)
	s := testServer(t, st)
	for _, m := range []string{"GET", "POST", "PUT", "HEAD"} {
		for _, p := range []string{"/", "/anything", "/roletoken"} {
			if m == "POST" && p == "/roletoken" {
				continue
			}
			if w := serve(s, m, p, headers("d", "r"), ""); w.Code != 200 {
				t.Errorf("%s %s: %d %s", m, p, w.Code, w.Body)
			}
		}
	}
}

func TestUpstreamTroubleHasTruthfulStatus(t *testing.T) {
	t.Parallel()
	leak := &url.Error{Op: "Get", URL: "https://zts.internal:4443/zts/v1/domain/d/token?role=r", Err: errors.New("connection refused")}
	cases := []struct {
		name string
		err  error
		code int
		msg  string
	}{
		{"forbidden", ztsAnswer(403, "principal not included"), 403, "ZTS refused to issue the token to the agent's identity"},
		{"unauthenticated", ztsAnswer(401, "Invalid credentials"), 403, "ZTS refused"},
		{"no such domain", ztsAnswer(404, "No such domain: d"), 404, "ZTS has no such domain: "},
		{"invalid", ztsAnswer(400, "Invalid EntityList"), 400, "ZTS rejected the request as invalid"},
		{"rate limited", ztsAnswer(429, "slow down"), 503, "rate limiting"},
		{"server error", ztsAnswer(500, "boom"), 503, "ZTS failed (500)"},
		{"unreachable", ztsUnreachable(leak), 503, "ZTS cannot be reached"},
		{"timeout", ztsUnreachable(context.DeadlineExceeded), 503, "ZTS did not answer in time"},
		{"bad answer", ztsclient.Malformed(opRoleToken, "empty token"), 502, "ZTS answered without a usable token"},
	}
	for _, c := range cases {
		st, _ := testCache(t, upstream(c.err), nil)
		s := testServer(t, st)
		for _, req := range []struct{ method, path, body string }{
			{"GET", "/", ""},
			{"POST", "/roletoken", `{"domain":"d","role":"r"}`},
		} {
			w := serve(s, req.method, req.path, headers("d", "r"), req.body)
			body := w.Body.String()
			if w.Code != c.code || !strings.Contains(body, c.msg) {
				t.Errorf("%s, %s %s: %d %s, want %d %q", c.name, req.method, req.path, w.Code, body, c.code, c.msg)
			}
			if strings.Contains(body, "zts.internal") || strings.Contains(body, "https://") || strings.Contains(body, c.err.Error()) {
				t.Errorf("%s: the body leaks the upstream error: %s", c.name, body)
			}
		}
	}
}

func TestSlowZTSGets503WithinTheRequestTimeout(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	f := newFakeZTS(func(ctx context.Context, k Key, n int) (*Token, error) {
		select {
		case <-release:
			return fakeToken(k, n, time.Hour), nil
		case <-ctx.Done():
			return nil, ztsUnreachable(ctx.Err())
		}
	})
	st, _ := testCache(t, f, func(c *Config) { c.Server.RequestTimeout = sdk.Duration(50 * time.Millisecond) })
	s := testServer(t, st)
	// ZTS answers nothing until release: an answer at all is the request
	// timeout's.
	w := serve(s, "GET", "/", headers("d", "r"), "")
	if w.Code != 503 {
		t.Fatalf("%d %s, want 503", w.Code, w.Body)
	}
	if !strings.Contains(w.Body.String(), "ZTS did not answer in time") {
		t.Errorf("body %s", w.Body)
	}
	close(release)
	// The fetches went on; their tokens are served without another call.
	at, rt := s.keys(headerRequest{Domain: "d", Roles: "r"})
	waitFor(t, 5*time.Second, "the tokens", func() bool {
		return cachedToken(st, at) != nil && cachedToken(st, rt) != nil
	})
	if w := serve(s, "GET", "/", headers("d", "r"), ""); w.Code != 200 || f.total() != 2 {
		t.Errorf("%d, %d ZTS calls; want 200 and 2", w.Code, f.total())
	}
}

func TestRequestMetrics(t *testing.T) {
	z := startZTS(t, "")
	s := start(t, z.config("server: {shutdown_delay: 0s}\n"))
	do(t, nil, "GET", s.base+"/", headers("sia.demo", "reader"), "")
	do(t, nil, "POST", s.base+"/roletoken", nil, `{"domain":"sia.demo","role":"writer"}`)
	do(t, nil, "POST", s.base+"/roletoken", nil, `{"domain":"sia.demo","role":"former"}`)
	do(t, nil, "POST", s.base+"/roletoken", nil, `{"domain":"sia.demo","role":"reader"}`) // a hit: the header-mode request's token
	families, err := s.registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range families {
		for _, m := range mf.GetMetric() {
			labels := ""
			for _, l := range m.GetLabel() {
				labels += l.GetName() + "=" + l.GetValue() + ","
			}
			switch {
			case m.GetCounter() != nil:
				got[mf.GetName()+"{"+labels+"}"] = m.GetCounter().GetValue()
			case m.GetHistogram() != nil:
				got[mf.GetName()+"_count{"+labels+"}"] = float64(m.GetHistogram().GetSampleCount())
			case m.GetGauge() != nil:
				got[mf.GetName()+"{"+labels+"}"] = m.GetGauge().GetValue()
			}
		}
	}
	for name, want := range map[string]float64{
		// The readiness probe's GET / is the first header-mode 400.
		"sia_token_server_requests_total{code=400,mode=header,}":        1,
		"sia_token_server_requests_total{code=200,mode=header,}":        1,
		"sia_token_server_requests_total{code=200,mode=roletoken,}":     2,
		"sia_token_server_requests_total{code=403,mode=roletoken,}":     1,
		"sia_token_server_request_duration_seconds_count{mode=header,}": 2,
		"sia_zts_requests_total{code=200,operation=accesstoken,}":       1,
		"sia_zts_requests_total{code=200,operation=roletoken,}":         2,
		"sia_zts_requests_total{code=403,operation=roletoken,}":         1,
		"sia_zts_request_duration_seconds_count{operation=roletoken,}":  3,
	} {
		if got[name] != want {
			t.Errorf("%s = %v, want %v", name, got[name], want)
		}
	}
	var expiries int
	for name := range got {
		if strings.HasPrefix(name, "sia_token_expiry_timestamp_seconds{") {
			expiries++
		}
	}
	if expiries != 3 {
		t.Errorf("%d token expiry series, want 3 (one per cached token)", expiries)
	}
}

func TestBodyMemoAnswersAsTheParser(t *testing.T) {
	t.Parallel()
	m := newBodyMemo(parseRoleTokenRequest, expiryRule{def: 30})
	bodies := []string{
		`{"domain":"sia.demo","role":"reader"}`, `{"domain":"Sia.Demo","role":"b,a"}`, `{"domain":"d","min_expiry":60}`,
		`{"domain":""}`, `{"domain":"d","foo":1}`, `not json`, `{"domain":"d","role":"` + strings.Repeat("r", 600) + `"}`,
	}
	for range 2 { // the second time from the memo
		for _, b := range bodies {
			want, wantErr := parseRoleTokenRequest([]byte(b), expiryRule{def: 30})
			got, err := m.key([]byte(b))
			if got != want || (err == nil) != (wantErr == nil) {
				t.Errorf("%s: memo %+v, %v; parser %+v, %v", b, got, err, want, wantErr)
			}
		}
	}
	if len(m.keys) != 3 {
		t.Errorf("the memo holds %d bodies, want the 3 short ones that parsed", len(m.keys))
	}
	for i := range memoEntries + 10 {
		if _, err := m.key(fmt.Appendf(nil, `{"domain":"d%d"}`, i)); err != nil {
			t.Fatal(err)
		}
	}
	if len(m.keys) > memoEntries {
		t.Errorf("the memo grew to %d bodies", len(m.keys))
	}
}

// A body of unknown length (chunked) is cut off at the limit too.
func TestChunkedBodyTooLarge(t *testing.T) {
	t.Parallel()
	st, _ := testCache(t, upstream(nil), nil)
	s := testServer(t, st)
	r := httptest.NewRequest("POST", "/roletoken", io.MultiReader(strings.NewReader(`{"domain":"`), strings.NewReader(strings.Repeat("a", 70<<10))))
	if r.ContentLength != -1 {
		t.Fatalf("ContentLength %d, want unknown", r.ContentLength)
	}
	r.Host = s.cfg.Address
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	if w.Code != 413 {
		t.Errorf("%d %s", w.Code, w.Body)
	}
}

// POST with text/plain and any Host header was answered: a web page
// in a local browser could fetch tokens (a simple cross-site request, DNS
// rebinding). The REST API wants application/json; a server on loopback
// answers only loopback names.
func TestBrowserReachableRequestsAreRefused(t *testing.T) {
	t.Parallel()
	st, _ := testCache(t, upstream(nil), nil) // listens on 127.0.0.1:8880
	s := testServer(t, st)
	body := `{"domain":"sia.demo","role":"reader"}`
	for _, c := range []struct {
		name, method, path, host, ct string
		code                         int
		want                         string
	}{
		{"text/plain", "POST", "/roletoken", "127.0.0.1:8880", "text/plain", 415, `Content-Type \"text/plain\" is not application/json`},
		{"form", "POST", "/accesstoken", "127.0.0.1:8880", "application/x-www-form-urlencoded", 415, "is not application/json"},
		{"no Content-Type", "POST", "/accesstoken", "127.0.0.1:8880", "", 415, `Content-Type \"\" is not application/json`},
		{"JSON with charset", "POST", "/accesstoken", "127.0.0.1:8880", "application/json; charset=utf-8", 200, ""},
		{"JSON in capitals", "POST", "/roletoken", "localhost:8880", "Application/JSON", 200, ""},
		{"rebound name", "POST", "/roletoken", "evil.example:8880", "application/json", 421, `Host \"evil.example:8880\" is not a loopback name`},
		{"rebound name, header mode", "GET", "/", "evil.example", "", 421, "is not a loopback name"},
		{"localhost", "GET", "/", "localhost", "", 200, ""},
		{"IPv6 loopback", "GET", "/", "[::1]:8880", "", 200, ""},
		{"other loopback address", "GET", "/", "127.0.0.2", "", 200, ""},
		{"name ending in localhost", "GET", "/", "evil.localhost.example", "", 421, "is not a loopback name"},
	} {
		r := httptest.NewRequest(c.method, c.path, strings.NewReader(body))
		r.Host = c.host
		for k, v := range headers("sia.demo", "reader") {
			r.Header[k] = v
		}
		if c.ct != "" {
			r.Header.Set("Content-Type", c.ct)
		}
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		if w.Code != c.code || !strings.Contains(w.Body.String(), c.want) || w.Header().Get("Content-Type") != jsonCT {
			t.Errorf("%s: %d %s, want %d %s", c.name, w.Code, w.Body, c.code, c.want)
		}
	}
	// On a non-loopback address, any Host is answered, as in k8s-athenz-sia.
	st2, _ := testCache(t, upstream(nil), func(c *Config) { c.Address = "0.0.0.0:8880" })
	r := httptest.NewRequest("GET", "/", nil)
	r.Host = "sidecar.example"
	r.Header = headers("sia.demo", "reader")
	w := httptest.NewRecorder()
	testServer(t, st2).ServeHTTP(w, r)
	if w.Code != 200 {
		t.Errorf("on 0.0.0.0 with Host %s: %d %s", r.Host, w.Code, w.Body)
	}
}

// The Host and Content-Type checks run on every request, hits included:
// they must cost no allocation.
func TestRequestChecksDoNotAllocate(t *testing.T) {
	allocs := testing.AllocsPerRun(100, func() {
		if !loopbackHost("127.0.0.1:8880") || !loopbackHost("[::1]:8880") || !loopbackHost("localhost") ||
			!isJSON("application/json; charset=utf-8") || isJSON("text/plain") {
			t.Fatal("wrong answer")
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per request", allocs)
	}
}

package token

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hashicorp/go-hclog"
	dto "github.com/prometheus/client_model/go"

	"github.com/sia-agent/sia-agent/sdk"
	"github.com/sia-agent/sia-agent/sdk/sdktest"
)

// Regression tests of defects found by attacking the token provider: a
// ZTS hot loop from one request, readiness broken by evicted tokens,
// tokens served about to expire, refreshes blocking each other, client
// mistakes turned into ZTS load, unbounded status records, an identity
// that does not exist yet and malformed tokens cached. Browser-reachable
// requests are in server_test.go, the statuses of unknown names in
// compat_test.go.

// liveHost is an agent's status report in miniature: the records the
// provider reported and has not removed.
type liveHost struct {
	mu   sync.Mutex
	live map[string]sdk.StatusRecord
}

func newLiveHost() *liveHost { return &liveHost{live: make(map[string]sdk.StatusRecord)} }

func (h *liveHost) ReportStatus(_ context.Context, rec sdk.StatusRecord) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.live[rec.Credential] = rec
	return nil
}

func (h *liveHost) RemoveStatus(_ context.Context, credential string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.live, credential)
	return nil
}

func (h *liveHost) Metrics(context.Context) ([]*dto.MetricFamily, error) { return nil, sdk.ErrNoHost }

func (h *liveHost) Status(context.Context) (*sdk.StatusReport, error) { return nil, sdk.ErrNoHost }

func (h *liveHost) records() map[string]sdk.StatusRecord {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[string]sdk.StatusRecord, len(h.live))
	for k, v := range h.live {
		out[k] = v
	}
	return out
}

// cacheOn is testCache reporting to host, logging to logs.
func cacheOn(t testing.TB, f fetcher, host sdk.Host, logs *syncBuffer, mutate func(*Config)) *cache {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Endpoint, cfg.CertFile, cfg.KeyFile = "https://zts.invalid/zts/v1", "c", "k"
	if mutate != nil {
		mutate(&cfg)
	}
	log := hclog.New(&hclog.LoggerOptions{Level: hclog.Trace, Output: logs})
	st := newCache(&cfg, log, f, newTokenFiles(cfg.Files), host)
	t.Cleanup(st.close)
	return st
}

// One request for a 1-second token made the provider call ZTS about
// 15 times a second. A token ZTS makes short-lived is refreshed no more
// often than refresh.min_interval (30s by default).
func TestShortLivedTokensAreNotRefreshedInALoop(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newFakeZTS(func(ctx context.Context, k Key, n int) (*Token, error) {
			return fakeToken(k, n, 10*time.Second), nil // ZTS caps the role at 10s
		})
		st, _ := testCache(t, f, nil)
		k := Key{Kind: accessToken, Domain: "d", Roles: "r"}
		st.addTarget(k)
		runLoop(t, context.Background(), st)
		time.Sleep(5 * time.Minute) // virtual: every refresh the loop would make in that time
		synctest.Wait()
		if n := f.count(k); n > 5*60/30+1 {
			t.Errorf("%d ZTS calls in 5 minutes for one 10s token, want at most one per 30s (refresh.min_interval)", n)
		}
	})
}

// Tokens waiting for the identity were each attempted every second (a
// goroutine, a context and a failed fetch apiece). While it is missing
// they are not attempted again; once it is there, they are fetched within
// a poll.
func TestTokensWaitingForTheIdentityAreNotAttempted(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newFakeZTS(func(ctx context.Context, k Key, n int) (*Token, error) {
			return fakeToken(k, n, time.Hour), nil
		})
		f.noIdentity.Store(true)
		st, _ := testCache(t, f, nil)
		keys := []Key{{Kind: accessToken, Domain: "d", Roles: "r"}, {Kind: roleToken, Domain: "d", Roles: "r"}}
		for _, k := range keys {
			st.addTarget(k)
		}
		runLoop(t, context.Background(), st)
		time.Sleep(5 * time.Minute)
		synctest.Wait()
		for _, k := range keys {
			if n := f.count(k); n != 1 {
				t.Errorf("%s: %d fetches in 5 minutes without an identity, want the first alone", k.credential(), n)
			}
		}
		f.noIdentity.Store(false)
		time.Sleep(identityPoll)
		synctest.Wait()
		for _, k := range keys {
			if cachedToken(st, k) == nil {
				t.Errorf("%s: no token a poll after the identity came", k.credential())
			}
		}
	})
}

// An expiry below cache.min_token_lifetime is refused with a 400
// that names the minimum, before any ZTS call.
func TestTooShortExpiryIsRefused(t *testing.T) {
	t.Parallel()
	f := upstream(nil)
	st, _ := testCache(t, f, nil)
	s := testServer(t, st)
	for _, c := range []struct{ path, body, want string }{
		{"/accesstoken", `{"domain":"sia.demo","role":"writer","expiry":1}`, "expiry must be at least 60 seconds (cache.min_token_lifetime)"},
		{"/roletoken", `{"domain":"sia.demo","role":"writer","min_expiry":59}`, "min_expiry must be at least 60 seconds (cache.min_token_lifetime)"},
	} {
		w := serve(s, "POST", c.path, nil, c.body)
		if w.Code != 400 || !strings.Contains(w.Body.String(), c.want) {
			t.Errorf("%s %s: %d %s, want 400 %q", c.path, c.body, w.Code, w.Body, c.want)
		}
	}
	if n := f.total(); n != 0 {
		t.Errorf("%d ZTS calls for refused requests", n)
	}
	if w := serve(s, "POST", "/accesstoken", nil, `{"domain":"sia.demo","role":"writer","expiry":60}`); w.Code != 200 {
		t.Errorf("expiry at the minimum: %d %s", w.Code, w.Body)
	}
}

// An evicted on-demand token's status record stayed for ever, and
// made /readyz 503 once it expired. On-demand records are optional, and
// leave the report on idle and on LRU eviction; targets' are not.
func TestEvictedTokensLeaveTheStatusReport(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := upstream(nil)
		host := newLiveHost()
		st := cacheOn(t, f, host, &syncBuffer{}, func(c *Config) {
			c.Cache.IdleTimeout = sdk.Duration(3 * time.Second)
			c.Cache.MaxEntries = 3
		})
		target := Key{Kind: roleToken, Domain: "d", Roles: "target"}
		st.addTarget(target)
		st.fetch(context.Background(), target)
		onDemand := func(role string) Key {
			k := Key{Kind: roleToken, Domain: "d", Roles: role}
			if _, err := st.token(context.Background(), k); err != nil {
				t.Fatal(err)
			}
			return k
		}
		a, b := onDemand("a"), onDemand("b")
		synctest.Wait()
		recs := host.records()
		if r := recs[target.credential()]; r.Optional {
			t.Errorf("the target's record is optional: %+v", r)
		}
		if r, ok := recs[a.credential()]; !ok || !r.Optional {
			t.Errorf("on-demand record %+v (present %v), want optional", r, ok)
		}

		// The cache is full: a third on-demand token evicts the least
		// recently used one, and its record.
		time.Sleep(time.Second)
		cachedToken(st, b)
		c := onDemand("c")
		synctest.Wait()
		if _, ok := host.records()[a.credential()]; ok || st.entries.peek(a) != nil {
			t.Errorf("the LRU-evicted token's record is still reported (cached: %v)", st.entries.peek(a) != nil)
		}

		// Idle eviction.
		runLoop(t, context.Background(), st)
		time.Sleep(5 * time.Second)
		synctest.Wait()
		recs = host.records()
		for _, k := range []Key{b, c} {
			if _, ok := recs[k.credential()]; ok || st.entries.peek(k) != nil {
				t.Errorf("%s: idle, but its record is still reported", k.credential())
			}
		}
		if _, ok := recs[target.credential()]; !ok {
			t.Error("the target's record was removed")
		}
	})
}

// A fresh 1s token was served with expires_in 0, and a token ZTS
// delivered late with an expiryTime in the past. A token that arrives
// within the expiry margin is refused (502), and so is one that aged
// within it while the request waited for another.
func TestNoTokenServedWithinTheMargin(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newFakeZTS(func(ctx context.Context, k Key, n int) (*Token, error) {
			switch {
			case k.Roles == "late": // issued when asked, delivered 2.5s later
				issued := time.Now()
				time.Sleep(2500 * time.Millisecond)
				return newToken(k.Kind, "t", "", issued.Add(7*time.Second), issued), nil
			case k.Roles == "slow" && k.Kind == roleToken:
				time.Sleep(2900 * time.Millisecond)
				return fakeToken(k, n, time.Hour), nil
			case k.Roles == "slow": // fine on arrival; aged while the role token was fetched
				return fakeToken(k, n, 7*time.Second), nil
			}
			return fakeToken(k, n, 4*time.Second), nil // within the margin on arrival
		})
		st, _ := testCache(t, f, nil) // expiry_margin 5s, request_timeout 3s
		s := testServer(t, st)
		for _, c := range []struct{ method, path, role, body string }{
			{"GET", "/", "short", ""},
			{"POST", "/accesstoken", "", `{"domain":"d","role":"short"}`},
			{"POST", "/roletoken", "", `{"domain":"d","role":"late"}`},
			{"GET", "/", "slow", ""},
		} {
			w := serve(s, c.method, c.path, headers("d", c.role), c.body)
			if w.Code != http.StatusBadGateway || !strings.Contains(w.Body.String(), "expires within the expiry margin (5s)") {
				t.Errorf("%s %s %s: %d %s, want 502", c.method, c.path, c.role+c.body, w.Code, w.Body)
			}
		}
		if k := (Key{Kind: accessToken, Domain: "d", Roles: "short"}); st.entries.peek(k) != nil {
			t.Error("a token that arrived within the margin was cached")
		}
	})
}

// With ZTS failing, one token's retries held the refresh loop, and
// another token due 0.2s later was first attempted after it had expired.
// Each token is attempted on its own; a failing one's backoff holds no
// refresh slot, even with concurrency 1.
func TestOneFailingTokenDoesNotDelayAnother(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		a := Key{Kind: accessToken, Domain: "d", Roles: "a"}
		b := Key{Kind: roleToken, Domain: "d", Roles: "b"}
		var mu sync.Mutex
		var bCalls []time.Time
		f := newFakeZTS(func(ctx context.Context, k Key, n int) (*Token, error) {
			if k == a {
				return nil, ztsAnswer(503, "down")
			}
			mu.Lock()
			bCalls = append(bCalls, time.Now())
			mu.Unlock()
			return fakeToken(k, n, time.Hour), nil
		})
		st, _ := testCache(t, f, func(c *Config) { c.Refresh.Concurrency = 1 })
		st.addTarget(a)
		st.addTarget(b)
		st.fetch(context.Background(), b)
		t0 := time.Now()
		st.entries.peek(b).postpone(t0.Add(200 * time.Millisecond))
		// A is due now, and fails; B falls due 0.2s later.
		runLoop(t, context.Background(), st)
		time.Sleep(10 * time.Second)
		synctest.Wait()
		mu.Lock()
		defer mu.Unlock()
		if len(bCalls) < 2 {
			t.Fatalf("B was not refreshed within 10s while A was failing (A: %d calls)", f.count(a))
		}
		if late := bCalls[1].Sub(t0.Add(200 * time.Millisecond)); late > minWait {
			t.Errorf("B's refresh came %v after it was due", late)
		}
		if f.count(a) < 2 {
			t.Errorf("A was attempted %d times, want retries", f.count(a))
		}
	})
}

// Header mode for a domain ZTS does not know made a ZTS call per
// request and a WARN line each. ZTS's refusal is answered from a cache of
// refusals for cache.negative_ttl, with the same status.
func TestRefusalsAreAnsweredWithoutAskingZTSAgain(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := upstream(ztsAnswer(404, "No such domain: nosuch.domain"))
		logs := &syncBuffer{}
		st := cacheOn(t, f, newLiveHost(), logs, nil)
		s := testServer(t, st)
		var wg sync.WaitGroup
		bodies := make([]string, 40)
		for i := range bodies {
			wg.Go(func() {
				w := serve(s, "GET", "/", headers("nosuch.domain", "reader"), "")
				bodies[i] = fmt.Sprint(w.Code, " ", w.Body)
			})
		}
		wg.Wait()
		for range 100 {
			w := serve(s, "GET", "/", headers("nosuch.domain", "reader"), "")
			bodies = append(bodies, fmt.Sprint(w.Code, " ", w.Body))
		}
		for i, b := range bodies { // the same answer, whether ZTS or the refusal gave it
			if !strings.HasPrefix(b, `404 {"error":"ZTS has no such domain`) || !strings.Contains(b, "accesstoken/nosuch.domain:reader") || b != bodies[0] {
				t.Fatalf("request %d: %s, want the first's 404 about the access token: %s", i, b, bodies[0])
			}
		}
		synctest.Wait()
		if n := f.total(); n != 2 {
			t.Errorf("%d ZTS calls for 140 requests, want 2 (one per token type)", n)
		}
		if n := logs.count("Failed to fetch token"); n != 2 {
			t.Errorf("%d failure lines, want 2", n)
		}
		// Once the refusal is old, ZTS is asked again.
		time.Sleep(30 * time.Second) // cache.negative_ttl's default
		serve(s, "GET", "/", headers("nosuch.domain", "reader"), "")
		synctest.Wait() // the role token's fetch, which the answer did not wait for
		if n := f.total(); n != 4 {
			t.Errorf("%d ZTS calls after the refusals expired, want 4", n)
		}
	})
}

// The same failure logged at request rate. It is logged once per
// interval, then with the count of the lines held back.
func TestRepeatedFailuresAreLoggedOncePerInterval(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := upstream(ztsAnswer(503, "down")) // not a refusal: asked every time
		logs := &syncBuffer{}
		st := cacheOn(t, f, newLiveHost(), logs, nil)
		k := Key{Kind: roleToken, Domain: "d", Roles: "r"}
		for range 50 {
			if _, err := st.token(context.Background(), k); err == nil {
				t.Fatal("want an error")
			}
		}
		if n, calls := logs.count("Failed to fetch token"), f.count(k); n != 1 || calls != 50 {
			t.Errorf("%d failure lines for %d failed calls, want 1 for 50", n, calls)
		}
		time.Sleep(time.Minute)
		_, _ = st.token(context.Background(), k) // fails, as the log lines checked below say
		if n := logs.count("Failed to fetch token"); n != 2 || !strings.Contains(logs.String(), "repeated=49") {
			t.Errorf("%d lines after the interval, want 2, the second with repeated=49:\n%s", n, logs)
		}
	})
}

// Varying expiry on one role made a status record and series per
// key, past the cache's bound. On-demand misses are rate-limited (429
// beyond cache.miss_burst at once), and records never outnumber the cache.
func TestDistinctKeysAreRateLimitedAndBounded(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := upstream(nil)
		host := newLiveHost()
		st := cacheOn(t, f, host, &syncBuffer{}, func(c *Config) { c.Cache.MaxEntries = 10 })
		s := testServer(t, st)
		codes := map[int]int{}
		var tooMany *httptest.ResponseRecorder
		for i := range 300 {
			w := serve(s, "POST", "/accesstoken", nil, fmt.Sprintf(`{"domain":"sia.demo","role":"reader","expiry":%d}`, 60+i))
			codes[w.Code]++
			if w.Code == http.StatusTooManyRequests {
				tooMany = w
			}
		}
		synctest.Wait()
		const burst = 100 // cache.miss_burst's default
		if codes[200] != burst || codes[429] != 300-burst || f.total() != burst {
			t.Errorf("answers %v and %d ZTS calls, want %d 200s (the burst), the rest 429", codes, f.total(), burst)
		}
		if tooMany != nil && (!strings.Contains(tooMany.Body.String(), `"error":"too many tokens fetched on demand: at most 20 per second (cache.miss_rate)`) ||
			tooMany.Header().Get("Retry-After") == "" || tooMany.Header().Get("Content-Type") != jsonCT) {
			t.Errorf("429: %v %s", tooMany.Header(), tooMany.Body)
		}
		if n := len(host.records()); n > 10 {
			t.Errorf("%d status records for a cache of 10", n)
		}
		if n := len(st.entries.all()); n > 10 {
			t.Errorf("%d cache entries", n)
		}
		// The rate refills.
		time.Sleep(time.Second)
		if w := serve(s, "POST", "/accesstoken", nil, `{"domain":"sia.demo","role":"reader","expiry":1000}`); w.Code != 200 {
			t.Errorf("a second later: %d %s", w.Code, w.Body)
		}
	})
}

// With ZTS down at the first start, the cert provider has not
// written the identity yet, and the token provider's Init failed. In
// refresh mode it waits for the files, answering 503 with the reason,
// and serves tokens once they exist, without a restart.
func TestIdentityThatDoesNotExistYet(t *testing.T) {
	z := startZTS(t, "")
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "service.cert.pem"), filepath.Join(dir, "service.key.pem")
	cfg := strings.NewReplacer(z.certFile, certFile, z.keyFile, keyFile).Replace(
		z.config("targets: [{domain: sia.demo, roles: [reader]}]\nrefresh: {retry: {initial: 50ms, max: 200ms, max_elapsed: 1h}}\n"))
	s := start(t, cfg)
	a := do(t, nil, "GET", s.base+"/", headers("sia.demo", "reader"), "")
	if want := `{"error":"no identity yet: waiting for ` + keyFile + `: accesstoken/sia.demo:reader"}`; a.code != 503 || a.body != want {
		t.Fatalf("before the identity exists: %d %s, want 503 %s", a.code, a.body, want)
	}
	if rec, _ := statusOf(s.Host, "roletoken/sia.demo:reader"); rec.Outcome != "NO_IDENTITY" {
		t.Errorf("status while waiting: %+v", rec)
	}
	// The cert provider writes the key, then the certificate.
	for src, dst := range map[string]string{z.keyFile: keyFile, z.certFile: certFile} {
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, dst, data)
	}
	s.Host.WaitRecord(t, 10*time.Second, func(r sdk.StatusRecord) bool {
		return r.Credential == "roletoken/sia.demo:reader" && r.Outcome == sdk.OutcomeSuccess
	})
	if a := do(t, nil, "GET", s.base+"/", headers("sia.demo", "reader"), ""); a.code != 200 {
		t.Errorf("once the identity exists: %d %s", a.code, a.body)
	}
}

// Init mode stays strict: nothing would run afterwards to wait with.
func TestIdentityMissingInInitModeFailsInit(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := &Provider{}
	rt, _ := sdktest.NewRuntime(t, "token", fmt.Sprintf("endpoint: https://127.0.0.1:1/zts/v1\ncert_file: %s/c.pem\nkey_file: %s/k.pem\nfiles: {dir: %s}\n", dir, dir, dir))
	rt.Mode = sdk.ModeInit
	err := p.Init(t.Context(), rt)
	if err == nil || !strings.Contains(err.Error(), dir+"/c.pem") {
		t.Errorf("Init in init mode without identity files: %v", err)
	}
	_ = p.Shutdown(t.Context())
}

// fakeZTSServer answers both token calls with the given bodies, over plain
// HTTP (the identity files exist, unused).
func fakeZTSServer(t *testing.T, roleToken, accessToken string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if strings.HasSuffix(r.URL.Path, "/oauth2/token") {
			fmt.Fprint(w, accessToken)
			return
		}
		fmt.Fprint(w, roleToken)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/zts/v1"
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// "not.a.jwt" from ZTS was cached and served. An access token must
// be a JWT with an exp, a role token have the Athenz fields, before either
// is cached: otherwise MALFORMED_RESPONSE, and 502 to clients.
func TestMalformedTokensFromZTSAreRefused(t *testing.T) {
	exp := time.Now().Add(time.Hour).Unix()
	jwt := func(header, payload string) string { return b64(header) + "." + b64(payload) + "." + b64("sig") }
	goodJWT := jwt(`{"alg":"ES256","kid":"0"}`, fmt.Sprintf(`{"exp":%d,"scp":["reader"]}`, exp))
	goodRT := fmt.Sprintf("v=Z1;d=sia.demo;r=reader;p=sia.demo.agent;a=1f;t=1;e=%d;k=0;s=c2ln", exp)
	at := func(tok string) string {
		return fmt.Sprintf(`{"access_token":%q,"expires_in":3600,"token_type":"Bearer"}`, tok)
	}
	rt := func(tok string) string { return fmt.Sprintf(`{"token":%q,"expiryTime":%d}`, tok, exp) }
	cases := []struct {
		name, roleToken, accessToken string
		code                         int
	}{
		{"well formed", rt(goodRT), at(goodJWT), 200},
		{"AT not a JWT", rt(goodRT), at("not.a.jwt"), 502},
		{"AT two parts", rt(goodRT), at(b64(`{}`) + "." + b64(`{}`)), 502},
		{"AT without exp", rt(goodRT), at(jwt(`{"alg":"ES256"}`, `{"sub":"x"}`)), 502},
		{"AT header not JSON", rt(goodRT), at(jwt(`alg`, fmt.Sprintf(`{"exp":%d}`, exp))), 502},
		{"AT payload an array", rt(goodRT), at(jwt(`{"alg":"ES256"}`, `[1]`)), 502},
		{"RT not a role token", rt("not.a.role.token"), at(goodJWT), 502},
		{"RT without signature", rt(strings.TrimSuffix(goodRT, ";s=c2ln")), at(goodJWT), 502},
		{"RT signature not last", rt(strings.Replace(goodRT, ";k=0;s=c2ln", ";s=c2ln;k=0", 1)), at(goodJWT), 502},
		{"RT of another domain", rt(strings.Replace(goodRT, "d=sia.demo", "d=other", 1)), at(goodJWT), 502},
		{"RT without expiry", rt(strings.Replace(goodRT, fmt.Sprintf(";e=%d", exp), "", 1)), at(goodJWT), 502},
	}
	ca := newTestCA(t, "ca")
	certFile, keyFile := ca.issue(t, t.TempDir(), "agent", 2, x509.ExtKeyUsageClientAuth)
	for _, c := range cases {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			endpoint := fakeZTSServer(t, c.roleToken, c.accessToken)
			s := start(t, fmt.Sprintf("endpoint: %s\ncert_file: %s\nkey_file: %s\naddress: 127.0.0.1:0\ntargets: [{domain: sia.demo, roles: [reader]}]\n",
				endpoint, certFile, keyFile))
			a := do(t, nil, "GET", s.base+"/", headers("sia.demo", "reader"), "")
			if a.code != c.code {
				t.Fatalf("%d %s, want %d", a.code, a.body, c.code)
			}
			if c.code != 200 {
				if !strings.Contains(a.body, "ZTS answered without a usable token") {
					t.Errorf("body %s", a.body)
				}
				bad := "accesstoken/sia.demo:reader"
				if c.accessToken == at(goodJWT) {
					bad = "roletoken/sia.demo:reader"
				}
				if rec, _ := statusOf(s.Host, bad); rec.Outcome != "MALFORMED_RESPONSE" {
					t.Errorf("status of %s: %+v", bad, rec)
				}
			}
		})
	}
}

// The keys these fixes added are validated with file, line and a reason.
func TestValidateRefreshFloorAndClientBounds(t *testing.T) {
	t.Parallel()
	bad := `endpoint: https://zts:4443/zts/v1
cert_file: c
key_file: k
token_expiry: 3s
refresh: {min_interval: 0s}
cache: {min_token_lifetime: 5s, miss_rate: 0, miss_burst: 0}
`
	cfg, err := sdk.ParseConfig("p.yaml", bad)
	if err != nil {
		t.Fatal(err)
	}
	err = (&Provider{}).Validate(t.Context(), cfg)
	if err == nil {
		t.Fatal("bad config passed")
	}
	for _, want := range []string{
		"p.yaml:4: token_expiry: 3s is shorter than cache.min_token_lifetime (5s)",
		"p.yaml:5: refresh.min_interval: must be positive",
		"p.yaml:6: cache.min_token_lifetime: 5s must exceed cache.expiry_margin (5s)",
		"p.yaml:6: cache.miss_rate: must be a positive number",
		"p.yaml:6: cache.miss_burst: must be at least 1",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing problem %q in:\n%v", want, err)
		}
	}
	good := "endpoint: https://zts:4443/zts/v1\ncert_file: c\nkey_file: k\ntoken_expiry: 60s\ncache: {negative_ttl: 0s, miss_rate: 0.5}\n"
	if cfg, _ := sdk.ParseConfig("p.yaml", good); (&Provider{}).Validate(t.Context(), cfg) != nil {
		t.Errorf("good config refused: %v", (&Provider{}).Validate(t.Context(), cfg))
	}
}

package token

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ardielle/ardielle-go/rdl"
	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sia-agent/sia-agent/plugins/internal/tlsfiles"
	"github.com/sia-agent/sia-agent/plugins/internal/ztsclient"
	"github.com/sia-agent/sia-agent/sdk"
	"github.com/sia-agent/sia-agent/sdk/sdktest"
	"github.com/sia-agent/sia-agent/ztsdev/ztsdevtest"
)

// zts is an in-process zts-dev with the identity files of sia.demo.agent.
type zts struct {
	*ztsdevtest.Instance
	certFile, keyFile string
}

func startZTS(t testing.TB, configYAML string) *zts {
	t.Helper()
	inst := ztsdevtest.Start(t, configYAML)
	// Wait until it serves, so that its goroutines exist before the
	// harness's leak check takes its baseline.
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: inst.CAPool()}}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get(inst.URL + "/status")
	if err != nil {
		t.Fatalf("zts-dev does not answer: %v", err)
	}
	resp.Body.Close()
	cert, key := inst.ServiceCertFiles(t, "sia.demo.agent")
	return &zts{Instance: inst, certFile: cert, keyFile: key}
}

// config returns a provider config for z with a free port, then extra
// (YAML lines at the top level of the block).
func (z *zts) config(extra string) string {
	return fmt.Sprintf("endpoint: %s\nca_file: %s\ncert_file: %s\nkey_file: %s\naddress: 127.0.0.1:0\n%s",
		z.URL, z.CAFile, z.certFile, z.keyFile, extra)
}

// started is a provider run through Init and Start by the harness.
type started struct {
	*sdktest.Harness
	p    *Provider
	base string // http://127.0.0.1:PORT
}

// Tests that use it do not run in parallel: the harness's leak check at
// cleanup sees every goroutine of the process, other tests' included.
func start(t testing.TB, configYAML string) *started {
	t.Helper()
	p := &Provider{}
	h := sdktest.New(t, p, "token", configYAML)
	if err := h.Init(); err != nil {
		t.Fatalf("Init: %v", err)
	}
	if err := h.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	s := &started{Harness: h, p: p}
	if a := p.Addr(); a != nil {
		s.base = "http://" + a.String()
	}
	return s
}

// registry is the harness's metrics registry.
func (s *started) registry() *prometheus.Registry { return s.Runtime.Metrics.(*prometheus.Registry) }

// answer is a response read in full.
type answer struct {
	code   int
	header http.Header
	body   string
}

func do(t testing.TB, c *http.Client, method, url string, header http.Header, body string) answer {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if method == http.MethodPost { // REST clients send JSON as such; header may say otherwise
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{code: resp.StatusCode, header: resp.Header, body: string(b)}
}

func headers(domain, role string) http.Header {
	h := http.Header{}
	if domain != "" {
		h.Set(domainHeader, domain)
	}
	if role != "" {
		h.Set(roleHeader, role)
	}
	return h
}

// waitFor polls cond until it holds or the deadline passes; for state
// that has no event to wait on (a ZTS that comes back, a metric).
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ztsAnswer is ZTS's answer of status to a role token call.
func ztsAnswer(status int, message string) error {
	return &ztsclient.Error{Op: "GetRoleToken", Status: status, Err: rdl.ResourceError{Code: status, Message: message}}
}

// ztsUnreachable is a role token call that got no answer.
func ztsUnreachable(err error) error { return &ztsclient.Error{Op: "GetRoleToken", Err: err} }

// fakeZTS is a fetcher that tests script. Until noIdentity is cleared,
// fetches fail as they do before the cert provider wrote the identity.
type fakeZTS struct {
	mu         sync.Mutex
	calls      map[Key]int
	fn         func(ctx context.Context, k Key, n int) (*Token, error)
	noIdentity atomic.Bool
}

func newFakeZTS(fn func(ctx context.Context, k Key, n int) (*Token, error)) *fakeZTS {
	return &fakeZTS{calls: make(map[Key]int), fn: fn}
}

func (f *fakeZTS) fetch(ctx context.Context, k Key) (*Token, error) {
	f.mu.Lock()
	f.calls[k]++
	n := f.calls[k]
	f.mu.Unlock()
	if f.noIdentity.Load() {
		return nil, &tlsfiles.NoIdentityError{KeyFile: "k", Err: errors.New("no such file")}
	}
	return f.fn(ctx, k, n)
}

func (f *fakeZTS) hasIdentity() bool { return !f.noIdentity.Load() }

func (f *fakeZTS) count(k Key) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[k]
}

func (f *fakeZTS) total() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		n += c
	}
	return n
}

// fakeToken is a token of kind k for key, valid for life.
func fakeToken(k Key, n int, life time.Duration) *Token {
	now := time.Now()
	raw := fmt.Sprintf("%s-%s-%s-%d", k.Kind, k.Domain, k.Roles, n)
	scope := ""
	if k.Kind == accessToken && k.Roles == "" {
		scope = k.Domain + ":role.all"
	}
	return newToken(k.Kind, raw, scope, now.Add(life), now)
}

// cachedToken returns k's token if the cache holds one that has not
// expired, noting the use, as a request would.
func cachedToken(c *cache, k Key) *Token {
	now := time.Now()
	if e := c.entries.use(k, now); e != nil && e.tok.Load().usable(now, 0) {
		return e.tok.Load()
	}
	return nil
}

// testCache is a cache over a fake ZTS with cfg's settings (defaults for
// what it leaves zero), logging to t.
func testCache(t testing.TB, f fetcher, mutate func(*Config)) (*cache, *sdktest.Host) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Endpoint, cfg.CertFile, cfg.KeyFile = "https://zts.invalid/zts/v1", "c", "k"
	if mutate != nil {
		mutate(&cfg)
	}
	host := sdktest.NewHost()
	log := hclog.New(&hclog.LoggerOptions{Level: hclog.Trace, Output: testLog{t}})
	st := newCache(&cfg, log, f, newTokenFiles(cfg.Files), host)
	t.Cleanup(st.close)
	return st, host
}

// testServer is a token server over st, answering through ServeHTTP.
func testServer(t testing.TB, st *cache) *server {
	t.Helper()
	m, err := newMetrics(prometheus.NewRegistry(), st)
	if err != nil {
		t.Fatal(err)
	}
	s, err := newServer(st.cfg, st, st.log, m)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type testLog struct{ t testing.TB }

func (w testLog) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

// statusOf returns the latest record of credential.
func statusOf(h *sdktest.Host, credential string) (sdk.StatusRecord, bool) {
	recs := h.Records()
	for i := len(recs) - 1; i >= 0; i-- {
		if recs[i].Credential == credential {
			return recs[i], true
		}
	}
	return sdk.StatusRecord{}, false
}

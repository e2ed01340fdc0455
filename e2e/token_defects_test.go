package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/sia-agent/sia-agent/internal/e2e"
	"github.com/sia-agent/sia-agent/sdk"
	"github.com/sia-agent/sia-agent/ztsdev"
)

// Regression tests of the token provider's defects, through the real
// agent, plugins and zts-dev: ZTS calls are counted by the agent's own
// sia_zts_requests_total, which the provider updates before it answers.

// defectsPipeline runs the real token provider with the real metrics and
// health providers; tokenConfig is the token provider's config block.
func defectsPipeline(t *testing.T, tokenConfig string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("providers:\n  - name: token\n    plugin: token\n    config:\n")
	b.WriteString(indent(tokenConfig, "      "))
	b.WriteString("  - name: metrics\n    plugin: metrics\n    config: {address: \"127.0.0.1:0\"}\n")
	b.WriteString("  - name: healthcheck\n    plugin: health\n    config: {address: \"127.0.0.1:0\"}\n")
	return pipeline(t, b.String())
}

// defectsAgent is a running agent of defectsPipeline and its servers.
type defectsAgent struct {
	*e2e.Process
	token, metrics, health string // base URLs
}

func runDefectsAgent(t *testing.T, tokenConfig string) *defectsAgent {
	t.Helper()
	p := runAgent(t, defectsPipeline(t, tokenConfig), nil)
	a := &defectsAgent{Process: p}
	a.token = serverURL(t, p, "token", "token provider server")
	a.metrics = serverURL(t, p, "metrics", "metrics exporter server")
	a.health = serverURL(t, p, "healthcheck", "health check server")
	p.WaitLog(t, "All 3 providers started", waitLine)
	return a
}

// keepAlive is a client that reuses connections, as a busy local client
// of the token server does.
var keepAlive = &http.Client{Timeout: 20 * time.Second}

// call sends one request and reads the answer in full.
func call(t *testing.T, c *http.Client, method, url string, header http.Header, body string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if h := header.Get("Host"); h != "" {
		req.Host = h
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

var jsonHeader = http.Header{"Content-Type": {"application/json"}}

// scrape returns the agent's metrics.
func scrape(t *testing.T, metrics string) map[string]*dto.MetricFamily {
	t.Helper()
	code, body := fetch(t, metrics+"/metrics", nil)
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d %s", code, body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return mfs
}

// series counts the series of mf with labels, and sums their values.
func series(mf *dto.MetricFamily, labels map[string]string) (n int, sum float64) {
	for _, m := range mf.GetMetric() {
		if hasSeries(&dto.MetricFamily{Metric: []*dto.Metric{m}}, labels) {
			n++
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return n, sum
}

// ztsCalls is how many ZTS calls of op the token provider made.
func ztsCalls(t *testing.T, a *defectsAgent, op string) int {
	t.Helper()
	_, sum := series(scrape(t, a.metrics)["sia_zts_requests_total"], map[string]string{"provider": "token", "operation": op})
	return int(sum)
}

// tokenStatus returns the token provider's credentials in /status.
func tokenStatus(t *testing.T, a *defectsAgent) map[string]sdk.CredentialStatus {
	t.Helper()
	code, body := fetch(t, a.health+"/status", nil)
	var rep sdk.StatusReport
	if err := json.Unmarshal(body, &rep); code != http.StatusOK || err != nil {
		t.Fatalf("/status: %d %v %s", code, err, body)
	}
	out := map[string]sdk.CredentialStatus{}
	for _, c := range rep.Credentials {
		if c.Provider == "token" {
			out[c.Credential] = c
		}
	}
	return out
}

// One request for a 1-second access token started a ZTS hot loop. It is
// refused with a 400 naming the minimum lifetime, and ZTS is not called.
// A browser's requests (text/plain, a rebound Host) are refused too.
func TestTokenDefectShortExpiryMakesNoZTSLoop(t *testing.T) {
	t.Parallel()
	env := newTokenEnv(t, string(ztsdev.DemoConfig()))
	a := runDefectsAgent(t, env.tokenConfig("[]", "concurrency: 4\n"))

	code, _, body := call(t, keepAlive, "POST", a.token+"/accesstoken", jsonHeader, `{"domain":"sia.demo","role":"writer","expiry":1}`)
	if code != 400 || !strings.Contains(body, "expiry must be at least 60 seconds (cache.min_token_lifetime)") {
		t.Errorf("expiry 1: %d %s, want 400 naming the minimum", code, body)
	}
	if n := ztsCalls(t, a, "accesstoken"); n != 0 {
		t.Errorf("%d access token calls to ZTS after the refused request", n)
	}
	code, _, body = call(t, keepAlive, "POST", a.token+"/accesstoken", jsonHeader, `{"domain":"sia.demo","role":"writer","expiry":60}`)
	if code != 200 {
		t.Errorf("expiry 60: %d %s", code, body)
	}
	if n := ztsCalls(t, a, "accesstoken"); n != 1 {
		t.Errorf("%d access token calls to ZTS for one token, want 1", n)
	}

	// What a web page in a local browser can send.
	code, _, body = call(t, keepAlive, "POST", a.token+"/accesstoken", http.Header{"Content-Type": {"text/plain"}}, `{"domain":"sia.demo","role":"writer","expiry":60}`)
	if code != 415 || !strings.Contains(body, `is not application/json`) {
		t.Errorf("text/plain: %d %s", code, body)
	}
	code, _, body = call(t, keepAlive, "GET", a.token+"/", http.Header{"Host": {"rebound.example:8880"}, "X-Athenz-Domain": {"sia.demo"}, "X-Athenz-Role": {"writer"}}, "")
	if code != 421 || !strings.Contains(body, `is not a loopback name`) {
		t.Errorf("rebound Host: %d %s", code, body)
	}
	if code := stop(t, a.Process); code != 0 {
		t.Errorf("exit code %d", code)
	}
}

// An evicted on-demand token's record stayed in the status report, and
// made /readyz 503 for good once it expired. On-demand records are
// optional and leave the report when the token is evicted.
func TestTokenDefectEvictedTokenLeavesTheStatusReport(t *testing.T) {
	t.Parallel()
	env := newTokenEnv(t, string(ztsdev.DemoConfig()))
	a := runDefectsAgent(t, env.tokenConfig("[{domain: sia.demo, roles: [reader]}]", "concurrency: 4\n")+"cache: {idle_timeout: 3s}\n")
	waitReady(t, a.Process, a.health)

	code, _, body := call(t, keepAlive, "POST", a.token+"/roletoken", jsonHeader, `{"domain":"sia.demo","role":"writer"}`)
	if code != 200 {
		t.Fatalf("on demand: %d %s", code, body)
	}
	const cred = "roletoken/sia.demo:writer"
	creds := tokenStatus(t, a)
	if c, ok := creds[cred]; !ok || !c.Optional {
		t.Errorf("on-demand record %+v (present %v), want optional", c, ok)
	}
	if c := creds["roletoken/sia.demo:reader"]; c.Optional {
		t.Errorf("the target's record is optional: %+v", c)
	}
	a.WaitLog(t, tokenLine("Evicted idle token: credential="+cred), waitLine)
	a.WaitLog(t, tokenLine("Removed an evicted token's status record: credential="+cred), waitLine)
	if _, ok := tokenStatus(t, a)[cred]; ok {
		t.Errorf("the evicted token's record is still in /status")
	}
	if code, body := fetch(t, a.health+"/readyz", nil); code != 200 {
		t.Errorf("/readyz after the eviction: %d %s", code, body)
	}
	if _, ok := tokenStatus(t, a)["roletoken/sia.demo:reader"]; !ok {
		t.Error("the target's record left /status")
	}
	if code := stop(t, a.Process); code != 0 {
		t.Errorf("exit code %d", code)
	}
}

// A ZTS that delivered a token late got it served with 200 and an expiry
// already (nearly) past. A token that arrives within the expiry margin is
// a 502; the next, on time, is served.
func TestTokenDefectLateTokenIsNotServed(t *testing.T) {
	t.Parallel()
	// 8-second tokens, the first delivered 4 seconds late: 3-4s left, less
	// than the 5s margin.
	zts := strings.NewReplacer("roleTokenDefaultSecs: 7200", "roleTokenDefaultSecs: 8", "roleTokenMaxSecs: 2592000", "roleTokenMaxSecs: 8",
		"faults: []", "faults:\n  - {operation: accesstoken, latency: 4s, count: 1}").Replace(string(ztsdev.DemoConfig()))
	if !strings.Contains(zts, "roleTokenMaxSecs: 8") {
		t.Fatal("the demo data set changed: no roleTokenMaxSecs to lower")
	}
	env := newTokenEnv(t, zts)
	a := runDefectsAgent(t, env.tokenConfig("[]", "concurrency: 4\n")+"server: {request_timeout: 8s, write_timeout: 12s}\n")

	code, _, body := call(t, keepAlive, "POST", a.token+"/accesstoken", jsonHeader, `{"domain":"sia.demo","role":"reader"}`)
	if code != 502 || !strings.Contains(body, "expires within the expiry margin (5s)") {
		t.Errorf("a token delivered late: %d %s, want 502", code, body)
	}
	code, _, body = call(t, keepAlive, "POST", a.token+"/accesstoken", jsonHeader, `{"domain":"sia.demo","role":"reader"}`)
	var at struct {
		ExpiresIn int `json:"expires_in"`
	}
	if code != 200 || json.Unmarshal([]byte(body), &at) != nil || at.ExpiresIn < 5 {
		t.Errorf("a token on time: %d %s, want 200 with expires_in of at least the margin", code, body)
	}
	if code := stop(t, a.Process); code != 0 {
		t.Errorf("exit code %d", code)
	}
}

// Header mode for a domain ZTS does not know made a ZTS call and a WARN
// line per request. ZTS's refusal is answered from the cache of refusals:
// the clients get the same 404, ZTS sees one call per token type.
func TestTokenDefectUnknownDomainIsNotZTSLoad(t *testing.T) {
	t.Parallel()
	env := newTokenEnv(t, string(ztsdev.DemoConfig()))
	a := runDefectsAgent(t, env.tokenConfig("[]", "concurrency: 4\n"))
	h := http.Header{"X-Athenz-Domain": {"nosuch.domain"}, "X-Athenz-Role": {"reader"}}
	var wg sync.WaitGroup
	codes := make([]int, 8*25)
	for w := range 8 {
		wg.Go(func() {
			for i := range 25 {
				codes[w*25+i], _, _ = call(t, keepAlive, "GET", a.token+"/", h, "")
			}
		})
	}
	wg.Wait()
	for i, c := range codes {
		if c != 404 {
			t.Fatalf("request %d: %d, want 404", i, c)
		}
	}
	if n := ztsCalls(t, a, "accesstoken") + ztsCalls(t, a, "roletoken"); n > 2 {
		t.Errorf("%d ZTS calls for %d requests, want at most 2 (one per token type)", n, len(codes))
	}
	if code := stop(t, a.Process); code != 0 { // and so the whole log is in
		t.Errorf("exit code %d", code)
	}
	if n := countFrom(a.Log, 0, tokenLine("Failed to fetch token: credential=")); n > 2 {
		t.Errorf("%d failure lines logged for %d requests, want at most 2", n, len(codes))
	}
}

// Distinct client keys (varying expiry on one role) grew the status report
// and /metrics without bound. Beyond the on-demand rate clients get 429,
// and records and series never outnumber the cache.
func TestTokenDefectDistinctKeysAreBounded(t *testing.T) {
	t.Parallel()
	env := newTokenEnv(t, string(ztsdev.DemoConfig()))
	// The defaults: bursts of 100 on-demand fetches, 20 a second after.
	a := runDefectsAgent(t, env.tokenConfig("[]", "concurrency: 4\n")+"cache: {max_entries: 50}\n")
	const n = 300
	var (
		mu      sync.Mutex
		codes   = map[int]int{}
		tooMany string
		wg      sync.WaitGroup
	)
	begin := time.Now()
	for w := range 6 {
		wg.Go(func() {
			for i := w; i < n; i += 6 {
				code, _, body := call(t, keepAlive, "POST", a.token+"/accesstoken", jsonHeader, fmt.Sprintf(`{"domain":"sia.demo","role":"reader","expiry":%d}`, 60+i))
				mu.Lock()
				codes[code]++
				if code == 429 {
					tooMany = body
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	took := time.Since(begin)
	if most := 100 + 20*int(took.Seconds()+1); codes[200] > most || codes[200]+codes[429] != n {
		t.Errorf("answers %v in %v, want at most %d 200s and the rest 429", codes, took.Round(time.Millisecond), most)
	}
	if !strings.Contains(tooMany, `"error":"too many tokens fetched on demand: at most 20 per second (cache.miss_rate)`) {
		t.Errorf("429 body %q (answers %v in %v)", tooMany, codes, took.Round(time.Millisecond))
	}
	if calls := ztsCalls(t, a, "accesstoken"); calls != codes[200] {
		t.Errorf("%d ZTS calls for %d tokens", calls, codes[200])
	}
	// Every token evicted to keep the cache at 50 takes its record along.
	for from, k := 0, 0; k < codes[200]-50; k++ {
		from = waitFrom(t, a.Process, from, tokenLine("Removed an evicted token's status record")) + 1
	}
	if records := tokenStatus(t, a); len(records) > 50 {
		t.Errorf("%d token records, more than the cache holds (50)", len(records))
	}
	mfs := scrape(t, a.metrics)
	for _, name := range []string{"sia_credential_expiry_timestamp_seconds", "sia_token_expiry_timestamp_seconds"} {
		if k, _ := series(mfs[name], map[string]string{"provider": "token"}); k > 50 || k == 0 {
			t.Errorf("%d series of %s, want 1 to 50 (the cache)", k, name)
		}
	}
	if code := stop(t, a.Process); code != 0 {
		t.Errorf("exit code %d", code)
	}
}

// ZTS down at the first start, with an empty directory: the cert provider
// could not write the identity, and the token provider's Init failed, exit
// 1. The agent runs on, the token server answers 503 with the reason, and
// serves tokens once ZTS is back and the identity written, without a
// restart.
func TestTokenDefectIdentityArrivesAfterStart(t *testing.T) {
	t.Parallel()
	demo := string(ztsdev.DemoConfig())
	env := &certEnv{zts: e2e.StartZTS(t, bins, strings.Replace(demo, "faults: []", "faults:\n  - {operation: register, status: 503}", 1)), dir: t.TempDir()}
	env.attestation = e2e.WriteFile(t, t.TempDir(), "token", "dev-attestation-secret\n")
	keyFile := env.path("service.key.pem")
	token := fmt.Sprintf(`endpoint: %s
ca_file: %s
key_file: %s
cert_file: %s
targets: [{domain: sia.demo, roles: [reader]}]
address: 127.0.0.1:0
refresh: {retry: {initial: 100ms, max: 500ms, max_elapsed: 1h}}
`+fastCircuit, env.zts.URL, env.zts.CAFile, keyFile, env.path("service.cert.pem"))
	var b strings.Builder
	b.WriteString("providers:\n  - name: certificate\n    plugin: cert\n    config:\n")
	b.WriteString(indent(env.certConfig("[]", refreshFastRetries)+fastCircuit, "      "))
	b.WriteString("  - name: token\n    plugin: token\n    config:\n")
	b.WriteString(indent(token, "      "))
	p := runAgent(t, pipeline(t, b.String()), nil)
	url := serverURL(t, p, "token", "token provider server")
	p.WaitLog(t, "All 2 providers started", waitLine)

	h := http.Header{"X-Athenz-Domain": {"sia.demo"}, "X-Athenz-Role": {"reader"}}
	code, body := fetch(t, url, h)
	if want := `{"error":"no identity yet: waiting for ` + keyFile + `: accesstoken/sia.demo:reader"}`; code != 503 || string(body) != want {
		t.Errorf("before the identity exists: %d %s, want 503 %s", code, body, want)
	}
	if _, err := os.Stat(keyFile); err == nil {
		t.Fatal("the identity exists already: the test proves nothing")
	}

	// ZTS comes back: the cert provider registers, the token provider
	// picks the files up.
	if err := os.WriteFile(env.zts.Config, []byte(demo), 0o600); err != nil {
		t.Fatal(err)
	}
	env.zts.Signal(t, syscall.SIGHUP)
	p.WaitLog(t, tokenLine("Fetched token: credential=roletoken/sia.demo:reader"), waitLine)
	p.WaitLog(t, tokenLine("Fetched token: credential=accesstoken/sia.demo:reader"), waitLine)
	if code, body := fetch(t, url, h); code != 200 {
		t.Errorf("once the identity exists: %d %s", code, body)
	}
	if got := filepath.Dir(keyFile); got != env.dir {
		t.Fatalf("key file %s outside the cert provider's directory", keyFile)
	}
	if code := stop(t, p); code != 0 {
		t.Errorf("exit code %d", code)
	}
}

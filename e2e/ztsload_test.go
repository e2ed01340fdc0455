package e2e

import (
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sia-agent/sia-agent/internal/e2e"
	"github.com/sia-agent/sia-agent/ztsdev"
)

// End-to-end tests of how the agent treats a ZTS that is down: start never
// waits for it, and the agent's one circuit for the endpoint holds every
// provider's calls while it fails.

// fastCircuit is a circuit block for the cert and token providers whose
// probes come within half a second, for tests that make ZTS fail and
// recover: by default they come up to a minute apart.
const fastCircuit = "circuit: {initial: 100ms, max: 500ms}\n"

// ztsDown is the demo data set with every call answered 503.
func ztsDown() string {
	return strings.Replace(string(ztsdev.DemoConfig()), "faults: []",
		"faults:\n  - {operation: \"*\", status: 503, message: down for maintenance}", 1)
}

// loadPipeline runs the real cert provider (role certificate of
// sia.demo:role.reader), the real token provider authenticating with the
// identity it writes, and the metrics provider.
func loadPipeline(t *testing.T, env *certEnv, refresh, circuit string) string {
	t.Helper()
	token := fmt.Sprintf(`endpoint: %s
ca_file: %s
key_file: %s
cert_file: %s
targets: [{domain: sia.demo, roles: [reader]}]
address: 127.0.0.1:0
refresh: {retry: {initial: 100ms, max: 500ms, max_elapsed: 1h}}
circuit: %s
`, env.zts.URL, env.zts.CAFile, env.path("service.key.pem"), env.path("service.cert.pem"), circuit)
	var b strings.Builder
	b.WriteString("providers:\n  - name: certificate\n    plugin: cert\n    config:\n")
	b.WriteString(indent(env.certConfig("[sia.demo:role.reader]", refresh)+"circuit: "+circuit+"\n", "      "))
	b.WriteString("  - name: token\n    plugin: token\n    config:\n")
	b.WriteString(indent(token, "      "))
	b.WriteString("  - name: metrics\n    plugin: metrics\n    config: {address: \"127.0.0.1:0\"}\n")
	return pipeline(t, b.String())
}

func newLoadEnv(t *testing.T, ztsConfig string) *certEnv {
	t.Helper()
	env := &certEnv{zts: e2e.StartZTS(t, bins, ztsConfig), dir: t.TempDir()}
	env.attestation = e2e.WriteFile(t, t.TempDir(), "token", "dev-attestation-secret\n")
	return env
}

// reconfigure rewrites zts-dev's config and waits until it has reloaded
// it; it returns the index of the reload's line in zts-dev's log.
func reconfigure(t *testing.T, z *e2e.ZTS, config string) int {
	t.Helper()
	from := len(z.Log.Lines())
	if err := os.WriteFile(z.Config, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	z.Signal(t, syscall.SIGHUP)
	i, err := z.Log.WaitFrom(from, "config reloaded", waitLine)
	if err != nil {
		t.Fatal(err)
	}
	return i
}

// ZTS down at start, with a role certificate configured: the cert
// provider's Init makes one attempt and the pipeline goes on, so the token
// server answers 503 with the reason while ZTS is still down (the order of
// events is what is asserted: zts-dev is made healthy only after the 503),
// and everything turns fresh once ZTS is back, without a restart.
func TestZTSDownAtStartWithRoleCerts(t *testing.T) {
	t.Parallel()
	env := newLoadEnv(t, ztsDown())
	p := runAgent(t, loadPipeline(t, env, "min_interval: 500ms\nretry_initial: 100ms\nretry_max: 200ms\n", "{initial: 200ms, max: 1s}"), nil)
	url := serverURL(t, p, "token", "token provider server")
	p.WaitLog(t, "All 3 providers started", waitLine)
	h := http.Header{"X-Athenz-Domain": {"sia.demo"}, "X-Athenz-Role": {"reader"}}
	code, body := fetch(t, url, h)
	if code != http.StatusServiceUnavailable || !strings.Contains(string(body), `"error":"`) {
		t.Fatalf("with ZTS down: %d %s, want 503 with the reason", code, body)
	}
	if n := countFrom(env.zts.Log, 0, "injecting fault"); n == 0 {
		t.Fatal("the agent never called ZTS: the test proves nothing")
	}

	reconfigure(t, env.zts, string(ztsdev.DemoConfig()))
	p.WaitLog(t, certLine("Updated role certificate"), waitLine)
	p.WaitLog(t, tokenLine("Fetched token: credential=roletoken/sia.demo:reader"), waitLine)
	p.WaitLog(t, tokenLine("Fetched token: credential=accesstoken/sia.demo:reader"), waitLine)
	if code, body := fetch(t, url, h); code != http.StatusOK {
		t.Errorf("once ZTS is back: %d %s", code, body)
	}
	checkPair(t, env.path("rolecerts/sia.demo:role.reader.cert.pem"), env.path("rolecerts/sia.demo:role.reader.key.pem"))
	if code := stop(t, p); code != 0 {
		t.Errorf("exit code %d", code)
	}
}

// A ZTS that fails, then recovers, under an agent whose cert provider
// refreshes every second and whose token server is asked for 20 tokens it
// does not have: while ZTS fails, zts-dev sees only the calls that opened
// the circuit, those already under way, and one probe at a time (the
// agent's own count of the probes it let go); every other attempt is held
// in the agent. Once ZTS is back, everything is fresh again.
func TestZTSFailsThenRecovers(t *testing.T) {
	t.Parallel()
	env := newLoadEnv(t, string(ztsdev.DemoConfig()))
	a := runAgent(t, loadPipeline(t, env, "interval: 1s\nmin_interval: 500ms\nretry_initial: 100ms\nretry_max: 200ms\nretry_max_elapsed: 300ms\n",
		"{failures: 2, initial: 500ms, max: 2s}"), nil)
	token := serverURL(t, a, "token", "token provider server")
	metrics := serverURL(t, a, "metrics", "metrics exporter server")
	a.WaitLog(t, "All 3 providers started", waitLine)
	a.WaitLog(t, certLine("Updated role certificate"), waitLine)

	down := reconfigure(t, env.zts, ztsDown())
	from := len(a.Log.Lines())
	for range 5 { // failed attempts
		i, err := a.Log.WaitFrom(from, certLine("Failed to refresh certificates"), waitLine)
		if err != nil {
			t.Fatal(err)
		}
		from = i + 1
	}
	askMissing(t, token, 20)
	up := reconfigure(t, env.zts, string(ztsdev.DemoConfig()))
	sent := countFrom(env.zts.Log, down, "injecting fault") - countFrom(env.zts.Log, up, "injecting fault")
	from = len(a.Log.Lines())
	if _, err := a.Log.WaitFrom(from, certLine("Updated identity certificate"), waitLine); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Log.WaitFrom(from, certLine("Updated role certificate"), waitLine); err != nil {
		t.Fatal(err)
	}

	mfs := scrape(t, metrics)
	_, probes := series(mfs["sia_zts_circuit_probes_total"], nil)
	_, held := series(mfs["sia_zts_circuit_held_total"], nil)
	// 2 failures open it; at most 4 calls (identity, role certificate, two
	// tokens) were under way then.
	if bound := 2 + 4 + int(probes); sent > bound {
		t.Errorf("zts-dev saw %d calls while failing, beyond the circuit's bound of %d (%v probes)", sent, bound, probes)
	}
	t.Logf("while ZTS failed: %d calls at zts-dev, %v probes, %v calls held", sent, probes, held)
	if held == 0 {
		t.Errorf("the circuit held no call")
	}
	if t.Failed() {
		t.Log(a.Log.String())
	}
	if code := stop(t, a); code != 0 {
		t.Errorf("exit code %d", code)
	}
}

// askMissing asks the token server at url, n clients at once, for tokens
// the agent does not have: while ZTS fails, each would be a ZTS call, but
// the circuit holds them (they wait for its probe at most their request
// timeout), and they get 503.
func askMissing(t *testing.T, url string, n int) {
	t.Helper()
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			req, err := http.NewRequest("GET", url, nil)
			if err != nil {
				t.Error(err)
				return
			}
			req.Header = http.Header{"X-Athenz-Domain": {"sia.demo"}, "X-Athenz-Role": {fmt.Sprintf("role%d", i)}}
			resp, err := httpClient.Do(req) // fetch's t.Fatal is for the test's goroutine
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusServiceUnavailable {
				t.Errorf("on demand while ZTS fails: %d", resp.StatusCode)
			}
		})
	}
	wg.Wait()
}

// blackhole stands in for a ZTS that accepts connections and never
// answers: it completes every TLS handshake and holds each request until
// its client gives up on it. Its CA file verifies it.
type blackhole struct {
	url, caFile string
	mu          sync.Mutex
	held, gone  int
	changed     chan struct{} // closed and replaced at every change
}

func newBlackhole(t *testing.T) *blackhole {
	t.Helper()
	z := &blackhole{changed: make(chan struct{})}
	closing := make(chan struct{})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The server notices a client that went away only once the body
		// was read.
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			return
		}
		z.update(func() { z.held++ })
		select {
		case <-r.Context().Done():
			z.update(func() { z.gone++ })
		case <-closing:
		}
	}))
	srv.StartTLS()
	t.Cleanup(func() {
		close(closing)
		srv.Close()
	})
	z.url = srv.URL + "/zts/v1"
	z.caFile = e2e.WriteFile(t, t.TempDir(), "ca.pem",
		string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})))
	return z
}

func (z *blackhole) update(change func()) {
	z.mu.Lock()
	defer z.mu.Unlock()
	change()
	close(z.changed)
	z.changed = make(chan struct{})
}

// counts returns how many requests arrived and how many of them their
// client gave up on.
func (z *blackhole) counts() (held, gone int) {
	z.mu.Lock()
	defer z.mu.Unlock()
	return z.held, z.gone
}

// wait waits until cond holds of the counts.
func (z *blackhole) wait(t *testing.T, what string, cond func(held, gone int) bool) {
	t.Helper()
	deadline := time.After(waitLine)
	for {
		z.mu.Lock()
		ok, changed := cond(z.held, z.gone), z.changed
		z.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			held, gone := z.counts()
			t.Fatalf("blackholed ZTS: %s not within %v (%d requests held, %d given up)", what, waitLine, held, gone)
		}
	}
}

// A ZTS that accepts connections and never answers, at start, with a role
// certificate configured: the cert provider's Init returns with its first
// attempt still under way (its call is not abandoned), the token server
// answers 503 with the reason while that call is held and nothing was
// ever answered, and SIGTERM stops the agent cleanly, cancelling the call.
func TestZTSBlackholedAtStart(t *testing.T) {
	t.Parallel()
	z := newBlackhole(t)
	// Not zts-dev: only its address and CA file are used.
	env := &certEnv{zts: &e2e.ZTS{URL: z.url, CAFile: z.caFile}, dir: t.TempDir()}
	env.attestation = e2e.WriteFile(t, t.TempDir(), "token", "dev-attestation-secret\n")
	// The default wait, spelled out: certConfig would wait a minute.
	refresh := "min_interval: 500ms\nretry_initial: 100ms\nretry_max: 200ms\nfirst_attempt_timeout: 500ms\n"
	p := runAgent(t, loadPipeline(t, env, refresh, "{initial: 200ms, max: 1s}"), nil)
	url := serverURL(t, p, "token", "token provider server")
	h := http.Header{"X-Athenz-Domain": {"sia.demo"}, "X-Athenz-Role": {"reader"}}
	code, body := fetch(t, url, h)
	if code != http.StatusServiceUnavailable || !strings.Contains(string(body), `"error":"`) {
		t.Fatalf("with ZTS not answering: %d %s, want 503 with the reason", code, body)
	}
	// The cert provider's Init logged before it returned, so before the
	// token provider's Init began.
	background := p.Log.Index(certLine("The first attempt at the certificates goes on in the background"))
	if background < 0 || background > p.Log.Index("sia-agent.token: Starting token provider server[") {
		t.Errorf("no %q line before the token server started", "goes on in the background")
	}
	if i := p.Log.Index(certLine("Failed to fetch certificates at init")); i >= 0 {
		t.Errorf("the first attempt ended: %s", p.Log.Lines()[i])
	}
	z.wait(t, "the register call arrived", func(held, _ int) bool { return held > 0 })
	if held, gone := z.counts(); gone != 0 {
		t.Errorf("the agent gave up %d of %d calls while serving 503s, want the first attempt's still under way", gone, held)
	}

	p.Signal(t, syscall.SIGTERM)
	if code := p.Exit(t, waitExit); code != 0 {
		t.Errorf("exit code %d", code)
	}
	z.wait(t, "every call cancelled", func(held, gone int) bool { return gone == held })
	// The signal cut the attempt short: that is no failure to fetch.
	p.WaitLog(t, certLine(`The first attempt at the certificates was cut short: cause="received signal: terminated"`), 0)
	if i := p.Log.Index(certLine("Failed to fetch certificates at init")); i >= 0 {
		t.Errorf("a first attempt that Shutdown cut short was logged as a failure: %s", p.Log.Lines()[i])
	}
	if t.Failed() {
		t.Log(p.Log.String())
	}
}

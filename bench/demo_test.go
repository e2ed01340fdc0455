package bench

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sia-agent/sia-agent/internal/e2e"
	"github.com/sia-agent/sia-agent/sdk"
)

// The demo pipeline of the benchmarks: the cert provider with one role
// certificate, the token provider with two targets (both token types),
// metrics and health, against zts-dev.
const demoPipeline = `version: 1
agent:
  log_level: info
  status_file: %[1]s/status.json
  shutdown_timeout: 10s
providers:
  - name: certificate
    plugin: cert
    config:
      endpoint: %[2]s
      ca_file: %[3]s
      identity:
        mode: register
        provider: sys.auth.dev
        domain: sia.demo
        service: agent
        instance_id: bench-0001
        attestation_file: %[1]s/attestation
        dns_suffix: zts.athenz.cloud
      key: {type: ecdsa}
      files: {dir: %[1]s/certs}
      role_certs: {targets: [sia.demo:role.reader]}
  - name: token
    plugin: token
    config:
      endpoint: %[2]s
      ca_file: %[3]s
      key_file: %[1]s/certs/service.key.pem
      cert_file: %[1]s/certs/service.cert.pem
      targets:
        - {domain: sia.demo, roles: [reader]}
        - {domain: sia.demo, roles: [writer]}
      address: 127.0.0.1:0
  - name: metrics
    plugin: metrics
    config: {address: "127.0.0.1:0"}
  - name: health
    plugin: health
    config: {address: "127.0.0.1:0"}
`

// demo is zts-dev and a state directory for the demo pipeline.
type demo struct {
	zts  *e2e.ZTS
	dir  string
	file string
}

func newDemo(b *testing.B) *demo {
	b.Helper()
	cfg, err := os.ReadFile(filepath.Join(root(b), "configs", "zts-dev", "demo.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	d := &demo{zts: e2e.StartZTS(b, bins, string(cfg)), dir: b.TempDir()}
	e2e.WriteFile(b, d.dir, "attestation", "dev-attestation-secret\n")
	d.file = e2e.WriteFile(b, d.dir, "pipeline.yaml", fmt.Sprintf(demoPipeline, d.dir, d.zts.URL, d.zts.CAFile))
	return d
}

// fresh empties the state the pipeline wrote, so that a run starts as a
// new pod's would: no identity, no tokens.
func (d *demo) fresh(b *testing.B) {
	b.Helper()
	for _, sub := range []string{"certs", "status.json"} {
		if err := os.RemoveAll(filepath.Join(d.dir, sub)); err != nil {
			b.Fatal(err)
		}
	}
}

// agent is a running demo agent and where its servers listen.
type agent struct {
	*e2e.Process
	token, health string // host:port
}

var serverRE = regexp.MustCompile(`sia-agent\.(token|health): Starting (?:token provider|health check) server\[([^\]]+)\]`)

// start runs the agent on the demo pipeline, with env, and waits until
// every provider started.
func (d *demo) start(b *testing.B, env []string) *agent {
	b.Helper()
	return d.await(b, e2e.Start(b, filepath.Join(bins, "sia-agent"), env, "run", "--config", d.file))
}

// await waits until every provider of the agent p started.
func (d *demo) await(b *testing.B, p *e2e.Process) *agent {
	b.Helper()
	if _, err := p.Log.Wait("All 4 providers started", time.Minute); err != nil {
		b.Fatalf("%v\n%s", err, p.Log)
	}
	a := &agent{Process: p}
	for _, line := range p.Log.Lines() {
		if m := serverRE.FindStringSubmatch(line); m != nil {
			if m[1] == "token" {
				a.token = m[2]
			} else {
				a.health = m[2]
			}
		}
	}
	if a.token == "" || a.health == "" {
		b.Fatalf("no server addresses in the log:\n%s", p.Log)
	}
	return a
}

func (a *agent) stop(b *testing.B) {
	b.Helper()
	a.Signal(b, syscall.SIGINT)
	if code := a.Exit(b, time.Minute); code != 0 {
		b.Fatalf("exit code %d\n%s", code, a.Log)
	}
}

// headerRequest is the header-mode request of the benchmarks.
var headerRequest = map[string]string{"X-Athenz-Domain": "sia.demo", "X-Athenz-Role": "reader"}

// ztsTime is the time the status report says the credentials' first
// updates spent in ZTS calls, the longest chain: the identity, then the
// slowest of what needs it.
func (d *demo) ztsTime(b *testing.B) time.Duration {
	b.Helper()
	data, err := os.ReadFile(filepath.Join(d.dir, "status.json"))
	if err != nil {
		b.Fatal(err)
	}
	var rep sdk.StatusReport
	if err := json.Unmarshal(data, &rep); err != nil {
		b.Fatal(err)
	}
	var identity, rest int64
	for _, c := range rep.Credentials {
		if c.Credential == "identity" {
			identity = c.RPCDurationMicros
		} else {
			rest = max(rest, c.RPCDurationMicros)
		}
	}
	return time.Duration(identity+rest) * time.Microsecond
}

// wrk drives url with wrk -t2 -c32 for d and returns requests/s and the
// 99th percentile; extra are wrk's further arguments (headers, a script).
func wrk(b *testing.B, url string, d time.Duration, extra ...string) (rps float64, p99 time.Duration) {
	b.Helper()
	args := append([]string{"-t2", "-c32", "-d" + strconv.Itoa(int(d.Seconds())) + "s", "--latency"}, extra...)
	out, err := exec.Command("wrk", append(args, url)...).CombinedOutput()
	if err != nil {
		b.Fatalf("wrk: %v\n%s", err, out)
	}
	text := string(out)
	if m := regexp.MustCompile(`Requests/sec:\s+([\d.]+)`).FindStringSubmatch(text); m != nil {
		rps, _ = strconv.ParseFloat(m[1], 64)
	}
	if m := regexp.MustCompile(`\s99%\s+([\d.]+)(us|ms|s)`).FindStringSubmatch(text); m != nil {
		v, _ := strconv.ParseFloat(m[1], 64)
		unit := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second}[m[2]]
		p99 = time.Duration(v * float64(unit))
	}
	if regexp.MustCompile(`Non-2xx or 3xx responses`).MatchString(text) || rps == 0 || p99 == 0 {
		b.Fatalf("wrk against %s:\n%s", url, text)
	}
	return rps, p99
}

func wrkHeaders(h map[string]string) []string {
	var out []string
	for k, v := range h {
		out = append(out, "-H", k+": "+v)
	}
	return out
}

// needWrk skips a benchmark on a machine without wrk; `make bench`
// installs it.
func needWrk(b *testing.B) {
	if _, err := exec.LookPath("wrk"); err != nil {
		b.Skip("wrk is not installed (apt-get install wrk; make bench does)")
	}
}

// capture returns the token server's raw answer to a request, for the
// limit server to replay.
func capture(b *testing.B, addr, raw string) string {
	b.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, raw); err != nil {
		b.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		b.Fatalf("capturing %q: %d %v", raw, resp.StatusCode, err)
	}
	resp.ContentLength = int64(len(body))
	resp.Body = io.NopCloser(strings.NewReader(string(body)))
	var out strings.Builder
	if err := resp.Write(&out); err != nil {
		b.Fatal(err)
	}
	return out.String()
}

// limitServer runs the bare limit server replaying answer, and returns its
// address.
func limitServer(b *testing.B, answer string, args ...string) string {
	b.Helper()
	file := e2e.WriteFile(b, b.TempDir(), "answer.http", answer)
	cmd := exec.Command(filepath.Join(bins, "limitserver"), append(args, file)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		b.Fatal(err)
	}
	return strings.TrimSpace(line)
}

func root(b *testing.B) string {
	b.Helper()
	dir, err := e2e.ModuleRoot()
	if err != nil {
		b.Fatal(err)
	}
	return dir
}

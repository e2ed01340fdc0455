package bench

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sia-agent/sia-agent/internal/e2e"
)

// The pipeline of BenchmarkStartupZTSDown: the cert provider (identity
// and one role certificate) and the token provider (one target), against
// the ZTS at %[2]s.
const ztsDownPipeline = `version: 1
agent:
  log_level: info
  shutdown_timeout: 10s
providers:
  - name: certificate
    plugin: cert
    config:
      endpoint: %[2]s
      ca_file: %[3]s
      identity:
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
      targets: [{domain: sia.demo, roles: [reader]}]
      address: 127.0.0.1:0
`

// BenchmarkStartupZTSDown measures exec → the token server's first answer
// (a 503 saying what is missing) from a fresh state directory while ZTS
// is down in three ways: nothing listens at its address (refused), it
// answers every call 503 (zts-dev with a fault), or it accepts TCP
// connections and never answers (blackholed). The budget is 1 s whatever
// the way: no provider's Init waits on ZTS beyond its first attempt's
// short wait.
func BenchmarkStartupZTSDown(b *testing.B) {
	demo, err := os.ReadFile(filepath.Join(root(b), "configs", "zts-dev", "demo.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	down := strings.Replace(string(demo), "faults: []",
		"faults:\n  - {operation: \"*\", status: 503, message: down for maintenance}", 1)
	if down == string(demo) {
		b.Fatal("no fault list in the demo data set to replace")
	}
	zts := e2e.StartZTS(b, bins, down) // its CA file serves the other two
	for _, tc := range []struct {
		name     string
		endpoint func(b *testing.B) string
	}{
		{"refused", refusedEndpoint},
		{"503", func(*testing.B) string { return zts.URL }},
		{"blackholed", blackholedEndpoint},
	} {
		b.Run(tc.name, func(b *testing.B) {
			dir := b.TempDir()
			e2e.WriteFile(b, dir, "attestation", "dev-attestation-secret\n")
			file := e2e.WriteFile(b, dir, "pipeline.yaml", fmt.Sprintf(ztsDownPipeline, dir, tc.endpoint(b), zts.CAFile))
			var answered []time.Duration
			for b.Loop() {
				if err := os.RemoveAll(filepath.Join(dir, "certs")); err != nil {
					b.Fatal(err)
				}
				answered = append(answered, firstAnswer(b, file))
			}
			b.ReportMetric(ms(median(answered)), "ms/first-answer")
			b.ReportMetric(ms(maxDuration(answered)), "ms/first-answer-max")
		})
	}
}

// firstAnswer runs the agent on the pipeline file and returns exec → the
// token server's first answer, which must be a 503; then it stops the
// agent.
func firstAnswer(b *testing.B, file string) time.Duration {
	b.Helper()
	t0 := time.Now()
	p := e2e.Start(b, filepath.Join(bins, "sia-agent"), nil, "run", "--config", file)
	i, err := p.Log.Wait("Starting token provider server[", time.Minute)
	if err != nil {
		b.Fatalf("%v\n%s", err, p.Log)
	}
	addr := serverRE.FindStringSubmatch(p.Log.Lines()[i])[2]
	code, body := poll(b, "http://"+addr+"/", headerRequest, func(int) bool { return true })
	took := time.Since(t0)
	if code != http.StatusServiceUnavailable {
		b.Fatalf("first answer with ZTS down: %d %s\n%s", code, body, p.Log)
	}
	(&agent{Process: p}).stop(b)
	return took
}

// refusedEndpoint is a ZTS address where nothing listens: a port just
// bound and released.
func refusedEndpoint(b *testing.B) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		b.Fatal(err)
	}
	return "https://" + addr + "/zts/v1"
}

// blackholedEndpoint is a ZTS address that accepts TCP connections and
// never answers, until the benchmark ends.
func blackholedEndpoint(b *testing.B) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	held := make(chan net.Conn, 64)
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			select {
			case held <- conn:
			default:
				conn.Close() // beyond what a benchmark run makes
			}
		}
	}()
	b.Cleanup(func() {
		ln.Close()
		for {
			select {
			case conn := <-held:
				conn.Close()
			default:
				return
			}
		}
	})
	return "https://" + ln.Addr().String() + "/zts/v1"
}

func maxDuration(ds []time.Duration) time.Duration {
	var m time.Duration
	for _, d := range ds {
		m = max(m, d)
	}
	return m
}

package token

import (
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sia-agent/sia-agent/sdk"
	"github.com/sia-agent/sia-agent/sdk/sdktest"
)

func TestProviderServesTargetsAndOnDemand(t *testing.T) {
	z := startZTS(t, "")
	dir := t.TempDir()
	s := start(t, z.config("targets:\n  - {domain: sia.demo, roles: [reader]}\nfiles: {dir: "+dir+"}\n"))

	// The target was fetched at Init: its status records are there.
	for _, cred := range []string{"accesstoken/sia.demo:reader", "roletoken/sia.demo:reader"} {
		rec, ok := statusOf(s.Host, cred)
		if !ok || rec.Outcome != sdk.OutcomeSuccess || rec.Reason != sdk.ReasonNew || rec.Expiry.IsZero() || rec.NextUpdate.IsZero() {
			t.Errorf("status of %s: %+v (found %v)", cred, rec, ok)
		}
	}

	a := do(t, nil, "GET", s.base+"/", headers("sia.demo", "reader"), "")
	if a.code != http.StatusOK {
		t.Fatalf("header mode: %d %s", a.code, a.body)
	}
	var body struct{ AccessToken, RoleToken string }
	if err := json.Unmarshal([]byte(a.body), &body); err != nil {
		t.Fatal(err)
	}
	if a.header.Get("Authorization") != "bearer "+body.AccessToken || a.header.Get("Athenz-Role-Auth") != body.RoleToken {
		t.Errorf("headers %v do not carry the body's tokens %s", a.header, a.body)
	}
	if !strings.HasPrefix(body.RoleToken, "v=Z1;d=sia.demo;r=reader;") {
		t.Errorf("role token %q", body.RoleToken)
	}

	// Token files of the target, 0600, holding the served tokens.
	for name, want := range map[string]string{
		"sia.demo:role.reader.accesstoken": body.AccessToken,
		"sia.demo:role.reader.roletoken":   body.RoleToken,
	} {
		path := filepath.Join(dir, name)
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Errorf("%s holds another token than the server serves", name)
		}
		if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v", name, fi.Mode().Perm())
		}
	}

	// On demand: a role nobody configured is fetched on the first request.
	a = do(t, nil, "POST", s.base+"/roletoken", nil, `{"domain":"sia.demo","role":"writer"}`)
	if a.code != http.StatusOK || !strings.Contains(a.body, `r=writer;`) {
		t.Fatalf("REST on demand: %d %s", a.code, a.body)
	}
}

func TestShutdownDelayKeepsServing(t *testing.T) {
	z := startZTS(t, "")
	const delay = 400 * time.Millisecond
	s := start(t, z.config("targets: [{domain: sia.demo, roles: [reader]}]\nserver: {shutdown_delay: 400ms}\n"))
	begin := time.Now()
	done := make(chan error, 1)
	go func() { done <- s.Shutdown() }()
	// While shutdown has begun, new connections are still served.
	for served := 0; served < 3; {
		select {
		case err := <-done:
			t.Fatalf("Shutdown returned after %v, before the delay: %v", time.Since(begin), err)
		default:
		}
		tr := &http.Transport{DisableKeepAlives: true}
		a := do(t, &http.Client{Transport: tr}, "GET", s.base+"/", headers("sia.demo", "reader"), "")
		if a.code != 200 {
			t.Fatalf("during the delay: %d %s", a.code, a.body)
		}
		served++
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if took := time.Since(begin); took < delay {
		t.Errorf("Shutdown took %v, less than the delay", took)
	}
	if _, err := http.Get(s.base + "/"); err == nil {
		t.Error("the server still answers after Shutdown")
	}
}

func TestMemoryReporter(t *testing.T) {
	z := startZTS(t, "")
	s := start(t, z.config("targets: [{domain: sia.demo, roles: [reader]}, {domain: sia.demo}]\nmemory_report_interval: 20ms\n"))
	waitFor(t, 10*time.Second, "the cache gauges", func() bool {
		families, _ := s.registry().Gather()
		for _, mf := range families {
			if mf.GetName() != "sia_token_cache_bytes" {
				continue
			}
			for _, m := range mf.GetMetric() {
				if m.GetGauge().GetValue() > 0 {
					return true
				}
			}
		}
		return false
	})
	families, _ := s.registry().Gather()
	for _, mf := range families {
		if mf.GetName() == "sia_token_cache_entries" {
			for _, m := range mf.GetMetric() {
				if m.GetGauge().GetValue() != 2 {
					t.Errorf("%s{%v} = %v, want 2", mf.GetName(), m.GetLabel(), m.GetGauge().GetValue())
				}
			}
		}
	}
}

func TestStartFailsWhenThePortIsTaken(t *testing.T) {
	z := startZTS(t, "")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	p := &Provider{}
	h := sdktest.New(t, p, "token", strings.Replace(z.config(""), "127.0.0.1:0", ln.Addr().String(), 1))
	if err := h.Init(); err != nil {
		t.Fatal(err)
	}
	if err := h.Start(); err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("Start: %v, want the listen error", err)
	}
}

func TestShutdownWithoutStart(t *testing.T) {
	z := startZTS(t, "")
	h := sdktest.New(t, &Provider{}, "token", z.config(""))
	if err := h.Shutdown(); err != nil {
		t.Errorf("Shutdown before Init: %v", err)
	}
	h = sdktest.New(t, &Provider{}, "token", z.config(""))
	if err := h.Init(); err != nil {
		t.Fatal(err)
	}
	if err := h.Shutdown(); err != nil {
		t.Errorf("Shutdown after Init: %v", err)
	}
}

func TestInitModeWritesFilesOrFails(t *testing.T) {
	z := startZTS(t, "")
	dir := t.TempDir()
	run := func(targets string) error {
		p := &Provider{}
		h := sdktest.New(t, p, "token", z.config(targets+"files: {dir: "+dir+", mode: \"0640\"}\nrefresh: {retry: {initial: 10ms, max: 20ms, max_elapsed: 100ms}}\n"))
		h.Runtime.Mode = sdk.ModeInit
		return h.Init()
	}
	if err := run("targets: [{domain: sia.demo, roles: [reader, writer]}]\n"); err != nil {
		t.Fatalf("init mode: %v", err)
	}
	for _, name := range []string{"sia.demo:role.reader,writer.accesstoken", "sia.demo:role.reader,writer.roletoken"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.Mode().Perm() != 0o640 || fi.Size() == 0 {
			t.Errorf("%s: %v %v", name, fi, err)
		}
	}
	err := run("targets: [{domain: sia.demo, roles: [reader]}, {domain: no.such.domain}]\n")
	if err == nil || !strings.Contains(err.Error(), "roletoken/no.such.domain") {
		t.Errorf("init mode with a target ZTS does not know: %v", err)
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	p := &Provider{}
	good := "endpoint: https://zts:4443/zts/v1\ncert_file: c\nkey_file: k\n"
	cfg, _ := sdk.ParseConfig("p.yaml", good)
	if err := p.Validate(t.Context(), cfg); err != nil {
		t.Errorf("good config: %v", err)
	}
	bad := `endpoint: zts:4443
token_types: [idtoken]
token_expiry: 1.5s
targets:
  - {domain: "bad domain"}
address: nonsense
server: {header_mode: false, rest_api: false, tls: {client_ca_file: ca.pem}}
files: {dir: /tmp/x, mode: "0400"}
refresh: {concurrency: 0}
cache: {idle_timeout: 0s}
`
	cfg, _ = sdk.ParseConfig("p.yaml", bad)
	err := p.Validate(t.Context(), cfg)
	if err == nil {
		t.Fatal("bad config passed")
	}
	for _, want := range []string{
		`p.yaml:1: endpoint: "zts:4443" is not an http(s) URL`,
		"key_file: key_file and cert_file are required",
		`p.yaml:2: token_types[0]: "idtoken" is not a token type`,
		"p.yaml:3: token_expiry: must be whole seconds",
		`p.yaml:5: targets[0]: domain "bad domain" is not a valid Athenz name`,
		`p.yaml:6: address: "nonsense" is not host:port`,
		"p.yaml:7: server: enable header_mode or rest_api",
		"server.tls.client_ca_file: mTLS needs cert_file and key_file too",
		"p.yaml:8: files.mode: 0400 would not let the owner read and write",
		"p.yaml:9: refresh.concurrency: must be at least 1",
		"p.yaml:10: cache.idle_timeout: must be positive",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing problem %q in:\n%v", want, err)
		}
	}
	cfg, _ = sdk.ParseConfig("p.yaml", good+"adress: x\n")
	if err := p.Validate(t.Context(), cfg); err == nil || !strings.Contains(err.Error(), `p.yaml:4: adress: unknown key "adress" (did you mean "address"?)`) {
		t.Errorf("typo: %v", err)
	}
}

func TestRelativePathsResolveAgainstThePipelineFile(t *testing.T) {
	t.Parallel()
	cfg, err := sdk.ParseConfig("/etc/sia/pipeline.yaml", "endpoint: https://zts/zts/v1\ncert_file: certs/c.pem\nkey_file: /abs/k.pem\nfiles: {dir: tokens}\n")
	if err != nil {
		t.Fatal(err)
	}
	c, err := decodeConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if c.CertFile != "/etc/sia/certs/c.pem" || c.KeyFile != "/abs/k.pem" || c.Files.Dir != "/etc/sia/tokens" || c.CAFile != "" {
		t.Errorf("paths %q %q %q %q", c.CertFile, c.KeyFile, c.Files.Dir, c.CAFile)
	}
}

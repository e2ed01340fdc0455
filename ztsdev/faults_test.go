package ztsdev_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/AthenZ/athenz/clients/go/zts"

	"github.com/sia-agent/sia-agent/sdk/conf"
	"github.com/sia-agent/sia-agent/ztsdev"
	"github.com/sia-agent/sia-agent/ztsdev/ztsdevtest"
)

// withFaults is the demo config with the given faults section.
func withFaults(faults string) string {
	return strings.Replace(string(ztsdev.DemoConfig()), "faults: []\n", faults, 1)
}

func TestFaultCountSurvivesReload(t *testing.T) {
	rule := func(id string, count int) string {
		return "faults:\n  - {id: " + id + ", operation: roletoken, domain: sia.demo, status: 503, message: try later, count: " +
			strconv.Itoa(count) + "}\n"
	}
	inst := ztsdevtest.Start(t, withFaults(rule("flaky", 2)))
	c := inst.Client(t, agentName)
	get := func() error {
		_, err := c.GetRoleToken(demoDomain, "reader", nil, nil, "")
		return err
	}

	for range 2 {
		err := get()
		wantCode(t, err, 503)
		if !strings.Contains(err.Error(), "try later") {
			t.Errorf("error %q lacks the configured message", err)
		}
	}
	if err := get(); err != nil {
		t.Fatalf("third call: %v", err)
	}
	if n := inst.Server.Requests(ztsdev.OpRoleToken); n != 3 {
		t.Errorf("Requests(roletoken) = %d, want 3", n)
	}

	// An unrelated change keeps the spent budget.
	inst.Reconfigure(t, withFaults(rule("flaky", 2)+"  - {operation: status, domain: other, status: 500}\n"))
	if err := get(); err != nil {
		t.Fatalf("after unrelated reload: %v", err)
	}
	// Changing the rule re-arms it.
	inst.Reconfigure(t, withFaults(rule("flaky", 1)))
	wantCode(t, get(), 503)
	if err := get(); err != nil {
		t.Fatalf("after re-armed budget is spent: %v", err)
	}
	inst.Reconfigure(t, withFaults(rule("flaky-again", 1)))
	wantCode(t, get(), 503)
	if err := get(); err != nil {
		t.Fatal(err)
	}
}

func TestFaultMatching(t *testing.T) {
	inst := ztsdevtest.Start(t, withFaults(`faults:
  - {operation: "*", domain: sia.demo, status: 500}
  - {operation: jwks, status: 429, message: slow down}
`))
	c := inst.Client(t, agentName)
	key := newECKey(t)

	_, err := c.GetRoleToken(demoDomain, "reader", nil, nil, "")
	wantCode(t, err, 500)
	_, err = c.PostAccessTokenRequest(zts.AccessTokenRequest(url.Values{
		"grant_type": {"client_credentials"}, "scope": {"sia.demo:role.reader"}}.Encode()))
	wantCode(t, err, 500)
	_, err = c.PostRoleCertificateRequestExt(&zts.RoleCertificateRequest{Csr: roleCSR(t, key, agentName, demoDomain, "reader")})
	wantCode(t, err, 500)
	_, _, err = inst.Client(t, "").PostInstanceRegisterInformation(registerInfo(t, testKeys(), "f-1"))
	wantCode(t, err, 500)
	_, err = c.GetJWKList(nil, "")
	wantCode(t, err, 429)

	// Requests about other domains, or none, are untouched.
	_, err = c.GetRoleToken("no.such", "reader", nil, nil, "")
	wantCode(t, err, 404)
	if _, err := c.GetStatus(); err != nil {
		t.Errorf("status: %v", err)
	}
}

func TestFaultLatency(t *testing.T) {
	inst := ztsdevtest.Start(t, withFaults(`faults:
  - {operation: status, latency: 50ms}
  - {operation: jwks, latency: 1h, status: 503}
`))
	start := time.Now()
	if _, err := inst.Client(t, "").GetStatus(); err != nil {
		t.Fatalf("delayed status: %v", err)
	}
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Errorf("status answered after %v, want at least the 50ms latency", d)
	}

	// A client timeout fires while the server waits; the server must
	// still shut down promptly at the end of the test.
	c := inst.Client(t, "")
	c.Timeout = 100 * time.Millisecond
	_, err := c.GetJWKList(nil, "")
	// The client gives up; its transport sometimes still hands back the
	// server's answer to the abandoned request (seen in about one run of
	// a hundred), so either error says that the wait was cut short.
	if err == nil || !strings.Contains(err.Error(), "Client.Timeout") && !strings.Contains(err.Error(), "503 context canceled") {
		t.Fatalf("GetJWKList error = %v, want a client timeout", err)
	}
}

func TestReloadKeepsConfigOnError(t *testing.T) {
	inst := ztsdevtest.Start(t, "")
	if err := os.WriteFile(inst.ConfigFile, []byte("domains:\n  - name: sia.demo\n    rolez: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := inst.Server.Reload()
	var ce conf.Problems
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "zts-dev.yaml:3: unknown key \"rolez\"") {
		t.Fatalf("Reload error = %v, want the file, line and key", err)
	}
	if _, err := inst.Client(t, agentName).GetRoleToken(demoDomain, "reader", nil, nil, ""); err != nil {
		t.Fatalf("old config is gone after a failed reload: %v", err)
	}
}

func TestWatchReloadsChangedFile(t *testing.T) {
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "zts.yaml")
	if err := os.WriteFile(cfgFile, ztsdev.DemoConfig(), 0o600); err != nil {
		t.Fatal(err)
	}
	reloaded := make(chan error, 10)
	srv, err := ztsdev.New(ztsdev.Options{
		ConfigFile: cfgFile, StateDir: filepath.Join(dir, "state"), Listen: "127.0.0.1:0",
		WatchInterval: 5 * time.Millisecond,
		OnReload:      func(err error) { reloaded <- err },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})

	if err := os.WriteFile(cfgFile, []byte(withFaults("faults: [{operation: status, status: 503}]\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-reloaded:
		if err != nil {
			t.Fatalf("watch reload: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("config change not picked up")
	}
	inst := &ztsdevtest.Instance{Server: srv, URL: srv.URL(), CAFile: srv.CAFile()}
	_, err = inst.Client(t, "").GetStatus()
	wantCode(t, err, 503)
}

// A fault with retry_after sends the header, as a ZTS shedding load would.
func TestFaultRetryAfter(t *testing.T) {
	inst := ztsdevtest.Start(t, withFaults("faults:\n  - {operation: status, status: 503, retry_after: 30s}\n"))
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: inst.CAPool()}}}
	defer client.CloseIdleConnections()
	resp, err := client.Get(inst.URL + "/status")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "30" {
		t.Errorf("%d, Retry-After %q; want 503 and 30", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if _, err := ztsdev.ParseConfig("zts.yaml", []byte(withFaults("faults:\n  - {operation: status, latency: 1s, retry_after: 1500ms}\n"))); err == nil ||
		!strings.Contains(err.Error(), "retry_after") {
		t.Errorf("a retry_after without a status, in part seconds: %v", err)
	}
}

package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/AthenZ/athenz/clients/go/zts"
	"github.com/ardielle/ardielle-go/rdl"

	"github.com/sia-agent/sia-agent/ztsdev"
)

// binary is the zts-dev executable built once for the tests in this file.
var binary string

func TestMain(m *testing.M) {
	os.Exit(buildAndRun(m))
}

func buildAndRun(m *testing.M) int {
	dir, err := os.MkdirTemp("", "zts-dev-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "zts-dev")
	out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building zts-dev: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

func TestUsageAndConfigErrorsExit2(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("domains:\n  - name: sia.demo\n    rolez: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "state")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown key", []string{"--config", bad, "--state-dir", state}, bad + `:3: unknown key "rolez"`},
		{"missing config", []string{"--config", filepath.Join(dir, "nope.yaml"), "--state-dir", state}, "nope.yaml: no such file or directory"},
		{"unknown flag", []string{"--bogus"}, "flag provided but not defined"},
		{"stray argument", []string{"serve"}, "unexpected arguments"},
		{"bad log level", []string{"--log-level", "loud"}, "unknown --log-level"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr strings.Builder
			cmd := exec.Command(binary, tc.args...)
			cmd.Stderr = &stderr
			err := cmd.Run()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 2 {
				t.Fatalf("exit = %v, want status 2; stderr:\n%s", err, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("stderr %q does not contain %q", stderr.String(), tc.want)
			}
		})
	}
}

var readyRE = regexp.MustCompile(`^zts-dev listening on (https://127\.0\.0\.1:\d+/zts/v1) \(CA bundle: (/.+/ca\.pem)\)$`)

// TestServeReloadShutdown starts the binary on a free port, reads its
// readiness line, uses it with the official client, reloads it with
// SIGHUP and stops it with SIGTERM.
func TestServeReloadShutdown(t *testing.T) {
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "zts.yaml")
	if err := os.WriteFile(cfgFile, ztsdev.DemoConfig(), 0o600); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "state")
	cmd := exec.Command(binary, "--config", cfgFile, "--state-dir", state, "--listen", "127.0.0.1:0", "--watch-interval", "0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			t.Logf("zts-dev killed: %v", <-exited)
		}
	})

	// Log lines arrive on logs; a reader goroutine owns stderr.
	logs := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logs <- sc.Text()
		}
		close(logs)
	}()
	ready := bufio.NewScanner(stdout)
	if !ready.Scan() {
		t.Fatalf("no readiness line: %v", ready.Err())
	}
	m := readyRE.FindStringSubmatch(ready.Text())
	if m == nil {
		t.Fatalf("readiness line %q does not match %v", ready.Text(), readyRE)
	}
	go func() {
		_, _ = io.Copy(io.Discard, stdout) // until the process exits
		exited <- cmd.Wait()
	}()
	url, caFile := m[1], m[2]
	if caFile != filepath.Join(state, "ca.pem") {
		t.Errorf("CA bundle %q, want %q", caFile, filepath.Join(state, "ca.pem"))
	}

	c := officialClient(t, url, caFile, state)
	if _, err := c.GetRoleToken("sia.demo", "reader", nil, nil, ""); err != nil {
		t.Fatalf("role token from the binary: %v", err)
	}

	faulty := strings.Replace(string(ztsdev.DemoConfig()), "faults: []\n", "faults: [{operation: roletoken, status: 503}]\n", 1)
	if err := os.WriteFile(cfgFile, []byte(faulty), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitForLog(t, logs, "config reloaded")
	_, err = c.GetRoleToken("sia.demo", "reader", nil, nil, "")
	var re rdl.ResourceError
	if !errors.As(err, &re) || re.Code != 503 {
		t.Fatalf("after SIGHUP: %v, want the injected 503", err)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitForLog(t, logs, "stopped")
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v, want status 0", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("zts-dev did not exit after SIGTERM")
	}
}

// officialClient authenticates with the identity the binary wrote for
// sia.demo.agent into its state dir.
func officialClient(t *testing.T, url, caFile, state string) zts.ZTSClient {
	t.Helper()
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	certFile, keyFile := ztsdev.ServiceCertFiles(state, "sia.demo.agent")
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatalf("service identity written by zts-dev: %v", err)
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}}}
	t.Cleanup(tr.CloseIdleConnections)
	return zts.NewClient(url, tr)
}

func waitForLog(t *testing.T, logs <-chan string, substr string) {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case line, ok := <-logs:
			if !ok {
				t.Fatalf("zts-dev exited before logging %q", substr)
			}
			if strings.Contains(line, substr) {
				return
			}
		case <-timeout:
			t.Fatalf("zts-dev did not log %q", substr)
		}
	}
}

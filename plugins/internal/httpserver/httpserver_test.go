package httpserver

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"go.uber.org/goleak"

	"github.com/sia-agent/sia-agent/sdk"
	"github.com/sia-agent/sia-agent/sdk/conf"
	"github.com/sia-agent/sia-agent/sdk/fault"
)

func TestCheck(t *testing.T) {
	cases := []struct {
		address string
		tls     TLS
		want    map[string]string // key: part of the message
	}{
		{"127.0.0.1:9999", TLS{}, nil},
		{"127.0.0.1:0", TLS{CertFile: "c", KeyFile: "k"}, nil},
		{"[::1]:9999", TLS{}, nil},
		{":9999", TLS{}, nil},
		{"localhost:9999", TLS{}, nil},
		{"9999", TLS{}, map[string]string{"address": "is not host:port"}},
		{"127.0.0.1:http", TLS{}, map[string]string{"address": "is not a number"}},
		{"127.0.0.1:70000", TLS{}, map[string]string{"address": "is not a number"}},
		{"example.com:80", TLS{}, map[string]string{"address": "IP address or localhost"}},
		{"127.0.0.1:1", TLS{CertFile: "c"}, map[string]string{"tls.key_file": "required with tls.cert_file"}},
		{"127.0.0.1:1", TLS{KeyFile: "k"}, map[string]string{"tls.cert_file": "required with tls.key_file"}},
	}
	for _, c := range cases {
		got := make(map[string]string)
		if err := CheckAddress(c.address); err != nil {
			got["address"] = err.Error()
		}
		for _, p := range conf.AsProblems(c.tls.Validate()) {
			got[conf.P("tls").Join(p.Path).String()] = p.Message
		}
		if len(got) != len(c.want) {
			t.Errorf("Check(%q, %+v) = %v, want %v", c.address, c.tls, got, c.want)
			continue
		}
		for key, part := range c.want {
			if !strings.Contains(got[key], part) {
				t.Errorf("Check(%q, %+v)[%s] = %q, want it to contain %q", c.address, c.tls, key, got[key], part)
			}
		}
	}
}

func TestResolve(t *testing.T) {
	got := TLS{CertFile: "c.pem", KeyFile: "/abs/k.pem"}.Resolve("/etc/sia")
	if got.CertFile != "/etc/sia/c.pem" || got.KeyFile != "/abs/k.pem" {
		t.Errorf("Resolve = %+v", got)
	}
}

func TestDialable(t *testing.T) {
	for addr, want := range map[*net.TCPAddr]string{
		{IP: net.IPv4zero, Port: 80}:            "127.0.0.1:80",
		{IP: net.IPv6unspecified, Port: 80}:     "[::1]:80",
		{IP: net.IPv4(10, 1, 2, 3), Port: 8080}: "10.1.2.3:8080",
	} {
		if got := dialable(addr); got != want {
			t.Errorf("dialable(%v) = %q, want %q", addr, got, want)
		}
	}
}

func logger(t *testing.T) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Output: testWriter{t}, Level: hclog.Trace})
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// start runs a server on a free loopback port the way a provider does.
func start(t *testing.T, opts Options) (*Server, *sdk.Group) {
	t.Helper()
	opts.Name, opts.Address, opts.Logger = "test server", "127.0.0.1:0", logger(t)
	s, err := Listen(opts)
	if err != nil {
		t.Fatal(err)
	}
	g := &sdk.Group{}
	if err := s.Serve(context.Background(), g, "test server"); err != nil {
		t.Fatal(err)
	}
	return s, g
}

func TestServeAndShutdown(t *testing.T) {
	defer goleak.VerifyNone(t)
	s, g := start(t, Options{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "hello")
	})})
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get("http://" + s.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "hello" {
		t.Errorf("body %q", body)
	}
	s.Shutdown(context.Background())
	g.Stop()
	if _, err := net.Dial("tcp", s.Addr().String()); err == nil {
		t.Error("the address still accepts connections after Shutdown")
	}
}

func TestListenFailsOnPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, err = Listen(Options{Name: "test server", Address: ln.Addr().String(), Logger: logger(t)})
	if err == nil || !strings.Contains(err.Error(), "starting the test server: listen tcp "+ln.Addr().String()) ||
		!strings.Contains(err.Error(), "address already in use") {
		t.Errorf("Listen on a port in use: %v", err)
	}
}

func TestServeFaultClosesListener(t *testing.T) {
	s, err := Listen(Options{Name: "test server", Address: "127.0.0.1:0", Logger: logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	g := &sdk.Group{}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// A Group whose fault point fails stands in for any failure to create
	// the goroutine.
	g.Faults = failingPoints(t)
	if err := s.Serve(ctx, g, "test server"); err == nil {
		t.Fatal("Serve succeeded despite the fault")
	}
	s.Shutdown(context.Background()) // must not wait for a goroutine that never ran
	ln, err := net.Listen("tcp", s.Addr().String())
	if err != nil {
		t.Fatalf("the address was not released: %v", err)
	}
	ln.Close()
	g.Stop()
}

func TestShutdownIsBounded(t *testing.T) {
	defer goleak.VerifyNone(t)
	entered := make(chan struct{})
	s, g := start(t, Options{Handler: http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/stuck" { // not the readiness probe
			close(entered)
			<-r.Context().Done() // a request that never finishes on its own
		}
	})})
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	done := make(chan error, 1)
	go func() {
		resp, err := client.Get("http://" + s.Addr().String() + "/stuck")
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	<-entered
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	// The request never finishes on its own: Shutdown returning at all
	// is its context bounding it.
	s.Shutdown(ctx)
	g.Stop()
	if err := <-done; err == nil {
		t.Error("the stuck request succeeded; want its connection closed")
	}
}

func TestTLSAndRotation(t *testing.T) {
	defer goleak.VerifyNone(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeKeyPair(t, certFile, keyFile, "first")
	s, g := start(t, Options{
		TLS:     TLS{CertFile: certFile, KeyFile: keyFile},
		Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}),
	})
	defer func() { s.Shutdown(context.Background()); g.Stop() }()

	served := func() string {
		t.Helper()
		conn, err := tls.Dial("tcp", s.Addr().String(), &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].Subject.CommonName
	}
	if cn := served(); cn != "first" {
		t.Fatalf("served %q, want first", cn)
	}
	// Plain HTTP gets no answer.
	resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Get("http://" + s.Addr().String() + "/")
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("plain HTTP to the TLS server: %s", resp.Status)
		}
	}

	// The pair is looked at again within a second of a handshake (the
	// reload itself, and a broken pair keeping the last good one, are
	// package tlsfiles' tests).
	writeKeyPair(t, certFile, keyFile, "second")
	deadline := time.Now().Add(10 * time.Second)
	for served() != "second" {
		if time.Now().After(deadline) {
			t.Fatal("the server did not present the rotated certificate within 10s")
		}
		time.Sleep(50 * time.Millisecond) // a state to poll: a handshake is the only way to see it
	}
}

func TestListenFailsWithoutKeyPair(t *testing.T) {
	dir := t.TempDir()
	_, err := Listen(Options{
		Name: "test server", Address: "127.0.0.1:0", Logger: logger(t),
		TLS: TLS{CertFile: filepath.Join(dir, "missing.pem"), KeyFile: filepath.Join(dir, "key.pem")},
	})
	if err == nil || !strings.Contains(err.Error(), "starting the test server: loading TLS key pair") {
		t.Errorf("Listen without the key pair: %v", err)
	}
}

// writeKeyPair writes a self-signed certificate for 127.0.0.1 and its
// key, each by rename as the cert provider does.
func writeKeyPair(t *testing.T, certFile, keyFile, cn string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	for file, block := range map[string]*pem.Block{
		certFile: {Type: "CERTIFICATE", Bytes: der},
		keyFile:  {Type: "EC PRIVATE KEY", Bytes: keyDER},
	} {
		if err := sdk.WriteFileAtomic(file, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// failingPoints fails the fault point of the goroutine "test server".
func failingPoints(t *testing.T) *fault.Points {
	t.Helper()
	rules, err := fault.Parse("test:before test server goroutine=fail:no goroutine")
	if err != nil {
		t.Fatal(err)
	}
	return fault.NewPoints("test", rules, nil)
}

// A server is also shut down by its group's Stop, as every goroutine of a
// Group must end soon after it; with a Drain, the delay is announced.
func TestGroupStopShutsDownWithTheDrain(t *testing.T) {
	defer goleak.VerifyNone(t)
	var logs strings.Builder
	log := hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Info})
	s, err := Listen(Options{Name: "test server", Address: "127.0.0.1:0", Logger: log,
		Drain:     &Drain{Timeout: time.Second},
		LogFields: []any{"mode", "test"},
		Handler:   http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})})
	if err != nil {
		t.Fatal(err)
	}
	g := &sdk.Group{}
	if err := s.Serve(context.Background(), g, "test server"); err != nil {
		t.Fatal(err)
	}
	g.Stop()
	s.Shutdown(context.Background()) // after the group's: nothing left to do
	if _, err := net.Dial("tcp", s.Addr().String()); err == nil {
		t.Error("the address still accepts connections after the group stopped")
	}
	for _, want := range []string{
		"Starting test server[" + s.Addr().String() + "]: tls=false mode=test",
		"Delaying test server shutdown for 0s to shutdown gracefully ...",
		"Stopped test server",
	} {
		if strings.Count(logs.String(), want) != 1 {
			t.Errorf("want one line %q in:\n%s", want, logs.String())
		}
	}
}

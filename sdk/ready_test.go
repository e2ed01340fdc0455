package sdk

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestWaitForServerReady(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	for _, status := range []int{http.StatusOK, http.StatusNotFound, http.StatusServiceUnavailable} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(status) }))
		if err := WaitForServerReady(srv.URL, nil); err != nil {
			t.Errorf("status %d: %v", status, err)
		}
		srv.Close()
	}
}

// tlsServer starts a TLS server that requires a client certificate and
// returns it with a client config that trusts it but has no certificate.
func tlsServer(t *testing.T, maxVersion uint16) (*httptest.Server, *tls.Config) {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		t.Error("the request reached the handler without a client certificate")
	}))
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: x509.NewCertPool(), MaxVersion: maxVersion}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused probes
	srv.StartTLS()
	t.Cleanup(srv.Close)
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	return srv, &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
}

// A TLS server that refuses the probe for want of a client certificate is
// up (k8s-athenz-sia #174), whichever TLS version it speaks.
func TestWaitForServerReadyClientCertRequired(t *testing.T) {
	for name, version := range map[string]uint16{"TLS 1.3": tls.VersionTLS13, "TLS 1.2": tls.VersionTLS12} {
		t.Run(name, func(t *testing.T) {
			srv, cfg := tlsServer(t, version)
			done := make(chan error, 1)
			go func() { done <- WaitForServerReady(srv.URL, cfg) }()
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("WaitForServerReady kept retrying against a server that is up")
			}
		})
	}
}

// flakyListener drops the first connection it accepts, so that the first
// probe fails, and reports when each connection came.
type flakyListener struct {
	net.Listener
	mu    sync.Mutex
	n     int
	times chan time.Time
}

func (l *flakyListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		l.mu.Lock()
		l.n++
		n := l.n
		l.mu.Unlock()
		select {
		case l.times <- time.Now():
		default:
		}
		if n == 1 {
			c.Close()
			continue
		}
		return c, nil
	}
}

// The first retry comes after a millisecond, not seconds; the waits
// double up to 250ms.
func TestReadyWaits(t *testing.T) {
	var got []time.Duration
	for w := firstReadyWait; len(got) < 11; w = nextReadyWait(w) {
		got = append(got, w)
	}
	ms := time.Millisecond
	want := []time.Duration{ms, 2 * ms, 4 * ms, 8 * ms, 16 * ms, 32 * ms, 64 * ms, 128 * ms, 250 * ms, 250 * ms, 250 * ms}
	if !slices.Equal(got, want) {
		t.Errorf("waits %v, want %v", got, want)
	}
}

// A server that drops the first probe is probed again, and is ready.
func TestWaitForServerReadyRetries(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fl := &flakyListener{Listener: ln, times: make(chan time.Time, 2)}
	srv := &http.Server{Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(fl)
	}()
	defer func() {
		srv.Close()
		<-served
	}()

	if err := WaitForServerReady("http://"+ln.Addr().String(), nil); err != nil {
		t.Fatal(err)
	}
	await(t, fl.times, "the first probe")
	await(t, fl.times, "the retry")
}

// A server that never comes up fails the wait after the ready timeout.
func TestWaitForServerReadyGivesUp(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now

	// That it returns at all is the giving up; the error says after what.
	err = waitForServerReady("http://"+addr, nil, 50*time.Millisecond)
	if err == nil {
		t.Fatal("WaitForServerReady succeeded with nothing listening")
	}
	if want := "server at http://" + addr + " not ready after 50ms: "; len(err.Error()) < len(want) || err.Error()[:len(want)] != want {
		t.Errorf("error %q, want it to start with %q", err, want)
	}
}

func TestReadyTimeoutIsAMinute(t *testing.T) {
	if ReadyTimeout != time.Minute {
		t.Errorf("ReadyTimeout %v, want the specification's minute", ReadyTimeout)
	}
}

package sdk

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"
)

// ReadyTimeout bounds WaitForServerReady.
const ReadyTimeout = time.Minute

// WaitForServerReady confirms that the HTTP server at url answers, so that
// it can later be shut down gracefully. Any HTTP response counts as ready,
// and so does a TLS server refusing the probe for want of a client
// certificate.
//
// It deliberately takes no context: the lifecycle says it either
// succeeds or retries until it fails (after ReadyTimeout), and is never
// cancelled. Its first retry comes after a millisecond, then the wait
// doubles up to 250 ms.
func WaitForServerReady(url string, tlsConfig *tls.Config) error {
	return waitForServerReady(url, tlsConfig, ReadyTimeout)
}

func waitForServerReady(url string, tlsConfig *tls.Config, readyTimeout time.Duration) error {
	transport := &http.Transport{DisableKeepAlives: true}
	if tlsConfig != nil {
		transport.TLSClientConfig = tlsConfig
	}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport, Timeout: 5 * time.Second}

	deadline := time.Now().Add(readyTimeout)
	wait := firstReadyWait
	for {
		err := probe(client, url)
		if err == nil {
			return nil
		}
		if time.Now().Add(wait).After(deadline) {
			return fmt.Errorf("server at %s not ready after %v: %w", url, readyTimeout, err)
		}
		time.Sleep(wait)
		wait = nextReadyWait(wait)
	}
}

// The waits between readiness probes: a server that is not up at the
// first probe usually is a moment later, so the first retry comes at
// once; then they back off, so that a slow server is not hammered.
const (
	firstReadyWait = time.Millisecond
	maxReadyWait   = 250 * time.Millisecond
)

func nextReadyWait(wait time.Duration) time.Duration { return min(wait*2, maxReadyWait) }

func probe(client *http.Client, url string) error {
	resp, err := client.Get(url)
	if err != nil {
		if isClientCertRequired(err) {
			return nil
		}
		return err
	}
	return resp.Body.Close()
}

// isClientCertRequired reports a TLS server that is up but wants a client
// certificate the probe does not have (k8s-athenz-sia #174). TLS 1.3
// servers say certificate_required; TLS 1.2 servers say bad_certificate or
// handshake_failure, so any alert the server sends counts: a server that
// answers the handshake is up.
func isClientCertRequired(err error) bool {
	var alert tls.AlertError
	if errors.As(err, &alert) && alert == 116 { // certificate_required
		return true
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "remote error" { // a TLS alert from the server
		return true
	}
	return strings.Contains(err.Error(), "certificate required")
}

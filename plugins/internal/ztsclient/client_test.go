package ztsclient

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ardielle/ardielle-go/rdl"

	"github.com/sia-agent/sia-agent/sdk"
)

// fakeZTS is a TLS server that answers with handler and records the
// client certificates presented, one per connection.
type fakeZTS struct {
	*httptest.Server
	caFile string

	mu        sync.Mutex
	presented []string // the common names, in connection order
}

func newFakeZTS(t *testing.T, handler http.HandlerFunc) *fakeZTS {
	t.Helper()
	f := &fakeZTS{}
	f.Server = httptest.NewUnstartedServer(handler)
	f.TLS = &tls.Config{
		ClientAuth: tls.RequestClientCert,
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			cn := ""
			if len(raw) > 0 {
				c, err := x509.ParseCertificate(raw[0])
				if err != nil {
					return err
				}
				cn = c.Subject.CommonName
			}
			f.mu.Lock()
			f.presented = append(f.presented, cn)
			f.mu.Unlock()
			return nil
		},
	}
	f.StartTLS()
	t.Cleanup(f.Close)
	f.caFile = filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(f.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fakeZTS) handshakes() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.presented...)
}

func (f *fakeZTS) client(t *testing.T, identity func() (*tls.Certificate, error)) *Client {
	t.Helper()
	c, err := New(Config{Endpoint: f.URL + "/zts/v1/", CAFile: f.caFile, Identity: identity, Provider: "test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdle)
	return c
}

func clientCert(t *testing.T, cn string) *tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func roleTokenAnswer(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprint(w, `{"token":"v=Z1;d=sports;r=readers;s=sig","expiryTime":1700000000}`)
}

// Every call names the agent and its version, and asks what the
// reference's clients ask, byte for byte.
func TestTokenCallsOnTheWire(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	f := newFakeZTS(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.RequestURI()+" "+r.Header.Get("Content-Type")+" "+string(body)+" | "+r.UserAgent())
		mu.Unlock()
		if r.URL.Path == "/zts/v1/oauth2/token" {
			fmt.Fprint(w, `{"access_token":"a.b.c","token_type":"Bearer","expires_in":3600,"scope":"sports:role.readers"}`)
			return
		}
		roleTokenAnswer(w, r)
	})
	c := f.client(t, nil)
	rt, err := c.RoleToken(t.Context(), TokenRequest{Domain: "sports", Roles: "readers,writers", MinExpiry: 900, ProxyForPrincipal: "a.b"})
	if err != nil || rt.Token != "v=Z1;d=sports;r=readers;s=sig" || rt.ExpiryTime != 1_700_000_000 {
		t.Fatalf("role token: %+v, %v", rt, err)
	}
	at, err := c.AccessToken(t.Context(), TokenRequest{Domain: "sports", Roles: "readers,writers", MaxExpiry: 600, ProxyForPrincipal: "a.b"})
	if err != nil || at.Access_token != "a.b.c" || at.Scope != "sports:role.readers" {
		t.Fatalf("access token: %+v, %v", at, err)
	}
	if _, err := c.AccessToken(t.Context(), TokenRequest{Domain: "sports"}); err != nil {
		t.Fatal(err)
	}
	ua := " | sia-agent/" + Version + " (test)"
	want := []string{
		"GET /zts/v1/domain/sports/token?role=readers%2Cwriters&minExpiryTime=900&proxyForPrincipal=a.b  " + ua,
		"POST /zts/v1/oauth2/token application/x-www-form-urlencoded expires_in=600&grant_type=client_credentials&proxy_for_principal=a.b&scope=sports%3Arole.readers+sports%3Arole.writers" + ua,
		"POST /zts/v1/oauth2/token application/x-www-form-urlencoded grant_type=client_credentials&scope=sports%3Adomain" + ua,
	}
	if strings.Join(seen, "\n") != strings.Join(want, "\n") {
		t.Errorf("requests\n%s\nwant\n%s", strings.Join(seen, "\n"), strings.Join(want, "\n"))
	}
}

// The idle connections made with one identity are closed before a call
// with the next, which handshakes again and presents it.
func TestANewIdentityIsPresentedAtTheNextCall(t *testing.T) {
	f := newFakeZTS(t, roleTokenAnswer)
	var current atomic.Pointer[tls.Certificate]
	current.Store(clientCert(t, "first"))
	c := f.client(t, func() (*tls.Certificate, error) { return current.Load(), nil })
	call := func() {
		t.Helper()
		if _, err := c.RoleToken(t.Context(), TokenRequest{Domain: "sports"}); err != nil {
			t.Fatal(err)
		}
	}
	call()
	call() // the same connection
	current.Store(clientCert(t, "second"))
	call()
	if got := strings.Join(f.handshakes(), ","); got != "first,second" {
		t.Errorf("handshakes presented %s, want first,second", got)
	}
}

// A call that needs an identity fails before it is sent while there is
// none, with the identity's error.
func TestNoIdentityNoCall(t *testing.T) {
	f := newFakeZTS(t, roleTokenAnswer)
	errNone := errors.New("no identity yet")
	c := f.client(t, func() (*tls.Certificate, error) { return nil, errNone })
	if _, err := c.RoleToken(t.Context(), TokenRequest{Domain: "sports"}); !errors.Is(err, errNone) {
		t.Errorf("without identity: %v", err)
	}
	if n := len(f.handshakes()); n != 0 {
		t.Errorf("%d connections made without identity", n)
	}
}

func TestAnswersAreBoundedAndClassified(t *testing.T) {
	huge := strings.Repeat("x", 2*maxAnswer)
	cases := []struct {
		name    string
		status  int
		body    string
		outcome string
		code    int
		text    string
	}{
		{"no such domain", 404, `{"code":404,"message":"getRoleToken: No such domain: sports"}`, "ZTS_404", 404, "GetRoleToken: 404 getRoleToken: No such domain: sports"},
		{"huge error page", 503, huge, "ZTS_503", 503, " bytes cut)"},
		{"not JSON", 200, "<html>", "MALFORMED_RESPONSE", 502, "GetRoleToken: an answer without a usable token"},
		{"no token", 200, `{"expiryTime":1}`, "MALFORMED_RESPONSE", 502, "RoleToken.token is missing"},
		{"too large", 200, `{"token":"` + huge + `"}`, "MALFORMED_RESPONSE", 502, "larger than 1048576 bytes"},
		{"rate limited", 429, `{"code":429,"message":"slow down"}`, "ZTS_429", 503, "429 slow down"},
	}
	for _, tc := range cases {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			f := newFakeZTS(t, func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
			})
			_, err := f.client(t, nil).RoleToken(t.Context(), TokenRequest{Domain: "sports"})
			code, _, ok := ClientStatus(err)
			if sdk.Outcome(err) != tc.outcome || !ok || code != tc.code || !strings.Contains(err.Error(), tc.text) || len(err.Error()) > 400 {
				t.Errorf("%.300v: outcome %s, client status %d; want %s, %d, %q", err, sdk.Outcome(err), code, tc.outcome, tc.code, tc.text)
			}
		})
	}
}

func TestUnansweredCalls(t *testing.T) {
	release := make(chan struct{})
	f := newFakeZTS(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	c := f.client(t, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err := c.RoleToken(ctx, TokenRequest{Domain: "sports"})
	if code, msg, _ := ClientStatus(err); sdk.Outcome(err) != "TIMEOUT" || code != 503 || msg != "ZTS did not answer in time" {
		t.Errorf("timeout: %v: %s %d %s", err, sdk.Outcome(err), code, msg)
	}
	ctx, cancel = context.WithCancel(t.Context())
	cancel()
	_, err = c.RoleToken(ctx, TokenRequest{Domain: "sports"})
	if code, msg, _ := ClientStatus(err); sdk.Outcome(err) != "CANCELED" || code != 503 || !strings.Contains(msg, "cancelled") {
		t.Errorf("canceled: %v: %s %d %s", err, sdk.Outcome(err), code, msg)
	}
	gone, err := New(Config{Endpoint: "https://127.0.0.1:1/zts/v1"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = gone.RoleToken(t.Context(), TokenRequest{Domain: "sports"})
	if code, msg, _ := ClientStatus(err); sdk.Outcome(err) != "UNREACHABLE" || code != 503 || msg != "ZTS cannot be reached" {
		t.Errorf("unreachable: %v: %s %d %s", err, sdk.Outcome(err), code, msg)
	}
}

func TestOutcomePrefixAndStatus(t *testing.T) {
	e := &Error{Op: "PostInstanceRegisterInformation", Status: 403, Err: rdl.ResourceError{Code: 403, Message: "no"}, prefix: "ZTS_ERROR_"}
	if e.Outcome() != "ZTS_ERROR_403" || Status(fmt.Errorf("wrapped: %w", e)) != 403 || e.Error() != "PostInstanceRegisterInformation: 403 no" {
		t.Errorf("%v: %s, %d", e, e.Outcome(), Status(e))
	}
	if (&Error{Op: "x", Status: 404, Err: errors.New("n")}).Outcome() != "ZTS_404" {
		t.Error("the default prefix is not ZTS_")
	}
	if _, _, ok := ClientStatus(errors.New("not a call's")); ok {
		t.Error("ClientStatus took another error for a ZTS call's")
	}
}

func TestCapText(t *testing.T) {
	long := strings.Repeat("a", 300)
	for _, tc := range []struct {
		in     string
		unread int64
		want   string
	}{
		{"No such domain: x", 0, "No such domain: x"},
		{"line one\nline two\r\n", 0, "line one line two"},
		{long, 0, strings.Repeat("a", 200) + "... (100 bytes cut)"},
		{long, 1000, strings.Repeat("a", 200) + "... (1100 bytes cut)"},
		{long, -1, strings.Repeat("a", 200) + "... (more than 100 bytes cut)"},
		{strings.Repeat("a", 199) + "é" + long, 0, strings.Repeat("a", 199) + "... (302 bytes cut)"},
	} {
		if got := capText(tc.in, tc.unread); got != tc.want {
			t.Errorf("capText(%.20q, %d) = %q, want %q", tc.in, tc.unread, got, tc.want)
		}
	}
}

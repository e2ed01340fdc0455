package spiffe

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/spiffe/go-spiffe/v2/proto/spiffe/workload"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/jwtsvid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"github.com/spiffe/go-spiffe/v2/workloadapi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/sia-agent/sia-agent/sdk"
)

// go-spiffe's client gets the identity first, then each role (one with a
// key file of its own, one for the identity key), each with its chain
// (the intermediate of the CA bundle) and hint, and the bundle of every
// trust domain, the configured ones too.
func TestWorkloadAPIServesIdentityAndRoles(t *testing.T) {
	f := newFixture(t)
	f.writeIdentity(nil)
	reader := f.writeRole()
	writer := f.ca.leaf(t, f.key, "sia.demo:role.writer", "spiffe://sia.demo/ra/writer")
	f.writePair("rolecerts/sia.demo:role.writer.key.pem", "rolecerts/sia.demo:role.writer.cert.pem", keyPEM(t, f.key), certPEM(writer))
	r := start(t, f.config("role_certs:\n  targets: [sia.demo:role.reader, sia.demo:role.writer]\ntrust_domains: [other.domain]\n"))

	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	x, err := client(t, f.socket()).FetchX509Context(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		id, hint string
		leaf     *x509.Certificate
	}{{agentID, "identity", f.id}, {readerID, "sia.demo:role.reader", reader}, {"spiffe://sia.demo/ra/writer", "sia.demo:role.writer", writer}}
	if len(x.SVIDs) != len(want) {
		t.Fatalf("%d SVIDs, want %d", len(x.SVIDs), len(want))
	}
	for i, w := range want {
		s := x.SVIDs[i]
		if s.ID.String() != w.id || s.Hint != w.hint {
			t.Errorf("SVID %d is %s (hint %q), want %s (hint %q)", i, s.ID, s.Hint, w.id, w.hint)
		}
		if len(s.Certificates) != 2 || !s.Certificates[0].Equal(w.leaf) || !s.Certificates[1].Equal(f.ca.inter) {
			t.Errorf("SVID %s: chain of %d, want the leaf and the intermediate", s.ID, len(s.Certificates))
		}
	}
	b, err := x.Bundles.GetX509BundleForTrustDomain(spiffeid.RequireTrustDomainFromString("sia.demo"))
	if err != nil {
		t.Fatal(err)
	}
	if !b.HasX509Authority(f.ca.root) || !b.HasX509Authority(f.ca.inter) {
		t.Error("the bundle of sia.demo lacks the CA bundle's certificates")
	}
	if _, _, err := x509svid.Verify(x.SVIDs[0].Certificates, x.Bundles); err != nil {
		t.Errorf("the identity does not verify against the bundles served: %v", err)
	}

	bundles, err := client(t, f.socket()).FetchX509Bundles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var tds []string
	for _, b := range bundles.Bundles() {
		tds = append(tds, b.TrustDomain().Name())
	}
	if !slices.Equal(tds, []string{"other.domain", "sia.demo"}) {
		t.Errorf("bundles for %v, want other.domain and sia.demo", tds)
	}
	r.h.Host.WaitRecord(t, wait, func(rec sdk.StatusRecord) bool {
		return rec.Credential == "x509svid/identity" && rec.Reason == sdk.ReasonNew && rec.Outcome == sdk.OutcomeSuccess && rec.Expiry.Equal(f.id.NotAfter)
	})
	r.h.Host.WaitRecord(t, wait, func(rec sdk.StatusRecord) bool {
		return rec.Credential == "bundle" && rec.Outcome == sdk.OutcomeSuccess
	})
}

// updates collects what a go-spiffe watcher sees.
type updates struct {
	ch   chan *workloadapi.X509Context
	errs chan error
}

func (u updates) OnX509ContextUpdate(x *workloadapi.X509Context) { u.ch <- x }
func (u updates) OnX509ContextWatchError(err error) {
	select {
	case u.errs <- err:
	default:
	}
}

// watch starts a go-spiffe watcher; it ends with the test.
func watch(t *testing.T, socket string) updates {
	t.Helper()
	u := updates{ch: make(chan *workloadapi.X509Context, 16), errs: make(chan error, 16)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	c := client(t, socket)
	go func() {
		defer close(done)
		_ = c.WatchX509Context(ctx, u) // ends with ctx's error, at cleanup
	}()
	t.Cleanup(func() { cancel(); <-done })
	return u
}

func (u updates) next(t *testing.T) *workloadapi.X509Context {
	t.Helper()
	select {
	case x := <-u.ch:
		return x
	case <-ctxTimeout(t):
		t.Fatal("no update")
	}
	return nil
}

func ctxTimeout(t *testing.T) <-chan struct{} {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return ctx.Done()
}

func serials(x *workloadapi.X509Context) []string {
	var s []string
	for _, svid := range x.SVIDs {
		s = append(s, svid.Certificates[0].SerialNumber.String())
	}
	return s
}

// Each rotation is a new response on the stream. A new identity key makes
// the role certificate, issued for the old key, wait for its own
// replacement: meanwhile the last good pair is served, never the new key
// beside the old certificate.
func TestWorkloadAPIStreamsRotations(t *testing.T) {
	f := newFixture(t)
	f.writeIdentity(nil)
	oldReader := f.writeRole()
	r := start(t, f.config("role_certs:\n  targets: [sia.demo:role.reader]\n"))
	u := watch(t, f.socket())
	first := u.next(t)
	if got := serials(first); !slices.Equal(got, []string{f.id.SerialNumber.String(), oldReader.SerialNumber.String()}) {
		t.Fatalf("first update %v", got)
	}

	newID := f.writeIdentity(newKey(t))
	second := u.next(t)
	if got := serials(second); !slices.Equal(got, []string{newID.SerialNumber.String(), oldReader.SerialNumber.String()}) {
		t.Fatalf("after the new identity key: %v, want the new identity and the last good role", got)
	}
	r.log.wait("Cannot serve the sia.demo:role.reader credential", "is not for the identity key")

	newReader := f.writeRole()
	third := u.next(t)
	if got := serials(third); !slices.Equal(got, []string{newID.SerialNumber.String(), newReader.SerialNumber.String()}) {
		t.Fatalf("after the new role certificate: %v", got)
	}
	for _, x := range []*workloadapi.X509Context{first, second, third} {
		for _, s := range x.SVIDs {
			if !s.PrivateKey.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(s.Certificates[0].PublicKey) {
				t.Errorf("SVID %s serial %s with a key not its own", s.ID, s.Certificates[0].SerialNumber)
			}
		}
	}
	// The server counts a push once Send returned, which may be after the
	// client has the message.
	waitFor(t, "3 pushes counted", func() bool { return testutil.ToFloat64(pushes(r, apiX509SVID)) == 3 })
	r.h.Host.WaitRecord(t, wait, func(rec sdk.StatusRecord) bool {
		return rec.Credential == "x509svid/sia.demo:role.reader" && rec.Reason == sdk.ReasonParamsChange && rec.Outcome == sdk.OutcomeSuccess
	})
}

func pushes(r *run, api string) prometheus.Collector { return r.p.m.pushes.WithLabelValues(api) }

// A stream opened before the cert provider wrote anything gets the SVIDs
// once they are there.
func TestWorkloadAPIWaitsForTheFiles(t *testing.T) {
	f := newFixture(t)
	r := start(t, f.config(""))
	r.h.Host.WaitRecord(t, wait, func(rec sdk.StatusRecord) bool {
		return rec.Credential == "x509svid/identity" && rec.Outcome == "FILE_ERROR"
	})
	u := watch(t, f.socket())
	r.log.wait("Opened a stream", "api=x509svid")
	f.writeIdentity(nil)
	if x := u.next(t); len(x.SVIDs) != 1 || x.SVIDs[0].ID.String() != agentID {
		t.Fatalf("got %v", x.SVIDs)
	}
}

// A certificate with more than one URI SAN is no X.509-SVID: the Workload
// API says so (and how to fix it) instead of serving what go-spiffe
// refuses, and the status record says so too.
func TestWorkloadAPIRefusesCertificatesThatAreNotSVIDs(t *testing.T) {
	f := newFixture(t)
	f.writeIdentity(nil, agentID, "athenz://instanceid/sys.auth.dev/pod-1")
	r := start(t, f.config(""))
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	_, err := client(t, f.socket()).FetchX509Context(ctx)
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "identity.x509_svid") {
		t.Fatalf("got %v, want Unavailable naming identity.x509_svid", err)
	}
	rec := r.h.Host.WaitRecord(t, wait, func(rec sdk.StatusRecord) bool { return rec.Credential == "x509svid/identity" })
	if rec.Outcome != "ERROR" || !strings.Contains(rec.Err.Error(), "not an X.509-SVID") {
		t.Errorf("record %+v", rec)
	}
}

// Every refusal is a status that says what was wrong, counted, and logged
// with who called; JWT-SVIDs are not served, and say why.
func TestWorkloadAPIRefusals(t *testing.T) {
	f := newFixture(t)
	f.writeIdentity(nil)
	other := os.Getuid() + 1
	r := start(t, f.config(fmt.Sprintf("allow:\n  uids: [%d]\n", other)))
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()

	_, err := client(t, f.socket()).FetchX509Context(ctx)
	if status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), fmt.Sprintf("uid %d", os.Getuid())) {
		t.Errorf("a caller not allowed: %v, want PermissionDenied naming its uid", err)
	}
	r.log.wait("Refused a call: the caller is not in the allow list", fmt.Sprintf("uid=%d", os.Getuid()), "method=/SpiffeWorkloadAPI/FetchX509SVID")

	conn, err := grpc.NewClient("unix://"+f.socket(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	stream, err := workload.NewSpiffeWorkloadAPIClient(conn).FetchX509SVID(ctx, &workload.X509SVIDRequest{})
	if err == nil {
		_, err = stream.Recv()
	}
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "security header missing from request") {
		t.Errorf("no security header: %v, want InvalidArgument", err)
	}
	r.log.wait("Refused a call: the security header is missing")
	for reason, want := range map[string]float64{refusedCaller: 1, refusedHeader: 1} {
		if n := testutil.ToFloat64(r.p.m.refusals.WithLabelValues(reason)); n != want {
			t.Errorf("refusals{reason=%s} = %v, want %v", reason, n, want)
		}
	}
	if strings.Contains(r.log.String(), "PRIVATE KEY") {
		t.Error("a key in the log")
	}
}

// The primary GID admits a caller too; JWT-SVIDs are refused with the
// reason.
func TestWorkloadAPIAllowsByGroupAndServesNoJWT(t *testing.T) {
	f := newFixture(t)
	f.writeIdentity(nil)
	start(t, f.config(fmt.Sprintf("allow:\n  uids: [%d]\n  gids: [%d]\n", os.Getuid()+1, os.Getgid())))
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c := client(t, f.socket())
	if _, err := c.FetchX509SVID(ctx); err != nil {
		t.Fatalf("a caller of an allowed group: %v", err)
	}
	_, err := c.FetchJWTSVID(ctx, jwtsvid.Params{Audience: "api"})
	if status.Code(err) != codes.Unimplemented || !strings.Contains(err.Error(), "JWT-SVIDs are not served") {
		t.Errorf("FetchJWTSVID: %v, want Unimplemented with the reason", err)
	}
}

// Shutdown ends every stream with Unavailable, which clients retry on,
// removes the socket and leaves no goroutine behind (the harness checks).
func TestShutdownEndsStreams(t *testing.T) {
	f := newFixture(t)
	f.writeIdentity(nil)
	r := start(t, f.config(""))
	u := watch(t, f.socket())
	u.next(t)
	if err := r.h.Shutdown(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-u.errs:
		if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "shutting down") {
			t.Errorf("the stream ended with %v, want Unavailable", err)
		}
	case <-ctxTimeout(t):
		t.Fatal("the stream did not end")
	}
	if _, err := os.Lstat(f.socket()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the socket is still there: %v", err)
	}
	r.log.wait("Stopped " + serverName)
}

// A socket a killed agent left is replaced; one in use, or a file that is
// not a socket, fails Start and is left alone.
func TestSocketAtStart(t *testing.T) {
	f := newFixture(t)
	f.writeIdentity(nil)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: f.socket(), Net: "unix"})
	must(t, err)
	ln.SetUnlinkOnClose(false)
	ln.Close()
	r := start(t, f.config(""))

	second := setup(t, f.config(""))
	must(t, second.h.Init())
	if err := second.h.Start(); err == nil || !strings.Contains(err.Error(), "is in use") {
		t.Errorf("a second server on the socket: %v", err)
	}
	must(t, r.h.Shutdown())

	must(t, os.WriteFile(f.socket(), []byte("mine"), 0o600))
	third := setup(t, f.config(""))
	must(t, third.h.Init())
	if err := third.h.Start(); err == nil || !strings.Contains(err.Error(), "exists and is not a socket") {
		t.Errorf("a file at the socket's path: %v", err)
	}
	if data, _ := os.ReadFile(f.socket()); string(data) != "mine" {
		t.Error("the file at the socket's path was changed")
	}
}

// Past max_connections a connection is closed at once, counted and
// logged.
func TestConnectionLimit(t *testing.T) {
	f := newFixture(t)
	f.writeIdentity(nil)
	r := start(t, f.config("max_connections: 1\n"))
	first, err := net.Dial("unix", f.socket())
	must(t, err)
	defer first.Close()
	must(t, probeConn(first))
	second, err := net.Dial("unix", f.socket())
	must(t, err)
	defer second.Close()
	if err := probeConn(second); err == nil {
		t.Error("a connection past the limit was served")
	}
	r.log.wait("Refused a connection: the socket has max_connections open")
	if n := testutil.ToFloat64(r.p.m.refusals.WithLabelValues(refusedConnLimit)); n != 1 {
		t.Errorf("refusals{reason=connection_limit} = %v", n)
	}
	if n := testutil.ToFloat64(r.p.m.connections); n != 1 {
		t.Errorf("connections = %v, want 1", n)
	}
}

// probeConn speaks HTTP/2 on conn until the server's SETTINGS frame.
func probeConn(conn net.Conn) error {
	if err := conn.SetDeadline(time.Now().Add(wait)); err != nil {
		return err
	}
	if _, err := conn.Write(http2Preface); err != nil {
		return err
	}
	var header [9]byte
	_, err := conn.Read(header[:])
	return err
}

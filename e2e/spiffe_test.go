package e2e

import (
	"bytes"
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	secretv3 "github.com/envoyproxy/go-control-plane/envoy/service/secret/v3"
	"github.com/spiffe/go-spiffe/v2/proto/spiffe/workload"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"github.com/spiffe/go-spiffe/v2/svid/jwtsvid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"github.com/spiffe/go-spiffe/v2/workloadapi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/sia-agent/sia-agent/internal/e2e"
	"github.com/sia-agent/sia-agent/ztsdev"
)

const (
	agentSPIFFEID  = "spiffe://sia.demo/sa/agent"
	clientSPIFFEID = "spiffe://sia.demo/sa/client"
	readerSPIFFEID = "spiffe://sia.demo/ra/reader"
)

// spiffeAgent is an agent with the cert provider, asking zts-dev for
// X.509-SVIDs of sia.demo.<service> and the role sia.demo:role.reader, and
// the spiffe provider serving them on a socket.
type spiffeAgent struct {
	*e2e.Process
	dir, socket string
}

// spiffeOptions shape a spiffeAgent's pipeline.
type spiffeOptions struct {
	service string // default agent
	role    string // default sia.demo:role.reader
	// rotations makes the certificates short-lived and refreshes them
	// every second.
	rotations bool
	spiffe    string // more lines of the spiffe provider's config
	metrics   bool   // add the metrics provider
}

func startSpiffeAgent(t *testing.T, zts *e2e.ZTS, o spiffeOptions) *spiffeAgent {
	t.Helper()
	if o.service == "" {
		o.service = "agent"
	}
	if o.role == "" {
		o.role = "sia.demo:role.reader"
	}
	dir := t.TempDir()
	// A short path: sun_path holds 107 bytes, and t.TempDir's names are long.
	a := &spiffeAgent{dir: dir, socket: filepath.Join(shortDir(t), "agent.sock")}
	attestation := e2e.WriteFile(t, t.TempDir(), "token", "dev-attestation-secret\n")
	refresh, expiry := "interval: 1h\n", ""
	if o.rotations {
		// One-minute certificates (zts-dev issues what is asked for),
		// refreshed every second: each refresh is a rotation.
		refresh, expiry = "interval: 1s\nmin_interval: 500ms\njitter: 0\n", "expiry: 1m\n"
	}
	var b strings.Builder
	fmt.Fprintf(&b, `providers:
  - name: certificate
    plugin: cert
    config:
      endpoint: %s
      ca_file: %s
      identity:
        provider: sys.auth.dev
        domain: sia.demo
        service: %s
        instance_id: pod-%s
        attestation_file: %s
        dns_suffix: zts.athenz.cloud
        x509_svid: true
%s      key:
        type: ecdsa
      files:
        dir: %s
      role_certs:
        targets: [%s]
%s      refresh:
%s  - name: spiffe
    plugin: spiffe
    config:
      socket: %s
      files:
        dir: %s
      role_certs:
        targets: [%s]
      poll_interval: 50ms
%s`, zts.URL, zts.CAFile, o.service, o.service, attestation, indentLines(expiry, "        "), dir,
		o.role, indentLines(expiry, "        "), indentLines(refresh, "        "), a.socket, dir, o.role, indentLines(o.spiffe, "      "))
	if o.metrics {
		b.WriteString("  - name: metrics\n    plugin: metrics\n    config: {address: \"127.0.0.1:0\"}\n")
	}
	a.Process = runAgent(t, pipeline(t, b.String()), nil)
	a.WaitLog(t, "sia-agent.spiffe: Starting SPIFFE Workload API and SDS server[", waitLine)
	a.WaitLog(t, "providers started", waitLine)
	return a
}

// stopSpiffeAgent stops the agent with SIGINT: it exits 0, the spiffe
// provider drained its server, and the socket is gone.
func stopSpiffeAgent(t *testing.T, a *spiffeAgent) {
	t.Helper()
	if code := stop(t, a.Process); code != 0 {
		t.Errorf("exit code %d\n%s", code, a.Log)
	}
	a.WaitLog(t, "sia-agent.spiffe: Stopped SPIFFE Workload API and SDS server", 0)
	a.WaitLog(t, "sia-agent: Stopped spiffe", 0)
	if _, err := os.Lstat(a.socket); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the socket is still there after the shutdown: %v", err)
	}
	if strings.Contains(a.Log.String(), "PRIVATE KEY") {
		t.Error("a private key in the agent's log")
	}
}

func spiffeCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitLine)
	t.Cleanup(cancel)
	return ctx
}

func workloadClient(t *testing.T, socket string) *workloadapi.Client {
	t.Helper()
	c, err := workloadapi.New(spiffeCtx(t), workloadapi.WithAddr("unix://"+socket))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// checkSVIDOnDisk checks that svid's key is the one in keyFile, which the
// cert provider keeps across refreshes.
func checkSVIDOnDisk(t *testing.T, svid *x509svid.SVID, keyFile string) {
	t.Helper()
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: svid.Certificates[0].Raw})
	disk, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatalf("the SVID %s is not for the key in %s: %v", svid.ID, keyFile, err)
	}
	if !disk.PrivateKey.(crypto.Signer).Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(svid.PrivateKey.Public()) {
		t.Errorf("the SVID %s's key is not the one in %s", svid.ID, keyFile)
	}
}

// indentLines indents each line of text; "" stays "".
func indentLines(text, prefix string) string {
	if text == "" {
		return ""
	}
	return indent(text, prefix)
}

// go-spiffe's Workload API client gets the identity and the role as
// X.509-SVIDs issued by zts-dev, for the key the cert provider keeps, with
// the zts-dev CA as the bundle; its watcher sees each rotation, and the
// agent's /metrics counts the pushes.
func TestSpiffeWorkloadAPIServesAndRotates(t *testing.T) {
	t.Parallel()
	zts := e2e.StartZTS(t, bins, string(ztsdev.DemoConfig()))
	a := startSpiffeAgent(t, zts, spiffeOptions{rotations: true, metrics: true})
	c := workloadClient(t, a.socket)

	x, err := c.FetchX509Context(spiffeCtx(t))
	if err != nil {
		t.Fatalf("%v\n%s", err, a.Log)
	}
	if len(x.SVIDs) != 2 || x.SVIDs[0].ID.String() != agentSPIFFEID || x.SVIDs[1].ID.String() != readerSPIFFEID {
		t.Fatalf("SVIDs %v, want the identity then the role", x.SVIDs)
	}
	checkSVIDOnDisk(t, x.SVIDs[0], filepath.Join(a.dir, "service.key.pem"))
	checkSVIDOnDisk(t, x.SVIDs[1], filepath.Join(a.dir, "service.key.pem"))
	ztsCA := readCA(t, zts.CAFile)
	bundles, err := c.FetchX509Bundles(spiffeCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	b, err := bundles.GetX509BundleForTrustDomain(spiffeid.RequireTrustDomainFromString("sia.demo"))
	if err != nil || !b.HasX509Authority(ztsCA) {
		t.Fatalf("the bundle of sia.demo lacks the zts-dev CA: %v", err)
	}
	for _, s := range x.SVIDs {
		if _, _, err := x509svid.Verify(s.Certificates, bundles); err != nil {
			t.Errorf("%s does not verify against the bundles served: %v", s.ID, err)
		}
	}

	if _, err := c.FetchJWTSVID(spiffeCtx(t), jwtsvid.Params{Audience: "api"}); status.Code(err) != codes.Unimplemented {
		t.Errorf("FetchJWTSVID: %v, want Unimplemented", err)
	}

	// Each refresh of the cert provider is a new response on the stream.
	seen := map[string]bool{x.SVIDs[0].Certificates[0].SerialNumber.String(): true}
	u := watchContexts(t, c)
	for len(seen) < 3 {
		x := u.next(t, a.Process)
		if len(x.SVIDs) != 2 {
			t.Fatalf("an update with %d SVIDs", len(x.SVIDs))
		}
		seen[x.SVIDs[0].Certificates[0].SerialNumber.String()] = true
	}
	metrics := serverURL(t, a.Process, "metrics", "metrics exporter server")
	mfs := scrape(t, metrics)
	if _, n := series(mfs["spiffe_pushes_total"], map[string]string{"provider": "spiffe", "api": "x509svid"}); n < 3 {
		t.Errorf("spiffe_pushes_total{api=x509svid} = %v, want at least 3", n)
	}
	if _, n := series(mfs["spiffe_streams"], map[string]string{"provider": "spiffe", "api": "x509svid"}); n != 1 {
		t.Errorf("spiffe_streams{api=x509svid} = %v, want the watcher's 1", n)
	}
	stopSpiffeAgent(t, a)
}

// contexts collects what a go-spiffe watcher sees.
type contexts struct {
	ch chan *workloadapi.X509Context
}

func (u contexts) OnX509ContextUpdate(x *workloadapi.X509Context) {
	select {
	case u.ch <- x:
	default: // the test has what it needs
	}
}

func (contexts) OnX509ContextWatchError(error) {}

func watchContexts(t *testing.T, c *workloadapi.Client) contexts {
	t.Helper()
	u := contexts{ch: make(chan *workloadapi.X509Context, 8)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = c.WatchX509Context(ctx, u) // ends with ctx's error, at cleanup
	}()
	t.Cleanup(func() { cancel(); <-done })
	return u
}

func (u contexts) next(t *testing.T, p *e2e.Process) *workloadapi.X509Context {
	t.Helper()
	select {
	case x := <-u.ch:
		return x
	case <-time.After(waitLine):
		t.Fatalf("no update within %v\n%s", waitLine, p.Log)
	}
	return nil
}

// Two workloads, each with its own agent, establish mTLS with go-spiffe's
// spiffetls on nothing but what their agents served, and each checks the
// other's SPIFFE ID; a client that expects another ID is refused.
func TestSpiffeMTLSBetweenTwoAgents(t *testing.T) {
	t.Parallel()
	zts := e2e.StartZTS(t, bins, string(ztsdev.DemoConfig()))
	server := startSpiffeAgent(t, zts, spiffeOptions{})
	client := startSpiffeAgent(t, zts, spiffeOptions{service: "client", role: "sia.demo:role.writer"})
	serverSource := x509Source(t, server.socket)
	clientSource := x509Source(t, client.socket)

	ln, err := spiffetls.ListenWithMode(spiffeCtx(t), "tcp", "127.0.0.1:0",
		spiffetls.MTLSServerWithSource(tlsconfig.AuthorizeID(spiffeid.RequireFromString(clientSPIFFEID)), serverSource))
	if err != nil {
		t.Fatal(err)
	}
	ended, waitServed := serveEcho(ln)
	defer waitServed()
	defer ln.Close()

	conn, err := spiffetls.DialWithMode(spiffeCtx(t), "tcp", ln.Addr().String(),
		spiffetls.MTLSClientWithSource(tlsconfig.AuthorizeID(spiffeid.RequireFromString(agentSPIFFEID)), clientSource))
	if err != nil {
		t.Fatalf("mTLS dial: %v", err)
	}
	defer conn.Close()
	if id, err := spiffetls.PeerIDFromConn(conn); err != nil || id.String() != agentSPIFFEID {
		t.Errorf("the server is %v (%v), want %s", id, err, agentSPIFFEID)
	}
	if _, err := conn.Write([]byte("ping\n")); err != nil {
		t.Fatal(err)
	}
	reply := make([]byte, 5)
	if _, err := io.ReadFull(conn, reply); err != nil || string(reply) != "ping\n" {
		t.Fatalf("reply %q, %v", reply, err)
	}
	if err := <-ended; err != nil {
		t.Errorf("server: %v", err)
	}

	wrong, err := spiffetls.DialWithMode(spiffeCtx(t), "tcp", ln.Addr().String(),
		spiffetls.MTLSClientWithSource(tlsconfig.AuthorizeID(spiffeid.RequireFromString(readerSPIFFEID)), clientSource))
	if err == nil {
		wrong.Close()
		t.Error("a client that expects another SPIFFE ID connected")
	} else if !strings.Contains(err.Error(), "unexpected ID") {
		t.Errorf("a client that expects another SPIFFE ID: %v", err)
	}
	if err := <-ended; err == nil {
		t.Error("the server served the refused client")
	}
	stopSpiffeAgent(t, client)
	stopSpiffeAgent(t, server)
}

func x509Source(t *testing.T, socket string) *workloadapi.X509Source {
	t.Helper()
	s, err := workloadapi.NewX509Source(spiffeCtx(t), workloadapi.WithClientOptions(workloadapi.WithAddr("unix://"+socket)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// serveEcho echoes a line on each connection ln accepts until it is
// closed, and reports how each connection ended; wait waits for all of
// them.
func serveEcho(ln net.Listener) (ended <-chan error, wait func()) {
	errs := make(chan error, 8)
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer conn.Close()
				line := make([]byte, 5)
				_, err := io.ReadFull(conn, line) // the handshake first
				if err == nil {
					_, err = conn.Write(line)
				}
				errs <- err
			})
		}
	})
	return errs, wg.Wait
}

// readCA reads the first certificate of a PEM file.
func readCA(t *testing.T, file string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatalf("no PEM in %s", file)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

const secretType = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"

// Envoy's SDS, as a client on go-control-plane's generated types speaks
// it, gets the identity under the name configured, the role under its
// SPIFFE ID and the CA bundle; once it acknowledged them, the next
// response is the next rotation.
func TestSpiffeSDSServesAndRotates(t *testing.T) {
	t.Parallel()
	zts := e2e.StartZTS(t, bins, string(ztsdev.DemoConfig()))
	a := startSpiffeAgent(t, zts, spiffeOptions{rotations: true, spiffe: "sds:\n  default_svid_name: athenz-identity\n"})
	conn, err := grpc.NewClient("unix://"+a.socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	stream, err := secretv3.NewSecretDiscoveryServiceClient(conn).StreamSecrets(spiffeCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"athenz-identity", readerSPIFFEID, "ROOTCA"}
	req := &discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: "envoy-e2e"}, TypeUrl: secretType, ResourceNames: names}
	if err := stream.Send(req); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatalf("%v\n%s", err, a.Log)
	}
	secrets := decodeSecrets(t, resp)
	identity := tlsSecret(t, secrets["athenz-identity"], agentSPIFFEID, filepath.Join(a.dir, "service.key.pem"))
	tlsSecret(t, secrets[readerSPIFFEID], readerSPIFFEID, filepath.Join(a.dir, "service.key.pem"))
	ca := secrets["ROOTCA"].GetValidationContext().GetTrustedCa().GetInlineBytes()
	if !bytes.Contains(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: readCA(t, zts.CAFile).Raw})) {
		t.Errorf("ROOTCA does not hold the zts-dev CA: %q", ca)
	}

	req.VersionInfo, req.ResponseNonce = resp.VersionInfo, resp.Nonce // the ACK
	if err := stream.Send(req); err != nil {
		t.Fatal(err)
	}
	next, err := stream.Recv()
	if err != nil {
		t.Fatalf("%v\n%s", err, a.Log)
	}
	rotated := tlsSecret(t, decodeSecrets(t, next)["athenz-identity"], agentSPIFFEID, filepath.Join(a.dir, "service.key.pem"))
	if next.VersionInfo == resp.VersionInfo || rotated.SerialNumber.Cmp(identity.SerialNumber) == 0 {
		t.Errorf("after the ACK: version %s, serial %s; want a rotation from %s, %s",
			next.VersionInfo, rotated.SerialNumber, resp.VersionInfo, identity.SerialNumber)
	}
	stopSpiffeAgent(t, a)
}

func decodeSecrets(t *testing.T, resp *discoveryv3.DiscoveryResponse) map[string]*tlsv3.Secret {
	t.Helper()
	out := map[string]*tlsv3.Secret{}
	for _, res := range resp.GetResources() {
		var s tlsv3.Secret
		if err := res.UnmarshalTo(&s); err != nil {
			t.Fatal(err)
		}
		out[s.GetName()] = &s
	}
	return out
}

// tlsSecret checks that s is a key and chain Go's TLS loads, for the
// SPIFFE ID id and the key in keyFile, and returns the leaf.
func tlsSecret(t *testing.T, s *tlsv3.Secret, id, keyFile string) *x509.Certificate {
	t.Helper()
	tc := s.GetTlsCertificate()
	pair, err := tls.X509KeyPair(tc.GetCertificateChain().GetInlineBytes(), tc.GetPrivateKey().GetInlineBytes())
	if err != nil {
		t.Fatalf("secret %q: %v", s.GetName(), err)
	}
	if len(pair.Leaf.URIs) != 1 || pair.Leaf.URIs[0].String() != id {
		t.Errorf("secret %q is for %v, want %s", s.GetName(), pair.Leaf.URIs, id)
	}
	checkSVIDOnDisk(t, &x509svid.SVID{Certificates: []*x509.Certificate{pair.Leaf}, PrivateKey: pair.PrivateKey.(crypto.Signer)}, keyFile)
	return pair.Leaf
}

// A caller the allow list does not name is refused on both APIs, and a
// Workload API call without the security header too, each with a status
// that says why and a log line that names the caller; JWT-SVIDs are not
// served.
func TestSpiffeRefusals(t *testing.T) {
	t.Parallel()
	zts := e2e.StartZTS(t, bins, string(ztsdev.DemoConfig()))
	a := startSpiffeAgent(t, zts, spiffeOptions{spiffe: fmt.Sprintf("allow:\n  uids: [%d]\n", os.Getuid()+1)})
	_, err := workloadClient(t, a.socket).FetchX509Context(spiffeCtx(t))
	if status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "allow list") {
		t.Errorf("FetchX509Context: %v, want PermissionDenied", err)
	}
	waitLineWith(t, a.Process, "sia-agent.spiffe: Refused a call: the caller is not in the allow list:",
		"method=/SpiffeWorkloadAPI/FetchX509SVID", fmt.Sprintf("uid=%d", os.Getuid()), fmt.Sprintf("pid=%d", os.Getpid()))

	conn, err := grpc.NewClient("unix://"+a.socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, err = secretv3.NewSecretDiscoveryServiceClient(conn).FetchSecrets(spiffeCtx(t), &discoveryv3.DiscoveryRequest{TypeUrl: secretType})
	if status.Code(err) != codes.PermissionDenied {
		t.Errorf("FetchSecrets: %v, want PermissionDenied", err)
	}
	bundles, err := workload.NewSpiffeWorkloadAPIClient(conn).FetchX509Bundles(spiffeCtx(t), &workload.X509BundlesRequest{})
	if err == nil {
		_, err = bundles.Recv()
	}
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "security header missing") {
		t.Errorf("FetchX509Bundles without the header: %v, want InvalidArgument", err)
	}
	waitLineWith(t, a.Process, "sia-agent.spiffe: Refused a call: the security header is missing:", "method=/SpiffeWorkloadAPI/FetchX509Bundles")
	stopSpiffeAgent(t, a)
}

// waitLineWith waits for a line that holds first, and checks that it
// holds the rest too (the agent's log orders a line's keys).
func waitLineWith(t *testing.T, p *e2e.Process, first string, rest ...string) {
	t.Helper()
	i := p.WaitLog(t, first, waitLine)
	line := p.Log.Lines()[i]
	fields := strings.Fields(line)
	for _, r := range rest {
		if !slices.Contains(fields, r) {
			t.Errorf("%q lacks %q", line, r)
		}
	}
}

// A Start that fails after the socket was bound (the fault point before
// the server goroutine) leaves no socket behind, and the agent exits 1;
// a signal there lets the Start complete, server confirmed ready, and the
// agent shuts it down and exits 0.
func TestSpiffeStartFailureAndSignal(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		action string
		exit   int
	}{{"fail:no server", 1}, {"signal", 0}} {
		dir, sockDir := t.TempDir(), shortDir(t)
		socket := filepath.Join(sockDir, "agent.sock")
		file := pipeline(t, fmt.Sprintf(`providers:
  - name: spiffe
    plugin: spiffe
    config:
      socket: %s
      files: {dir: %s}
`, socket, dir))
		p := runAgent(t, file, faults("spiffe:before spiffe server goroutine="+tc.action))
		code := p.Exit(t, waitExit)
		if code != tc.exit {
			t.Errorf("%s: exit code %d, want %d\n%s", tc.action, code, tc.exit, p.Log)
		}
		if tc.exit == 1 {
			p.WaitLog(t, "Error starting spiffe: no server", 0)
		} else {
			p.WaitLog(t, "sia-agent.spiffe: Starting SPIFFE Workload API and SDS server[", 0)
			p.WaitLog(t, "sia-agent.spiffe: Stopped SPIFFE Workload API and SDS server", 0)
		}
		p.WaitLog(t, "sia-agent: Stopped spiffe", 0)
		if _, err := os.Lstat(socket); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: the socket is left behind: %v", tc.action, err)
		}
	}
}

// shortDir is a directory whose name is short enough for a socket path.
func shortDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "spiffe-e2e")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}
